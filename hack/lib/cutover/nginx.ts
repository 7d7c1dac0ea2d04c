import { lookup } from 'node:dns/promises';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import type { CutoverConfig } from '../../../lib/config/cutover';
import { UserError } from '../cli';
import { run, type RunResult } from '../process/run';
import { parseProcNetTcp, type TcpConnection } from './probes';

/**
 * Drives the host nginx: a local binary, or through a prefix such as `docker exec nginx`. A reload only counts
 * once the master has started new workers: `nginx -s reload` exits 0 even when the new config fails to load, e.g. on
 * a `listen` already in use, and new workers appear ~150 ms after it returns (docs/reference-topology.md).
 */
export class NginxControl {
  constructor(private readonly c: CutoverConfig['nginx']) {}

  get reloadTimeoutMs(): number {
    return this.c.reloadTimeoutMs;
  }

  private run(args: readonly string[], timeoutMs: number): Promise<RunResult> {
    const [file, ...rest] = [...this.c.exec, ...args];
    return run(file, rest, { timeoutMs });
  }

  private async nginx(args: readonly string[], timeoutMs: number): Promise<{ ok: boolean; output: string }> {
    const r = await this.run([...this.c.command, ...args], timeoutMs);
    const output = `${r.stderr}${r.stdout}`.trim();
    return { ok: r.exitCode === 0, output: r.timedOut ? `timed out after ${timeoutMs} ms` : output || `exit ${r.exitCode ?? r.signal}` };
  }

  /** `nginx -t` on the files in place (`nginx -t -c` on a copy elsewhere silently includes nothing). */
  test = () => this.nginx(['-t'], 60_000);
  reload = () => this.nginx(['-s', 'reload'], 30_000);

  /** A file where nginx runs: read directly on this host, through `exec cat` otherwise. */
  private async read(path: string): Promise<string> {
    if (!this.c.exec.length) return readFileSync(path, 'utf8');
    const r = await this.run(['cat', path], 10_000);
    if (r.exitCode !== 0) throw new Error(r.stderr.trim() || `cat ${path}: exit ${r.exitCode}`);
    return r.stdout;
  }

  async masterPid(): Promise<number> {
    let text: string;
    try {
      text = await this.read(this.c.pidFile);
    } catch (e) {
      throw new UserError(
        `cutover.nginx.pidFile ${this.c.pidFile} cannot be read (${(e as Error).message.split('\n')[0]}): is nginx running, and is pidFile right?`,
      );
    }
    const pid = Number(text.trim());
    if (!Number.isInteger(pid) || pid <= 0)
      throw new UserError(`cutover.nginx.pidFile ${this.c.pidFile} holds no pid: ${JSON.stringify(text.slice(0, 40))}`);
    return pid;
  }

  /** The master's child processes: its workers (and cache helpers), old ones included while they drain. */
  async workers(): Promise<number[]> {
    const pid = await this.masterPid();
    try {
      return (await this.read(`/proc/${pid}/task/${pid}/children`)).trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      throw new UserError(`the nginx master ${pid} (from ${this.c.pidFile}) is not running`);
    }
  }

  /**
   * Waits until the reload has taken: new workers exist and every old worker has exited or retitled itself
   * "worker process is shutting down", which nginx does as it closes its listening sockets. Until then an old
   * worker can still accept a connection and proxy it with the old config (measured: the first WebSocket after
   * a reload reached the old backend). Returns the new and the retiring pids; undefined on timeout.
   */
  async awaitReload(before: readonly number[]): Promise<{ fresh: number[]; retiring: number[] } | undefined> {
    const deadline = Date.now() + this.c.reloadTimeoutMs;
    for (;;) {
      const now = await this.workers();
      const fresh = now.filter((p) => !before.includes(p));
      const retiring = now.filter((p) => before.includes(p));
      if (fresh.length) {
        const titles = await Promise.all(retiring.map((p) => this.read(`/proc/${p}/cmdline`).catch(() => '')));
        if (titles.every((t) => !t.includes('worker process') || t.includes('shutting down'))) return { fresh, retiring };
      }
      if (Date.now() > deadline) return undefined;
      await sleep(20);
    }
  }

  /** The TCP connections in nginx's network namespace. */
  async connections(): Promise<TcpConnection[]> {
    const tables = await Promise.all(['/proc/net/tcp', '/proc/net/tcp6'].map((p) => this.read(p).catch(() => '')));
    return parseProcNetTcp(tables.join('\n'));
  }

