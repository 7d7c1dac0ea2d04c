import { readFileSync } from 'node:fs';
import { UserError } from '../cli';
import { atomicWrite, BYTES, createSet, original, sha256, updateSet, type BackupSet } from './backups';
import type { NginxControl } from './nginx';
import { judged, type Check, type ResolvedRoute } from './plan';
import { runChecks } from './verify';
import { Guard, Interrupted } from '../process/interrupt';

export { Guard, Interrupted };

// One change of nginx's files that either takes effect, verified, or is undone: back up, rewrite atomically,
// nginx -t, reload, confirm new workers, verify through nginx. Any failure or signal after the first byte
// changed restores the originals byte-identical, reloads if nginx had been told, and confirms again.

class StepFailed extends Error {
  constructor(
    readonly step: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Change {
  readonly path: string;
  readonly real: string;
  readonly before: string;
  readonly after: string;
}

export interface TransactionOptions {
  readonly kind: 'apply' | 'rollback';
  readonly backupDir: string;
  readonly routes: readonly ResolvedRoute[];
  readonly changes: readonly Change[];
  readonly nginx: NginxControl;
  /** Requests through nginx as the files will be once the change is live, and as they are before it. */
  readonly checksAfter: readonly Check[];
  readonly checksBefore: readonly Check[];
  readonly timeoutMs: number;
  readonly guard: Guard;
  readonly log: (line: string) => void;
}

export async function transact(o: TransactionOptions): Promise<BackupSet> {
  const { guard, nginx, log } = o;
  let set = await createSet(
    o.backupDir,
    o.kind,
    o.routes.map((r) => ({ from: r.from, to: r.to, target: r.target })),
    o.changes.map((c) => ({ path: c.path, real: c.real, text: c.before })),
  );
  log(`backup: ${set.dir}: ${o.changes.length} file(s), sha256 in manifest.json and SHA256SUMS`);
  const written: Change[] = [];
  let reloadSent = false;
  let reloadTaken = false;
  let step = 'rewrite';
  try {
    for (const c of o.changes) {
      guard.check();
      if (readFileSync(c.real, BYTES) !== c.before) throw new StepFailed(step, `${c.path} changed on disk after it was read: someone else is editing nginx's config`);
      atomicWrite(c.real, c.after, set.manifest.files.find((f) => f.real === c.real)!);
      written.push(c);
    }
    log(`rewrite: ${written.length} file(s) written atomically`);
    step = 'nginx -t';
    const t = await guard.race(nginx.test());
    if (!t.ok) throw new StepFailed(step, t.output);
    log('nginx -t: ok');
    step = 'reload';
    const before = await guard.race(nginx.workers());
    reloadSent = true;
    const r = await guard.race(nginx.reload());
    if (!r.ok) throw new StepFailed(step, `nginx -s reload failed: ${r.output}`);
    const taken = await guard.race(nginx.awaitReload(before));
    if (!taken) throw new StepFailed(step, notTaken(o));
    reloadTaken = true;
    log(`reload: new workers ${taken.fresh.join(', ')} replace ${before.join(', ')}${taken.retiring.length ? ` (${taken.retiring.join(', ')} no longer accept; they finish their open connections)` : ''}`);
    step = 'verify';
    const after = judged(o.checksAfter);
    const v = await guard.race(runChecks(after, { nginx, timeoutMs: o.timeoutMs, signal: guard.signal }));
    if (v.failed.length) throw new StepFailed(step, `${v.failed.length} of ${after.length} request(s) through nginx failed:\n    ${v.failed.join('\n    ')}`);
    log(`verify: ${v.passed.length} request(s) through nginx:\n  ${v.passed.join('\n  ')}`);
    set = updateSet(set, { outcome: 'applied', files: set.manifest.files.map((f) => ({ ...f, sha256After: sha256(o.changes.find((c) => c.real === f.real)!.after) })) });
    return set;
  } catch (e) {
    guard.holdForRestore();
    const interrupted = e instanceof Interrupted ? e : undefined;
    const why = interrupted ? `interrupted by ${interrupted.signal} during ${step}` : `failed at ${step}: ${(e as Error).message}`;
    log(`${o.kind} ${interrupted ? why : `failed at ${step}`}: restoring the original files from ${set.dir}`);
    const report = await restore(o, set, written, reloadSent, reloadTaken);
    try {
      updateSet(set, { outcome: `${interrupted ? 'interrupted' : 'failed'} at ${step}; ${report.ok ? 'restored' : 'RESTORE INCOMPLETE'}` });
    } catch (m) {
      report.lines.push(`could not record the outcome in ${set.dir}/manifest.json: ${(m as Error).message}`);
    }
    const code = interrupted ? interrupted.exitCode : 1;
    throw new UserError(`${o.kind} ${why}\n${report.lines.map((l) => `  ${l}`).join('\n')}`, code);
  }
}

const notTaken = (o: TransactionOptions) =>
  `nginx -s reload exited 0 but no new worker took over within ${o.nginx.reloadTimeoutMs} ms: nginx did not take the new configuration (its error log says why, e.g. a listen address already in use)`;

/** Puts back every file written, byte-identical, and brings nginx back onto the previous backends. */
async function restore(o: TransactionOptions, set: BackupSet, written: readonly Change[], reloadSent: boolean, reloadTaken: boolean): Promise<{ ok: boolean; lines: string[] }> {
  const lines: string[] = [];
  let ok = true;
  for (const c of [...written].reverse()) {
    const f = set.manifest.files.find((x) => x.real === c.real)!;
    try {
      atomicWrite(c.real, original(set, f), f);
      if (sha256(readFileSync(c.real, BYTES)) !== f.sha256) throw new Error('its sha256 differs after writing');
    } catch (e) {
      ok = false;
      lines.push(`RESTORE FAILED for ${c.path}: ${(e as Error).message}; its original is ${set.dir}/files${f.real}`);
    }
  }
  if (!written.length) lines.push('nothing had been written: the files are unchanged');
  else if (ok) lines.push(`restored ${written.length} file(s) from ${set.dir}, byte-identical (sha256 checked)`);
  try {
    const t = await o.nginx.test();
    if (!t.ok) {
      lines.push(`nginx -t on the restored files fails, so nginx was not reloaded: ${t.output}`);
      return { ok: false, lines };
    }
    if (reloadSent) {
      const before = await o.nginx.workers();
      // A reload command that died (a signal, a busy docker exec) is worth one more try; a rejected config is not.
      let r = await o.nginx.reload();
      if (!r.ok) r = await o.nginx.reload();
      const taken = r.ok ? await o.nginx.awaitReload(before) : undefined;
      const why = r.ok ? 'no new workers took over' : r.output;
      if (taken) lines.push(`reloaded: new workers ${taken.fresh.join(', ')}`);
      else if (!reloadTaken) lines.push(`the restoring reload did not take effect either (${why}): nginx still runs the configuration it had before this ${o.kind}`);
      else {
        ok = false;
        lines.push(`NGINX STILL RUNS THE CHANGED CONFIGURATION: the restoring reload did not take effect (${why}) although the files are restored; fix that and run nginx -s reload`);
      }
    } else lines.push(`nginx was never reloaded: it kept serving the previous configuration throughout`);
    const v = await runChecks(judged(o.checksBefore), { nginx: o.nginx, timeoutMs: o.timeoutMs });
    if (v.failed.length) ok = false;
    lines.push(v.failed.length ? `confirm FAILED: ${v.failed.join('; ')}` : `confirmed: ${v.passed.length} request(s) through nginx reach the previous backends`);
  } catch (e) {
    ok = false;
    lines.push(`confirming the restore failed: ${(e as Error).message}`);
  }
  return { ok, lines };
}
