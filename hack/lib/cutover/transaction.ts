import { readFileSync } from 'node:fs';

import { UserError } from '../cli';
import type { IO } from '../cli/io';
import { Guard, Interrupted } from '../process/interrupt';
import { atomicWrite, type BackupSet, BYTES, createSet, type Manifest, original, sha256, updateSet } from './backups';
import { type Check, judged } from './checks';
import type { NginxControl } from './nginx';
import type { ResolvedRoute } from './routes';
import { runChecks } from './verify';

export { Guard, Interrupted };

// Changes of nginx's files that either take effect, verified, or are undone: back up, rewrite atomically, nginx -t,
// reload, confirm new workers, verify through nginx. A transaction may pass through several stages (the switch:
// the maintenance answer, then the cutover) before it commits; any failure or signal after the first byte changed
// restores the originals byte-identical, reloads if nginx had been told, and confirms again.

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
  readonly kind: Manifest['kind'];
  readonly backupDir: string;
  readonly routes: readonly ResolvedRoute[];
  readonly nginx: NginxControl;
  readonly timeoutMs: number;
  readonly guard: Guard;
  /** Each stage's progress, on `out`. */
  readonly io: IO;
}

const notTaken = (nginx: NginxControl) =>
  `nginx -s reload exited 0 but no new worker took over within ${nginx.reloadTimeoutMs} ms: nginx did not take the new configuration (its error log says why, e.g. a listen address already in use)`;

export class NginxTransaction {
  /** What each file holds now as far as this transaction knows: its original, or what a stage wrote. */
  private readonly expected = new Map<string, string>();
  private reloadSent = false;
  private reloadTaken = false;
  private step = 'rewrite';

  private constructor(
    private readonly o: TransactionOptions,
    private set: BackupSet,
  ) {}

  /** Backs up `files` (their current bytes are the originals) into a new set. */
  static async begin(o: TransactionOptions, files: readonly { path: string; real: string; text: string }[]): Promise<NginxTransaction> {
    const set = await createSet(
      o.backupDir,
      o.kind,
      o.routes.map((r) => ({ from: r.from, to: r.to, target: r.target })),
      files,
    );
    o.io.out(`backup: ${set.dir}: ${files.length} file(s), sha256 in manifest.json and SHA256SUMS`);
    const t = new NginxTransaction(o, set);
    for (const f of files) t.expected.set(f.real, f.text);
    return t;
  }

  /**
   * Takes over a set a killed run left pending: its files are the originals, and whatever the files hold now (an
   * earlier stage's text) is what the next stage replaces. nginx may or may not have loaded it: the next stage
   * reloads either way.
   */
  static adopt(o: TransactionOptions, set: BackupSet): NginxTransaction {
    const t = new NginxTransaction(o, set);
    for (const f of set.manifest.files) t.expected.set(f.real, readFileSync(f.real, BYTES));
    t.reloadSent = true;
    o.io.out(`backup: continuing with ${set.dir} (left pending by an interrupted run)`);
    return t;
  }

  get backupSet(): BackupSet {
    return this.set;
  }

  /** Names what runs next, for a failure's report (the switch's own steps between its stages). */
  at(step: string): void {
    this.step = step;
  }

  /** The original bytes of every file in the set, by real path. */
  originals(): Map<string, string> {
    return new Map(this.set.manifest.files.map((f) => [f.real, original(this.set, f)]));
  }

  /**
   * Writes `texts` (by real path; the files of the set only), tests, reloads, confirms and runs `checks`.
   * `onReloading` is told the moment nginx is told to reload (new workers may answer from then on), `onReloaded` the
   * moment the old workers no longer accept (before the checks).
   */
  async stage(
    texts: ReadonlyMap<string, string>,
    checks: readonly Check[],
    o: { onReloading?: (at: number) => void; onReloaded?: (at: number) => void } = {},
  ): Promise<string[]> {
    const { guard, nginx, io } = this.o;
    this.step = 'rewrite';
    let n = 0;
    for (const f of this.set.manifest.files) {
      const text = texts.get(f.real);
      if (text === undefined || text === this.expected.get(f.real)) continue;
      guard.check();
      if (readFileSync(f.real, BYTES) !== this.expected.get(f.real))
        throw new StepFailed(this.step, `${f.path} changed on disk after it was read: someone else is editing nginx's config`);
      atomicWrite(f.real, text, f);
      this.expected.set(f.real, text);
      n += 1;
    }
    io.out(`rewrite: ${n} file(s) written atomically`);
    this.step = 'nginx -t';
    const t = await guard.race(nginx.test());
    if (!t.ok) throw new StepFailed(this.step, t.output);
    io.out('nginx -t: ok');
    this.step = 'reload';
    const before = await guard.race(nginx.workers());
    this.reloadSent = true;
    o.onReloading?.(Date.now());
    const r = await guard.race(nginx.reload());
    if (!r.ok) throw new StepFailed(this.step, `nginx -s reload failed: ${r.output}`);
    const taken = await guard.race(nginx.awaitReload(before));
    if (!taken) throw new StepFailed(this.step, notTaken(nginx));
    this.reloadTaken = true;
    o.onReloaded?.(Date.now());
    io.out(
      `reload: new workers ${taken.fresh.join(', ')} replace ${before.join(', ')}${taken.retiring.length ? ` (${taken.retiring.join(', ')} no longer accept; they finish their open connections)` : ''}`,
    );
    this.step = 'verify';
    const after = judged(checks);
    const v = await guard.race(runChecks(after, { nginx, timeoutMs: this.o.timeoutMs, signal: guard.signal }));
    if (v.failed.length)
      throw new StepFailed(
        this.step,
        `${v.failed.length} of ${after.length} request(s) through nginx failed:\n    ${v.failed.join('\n    ')}`,
      );
    io.out(`verify: ${v.passed.length} request(s) through nginx:\n  ${v.passed.join('\n  ')}`);
    return v.passed;
  }