  /**
   * `nginx -t` on the live config as it will load once `gone` no longer resolve (their containers stopped): in a
   * private mount namespace where nginx runs, with an /etc/hosts without those names (and with the answers for
   * `others`, the other host names the config uses, as they resolve now) and a resolver that answers nothing.
   * `skipped` says why it could not run there (no unshare, no privilege: e.g. inside an unprivileged container).
   */
  async testWithout(gone: readonly string[], others: readonly string[]): Promise<{ ok: boolean; output: string } | { skipped: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'roomler-nginx-t-'));
    try {
      const hosts = (await this.read('/etc/hosts').catch(() => '')).split('\n').filter(
        (l) =>
          !l
            .replace(/#.*/, '')
            .trim()
            .split(/\s+/)
            .slice(1)
            .some((n) => gone.includes(n)),
      );
      for (const name of others) for (const ip of await this.resolve(name).catch(() => [] as string[])) hosts.push(`${ip} ${name}`);
      writeFileSync(join(dir, 'hosts'), hosts.join('\n') + '\n');
      // Nothing listens on this loopback address: every DNS query is refused at once.
      writeFileSync(join(dir, 'resolv.conf'), 'nameserver 127.255.255.254\noptions timeout:1 attempts:1\n');
      const script = 'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf || exit 111; shift 2; exec "$@"';
      return await this.testInMountNamespace(script, [join(dir, 'hosts'), join(dir, 'resolv.conf')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /**
   * `nginx -t` in a private mount namespace, after `script` (sh -c, given `args` then the nginx command) bind-mounts
   * what it must; exit 111 from the script, or no unshare, means it could not run there: `skipped` says why.
   */
  private async testInMountNamespace(
    script: string,
    args: readonly string[],
  ): Promise<{ ok: boolean; output: string } | { skipped: string }> {
    const r = await this.run(
      ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', ...args, ...this.c.command, '-t'],
      60_000,
    );
    const output = `${r.stderr}${r.stdout}`.trim();
    if (r.exitCode === 111 || r.spawnError || /^unshare: /m.test(output))
      return { skipped: (output.split('\n').pop() || r.spawnError) ?? 'unshare failed' };
    return { ok: r.exitCode === 0, output };
  }

  /**
   * `nginx -t` on the config as it will be once `texts` (real path -> bytes) are written, before writing anything:
   * each text goes to a dotfile beside its file (no include glob matches it; the directory is the one nginx sees,
   * bind-mounted into a container), and in a private mount namespace where nginx runs each is bind-mounted over its
   * file. The live files and the running nginx are never touched. `skipped` says why it could not run there.
   */
  async testWith(texts: ReadonlyMap<string, string>): Promise<{ ok: boolean; output: string } | { skipped: string }> {
    const staged: [string, string][] = [];
    try {
      for (const [real, text] of texts) {
        const tmp = join(dirname(real), `.${basename(real)}.roomler-test.${process.pid}`);
        writeFileSync(tmp, Buffer.from(text, 'latin1'), { mode: 0o600 });
        staged.push([tmp, real]);
      }
      const script = 'while [ "$1" != -- ]; do mount --bind "$1" "$2" || exit 111; shift 2; done; shift; exec "$@"';
      return await this.testInMountNamespace(script, [...staged.flat(), '--']);
    } finally {
      for (const [tmp] of staged) rmSync(tmp, { force: true });
    }
  }

  /**
   * The TCP connections nginx itself holds (master and workers, retiring ones included): the network namespace's
   * table, narrowed to the sockets in those processes' /proc/<pid>/fd. Other clients of the same backend (a
   * monitoring probe on the nginx host, another proxy) are not counted.
   */
  async ownConnections(): Promise<TcpConnection[]> {
    const master = await this.masterPid();
    const pids = [master, ...(await this.workers())];
    const sockets = new Set<number>();
    const listing = await this.run(
      ['sh', '-c', 'for p in "$@"; do for f in /proc/$p/fd/*; do readlink "$f"; done; done', 'sh', ...pids.map(String)],
      10_000,
    );
    for (const m of listing.stdout.matchAll(/socket:\[(\d+)\]/g)) sockets.add(Number(m[1]));
    return (await this.connections()).filter((c) => sockets.has(c.inode));
  }

  /** Addresses of a host name as nginx resolves it (Docker container names resolve only inside its network). */
  async resolve(host: string): Promise<string[]> {
    const bare = host.replace(/^\[|\]$/g, '');
    if (isIP(bare)) return [bare];
    if (!this.c.exec.length) return [...new Set((await lookup(bare, { all: true })).map((a) => a.address))];
    const r = await this.run(['getent', 'ahosts', bare], 10_000);
    if (r.exitCode !== 0) throw new Error(`${bare} does not resolve where nginx runs`);
    return [
      ...new Set(
        r.stdout
          .split('\n')
          .map((l) => l.split(/\s+/)[0])
          .filter((a) => a && isIP(a)),
      ),
    ];
  }
}
