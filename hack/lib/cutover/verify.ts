import { setTimeout as sleep } from 'node:timers/promises';

import { type Check, describeCheck } from './checks';
import type { NginxControl } from './nginx';
import { httpResponse, joinHostPort, splitHostPort, websocketOpen } from './probes';

export interface CheckOptions {
  readonly nginx: NginxControl;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/**
 * Runs every check through nginx. A WebSocket check also proves where nginx sent it: while the upgraded
 * connection is open, nginx must hold a new established connection to the backend its files name (`current`).
 */
export async function runChecks(checks: readonly Check[], o: CheckOptions): Promise<{ passed: string[]; failed: string[] }> {
  // Plain requests run at once (inside the switch's window every second counts); WebSocket checks one after another,
  // each judging nginx's new connection against the table it read just before.
  const results = new Map<Check, { passed?: string; failed?: string }>();
  await Promise.all(checks.filter((c) => !c.websocket).map(async (c) => results.set(c, await runOne(c, o))));
  for (const c of checks.filter((x) => x.websocket)) results.set(c, await runOne(c, o));
  const ordered = checks.map((c) => results.get(c)!);
  return { passed: ordered.flatMap((r) => (r.passed ? [r.passed] : [])), failed: ordered.flatMap((r) => (r.failed ? [r.failed] : [])) };
}

/** One check: `ok` and the line that says what it saw. */
async function runOne(c: Check, o: CheckOptions): Promise<{ passed?: string; failed?: string }> {
  const what = describeCheck(c);
  const target = { ...c, timeoutMs: o.timeoutMs, signal: o.signal };
  const pass = (line: string) => ({ passed: `${what}: ${line}` });
  const fail = (line: string) => ({ failed: `${what}: ${line}` });
  try {
    if (!c.websocket) {
      const { status, headers } = await httpResponse(target);
      const ok = c.status === undefined ? status < 500 : status === c.status;
      const missing = (c.headers ?? []).filter((h) => headers[h.toLowerCase()] === undefined);
      if (ok && !missing.length)
        return pass(
          `got ${status}${c.headers?.length ? ` with ${c.headers.map((h) => `${h}: ${headers[h.toLowerCase()]}`).join(', ')}` : ''}`,
        );
      return fail(`got ${status}${missing.length ? ` without ${missing.join(', ')}` : ''}`);
    }
    const established = async () =>
      new Set((await o.nginx.connections()).filter((x) => x.state === 'ESTABLISHED').map((x) => `${x.local}>${x.remote}`));
    const before = await established();
    const { status, ws } = await websocketOpen(target);
    if (!ws) return status === c.status ? pass(`got ${status}`) : fail(`got ${status}`);
    try {
      if (c.status !== undefined && c.status !== 101) return fail('got 101');
      const { host, port } = splitHostPort(c.current);
      const wanted = (await o.nginx.resolve(host)).map((a) => joinHostPort(a, port));
      for (let n = 0; n < 20; n++) {
        if ([...(await established())].some((k) => !before.has(k) && wanted.includes(k.split('>')[1])))
          return pass(`upgraded; nginx holds a new connection to ${c.current}`);
        await sleep(25);
      }
      return fail(`upgraded, but nginx opened no connection to ${c.current}: the request went to another backend`);
    } finally {
      ws.terminate();
    }
  } catch (e) {
    if (o.signal?.aborted) throw e;
    return fail((e as Error).message);
  }
}