  /** Marks the set applied, with the sha256 of what the files hold now (rollback refuses to discard later edits). */
  commit(): BackupSet {
    this.set = updateSet(this.set, {
      outcome: 'applied',
      files: this.set.manifest.files.map((f) => ({ ...f, sha256After: sha256(this.expected.get(f.real)!) })),
    });
    return this.set;
  }

  /**
   * After a failure or signal: puts the originals back (byte-identical, checked), reloads if nginx had been told,
   * confirms `checksBefore`, records the outcome, and throws the UserError that reports all of it. `before` runs
   * first (the switch starts the old app again, so that the restored config can be confirmed against it).
   */
  async fail(e: unknown, checksBefore: readonly Check[], before?: () => Promise<string[]>): Promise<never> {
    const { io } = this.o;
    this.o.guard.holdForRestore();
    const interrupted = e instanceof Interrupted ? e : undefined;
    const step = e instanceof StepFailed ? e.step : this.step;
    const why = interrupted ? `interrupted by ${interrupted.signal} during ${step}` : `failed at ${step}: ${(e as Error).message}`;
    io.out(`${this.o.kind} ${interrupted ? why : `failed at ${step}`}: restoring the original files from ${this.set.dir}`);
    const lines = before ? await before().catch((x: Error) => [`${x.message}`]) : [];
    const report = await this.restore(checksBefore);
    report.lines.unshift(...lines);
    try {
      updateSet(this.set, {
        outcome: `${interrupted ? 'interrupted' : 'failed'} at ${step}; ${report.ok ? 'restored' : 'RESTORE INCOMPLETE'}`,
      });
    } catch (m) {
      report.lines.push(`could not record the outcome in ${this.set.dir}/manifest.json: ${(m as Error).message}`);
    }
    const code = interrupted ? interrupted.exitCode : 1;
    throw new UserError(`${this.o.kind} ${why}\n${report.lines.map((l) => `  ${l}`).join('\n')}`, code);
  }

  /** Puts back every file written, byte-identical, and brings nginx back onto the previous backends. */
  private async restore(checksBefore: readonly Check[]): Promise<{ ok: boolean; lines: string[] }> {
    const { nginx, timeoutMs, kind } = this.o;
    const lines: string[] = [];
    let ok = true;
    let restored = 0;
    for (const f of [...this.set.manifest.files].reverse()) {
      const orig = original(this.set, f);
      if (this.expected.get(f.real) === orig) continue;
      try {
        atomicWrite(f.real, orig, f);
        if (sha256(readFileSync(f.real, BYTES)) !== f.sha256) throw new Error('its sha256 differs after writing');
        restored += 1;
      } catch (e) {
        ok = false;
        lines.push(`RESTORE FAILED for ${f.path}: ${(e as Error).message}; its original is ${this.set.dir}/files${f.real}`);
      }
    }
    if (!restored && ok) lines.push('nothing had been written: the files are unchanged');
    else if (ok) lines.push(`restored ${restored} file(s) from ${this.set.dir}, byte-identical (sha256 checked)`);
    try {
      const t = await nginx.test();
      if (!t.ok) {
        lines.push(`nginx -t on the restored files fails, so nginx was not reloaded: ${t.output}`);
        return { ok: false, lines };
      }
      if (this.reloadSent) {
        const before = await nginx.workers();
        // A reload command that died (a signal, a busy docker exec) is worth one more try; a rejected config is not.
        let r = await nginx.reload();
        if (!r.ok) r = await nginx.reload();
        const taken = r.ok ? await nginx.awaitReload(before) : undefined;
        const why = r.ok ? 'no new workers took over' : r.output;
        if (taken) lines.push(`reloaded: new workers ${taken.fresh.join(', ')}`);
        else if (!this.reloadTaken)
          lines.push(
            `the restoring reload did not take effect either (${why}): nginx still runs the configuration it had before this ${kind}`,
          );
        else {
          ok = false;
          lines.push(
            `NGINX STILL RUNS THE CHANGED CONFIGURATION: the restoring reload did not take effect (${why}) although the files are restored; fix that and run nginx -s reload`,
          );
        }
      } else lines.push(`nginx was never reloaded: it kept serving the previous configuration throughout`);
      const v = await runChecks(judged(checksBefore), { nginx, timeoutMs });
      if (v.failed.length) ok = false;
      lines.push(
        v.failed.length
          ? `confirm FAILED: ${v.failed.join('; ')}`
          : `confirmed: ${v.passed.length} request(s) through nginx reach the previous backends`,
      );
    } catch (e) {
      ok = false;
      lines.push(`confirming the restore failed: ${(e as Error).message}`);
    }
    return { ok, lines };
  }
}

/** One change: back up, one stage, commit; undone on any failure or signal. */
export async function transact(
  o: TransactionOptions & {
    readonly changes: readonly Change[];
    readonly checksAfter: readonly Check[];
    readonly checksBefore: readonly Check[];
  },
): Promise<BackupSet> {
  const tx = await NginxTransaction.begin(
    o,
    o.changes.map((c) => ({ path: c.path, real: c.real, text: c.before })),
  );
  try {
    await tx.stage(new Map(o.changes.map((c) => [c.real, c.after])), o.checksAfter);
    return tx.commit();
  } catch (e) {
    return tx.fail(e, o.checksBefore);
  }
}
