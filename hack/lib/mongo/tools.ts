import { constants } from 'node:os';

import type { RunResult } from '../process/run';

// What the host side needs to read from the real MongoDB tools (measured with mongodump/mongorestore 100.18.0 and
// mongosh 2.12.0; docs/mongodb.md): their one-line inventory, the counts mongodump reports, and a failure reason that
// never carries a credential.

/** Per collection: document count and index definitions (lib/scripts/mongodb-inventory.js). */
export interface Inventory {
  readonly collections: Record<string, number>;
  readonly indexes: Record<string, readonly unknown[]>;
}

/**
 * The last line of a shell's output that is a JSON object beginning with `key`: mongosh may add warnings on stdout (an
 * unwritable HOME) and the legacy shell its own lines, so the scripts' answers are picked out of whatever is printed.
 */
export function answerLine(stdout: string, key: string): string | undefined {
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(`{"${key}"`))
    .pop();
}

/** The inventory line among a shell's output (answerLine); undefined when there is none. */
export function parseInventory(stdout: string): Inventory | undefined {
  const line = answerLine(stdout, 'collections');
  if (!line) return undefined;
  const v = JSON.parse(line);
  return v && typeof v.collections === 'object' && typeof v.indexes === 'object' ? v : undefined;
}

/** Counts of what mongodump wrote, from its log: "done dumping `db.c` (N documents)" (4.0 tools: no backticks). */
export function dumpedCounts(log: string, database: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of log.matchAll(/done dumping `?([^`\n]+?)`? \((\d+) documents?\)/g)) {
    if (m[1].startsWith(`${database}.`)) out[m[1].slice(database.length + 1)] = Number(m[2]);
  }
  return out;
}

/**
 * Removes credentials from tool output: mongo-tools print the whole connection string (with the URL-encoded
 * password) on connection errors; `secrets` are removed verbatim and URL-encoded too.
 */
export function redact(text: string, secrets: readonly string[] = []): string {
  let s = text.replace(/(mongodb(\+srv)?:\/\/)[^@/\s]*@/g, '$1<credentials>@');
  for (const secret of secrets.filter(Boolean)) {
    for (const form of new Set([secret, encodeURIComponent(secret)])) s = s.split(form).join('<password>');
  }
  return s;
}

const signalName = (n: number) => Object.entries(constants.signals).find(([, v]) => v === n)?.[0] ?? `signal ${n}`;

/** Killed by a signal: directly, or as a shell reports it (128+n). */
const killedBy = (r: RunResult) => r.signal ?? (r.exitCode !== undefined && r.exitCode > 128 ? signalName(r.exitCode - 128) : undefined);

/**
 * How a tool failed, for "<tool> failed <this>": "(exit 1): <its own last words>" (mongo-tools end with "Failed: …",
 * mongosh with "…Error: …"; else the last line), or "(killed by SIGKILL)" (whatever it printed last is not the cause).
 * Never a credential (redact).
 */
export function failure(r: RunResult, secrets: readonly string[] = []): string {
  const killed = killedBy(r);
  if (killed) return r.signal ? `(killed by ${killed})` : `(exit ${r.exitCode}, killed by ${killed})`;
  if (r.exitCode === undefined) return `(did not start): ${redact(r.stderr.trim(), secrets)}`;
  const lines = r.stderr
    .split('\n')
    .map((l) => l.replace(/^\d{4}-\d\d-\d\dT[\d:.+-]+\t/, '').trim())
    .filter(Boolean);
  const line = lines.filter((l) => /Failed: |Error\b|error:/.test(l)).pop() ?? lines.pop() ?? 'no message on stderr';
  return `(exit ${r.exitCode}): ${redact(line, secrets)}`;
}
