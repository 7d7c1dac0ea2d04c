import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { freePort } from '../../../hack/lib/process/ports';
import { type Backends, freeNodePort, Lab, LOCATIONS, OLD_HOSTS, ROUTES, startBackends } from '../../cutover/support/lab';
import { crontabSpool } from '../../rsync/world';
import { emptyDir } from '../../support/files';
import { ferretdbBin, mongoPath, seedRoomler, type Server, startServer, withDb } from '../../support/mongo';
import { ROOMLER, ROOT } from '../../support/roomler';
import { synthIn } from '../../support/synth';

// The migration day's world, as the rehearsal and the switch tests need it: a real nginx with a production-shaped config
// for both domains (test/cutover/support/lab.ts), the old stack's "containers" as local processes (the old app writing
// to a FerretDB that plays the Docker MongoDB; the old Janus backends), and the new side (the new app on its NodePort
// writing to another FerretDB that plays mongodb-0). STAND-INS, because nothing real can run here: docker (no engine;
// ../shims/docker runs the real programs as the containers' processes) and `kubectl exec` (no kubelet;
// ../../mongo-backup/shims/kubectl runs the real tools locally).

export const USER = 'root';
export const PASSWORD = `rehearsal-${process.pid}`;
const SHIMS = [join(__dirname, '..', 'shims'), join(__dirname, '..', '..', 'mongo-backup', 'shims')];
const DOCKER = join(__dirname, '..', 'shims', 'docker');

/** A line-by-line reader of a child's output (for the app processes' {"ready"} line). */
const firstLine = (child: ChildProcess) => new Promise<string>((res) => createInterface({ input: child.stdout! }).once('line', res));

/** Backends from several processes as one (the lab needs one ports map). */
function combine(list: Backends[]): Backends {
  return {
    ports: Object.assign({}, ...list.map((b) => b.ports)),
    get events() {
      return list.flatMap((b) => b.events);
    },
    heldBy: (name, count) => Promise.race(list.map((b) => b.heldBy(name, count))),
    release: () => list.forEach((b) => b.release()),
    stop: async () => void (await Promise.all(list.map((b) => b.stop()))),
  };
}

export interface Outcome {
  readonly t0: number;
  readonly t1: number;
  readonly ok: boolean;
  readonly what: string;
  /** What a request that was not ok got: a status (with its Retry-After, if any), or the connection error. */
  readonly got?: string;
}

export interface WorldOptions {
  /** The uploads directory the old container serves (migrate.uploads.source). @default the world's directory */
  readonly uploads?: string;
  /** More top-level YAML in the project's roomler.yaml, given the world's directories. */
  readonly projectExtra?: (w: { dir: string; node: string }) => string;
  /** More keys inside `app:` (flow style). */
  readonly appExtra?: (w: { dir: string; node: string }) => string;
  /**
   * The old MongoDB keeps an oplog, as a MongoDB 4.0 run as a one-member replica set does (FerretDB logs inserts,
   * updates and deletes to local.oplog.rs once that capped collection exists): the final sync copies only what it names.
   */
  readonly oplog?: boolean;
}

export class World {
  readonly dir = emptyDir('roomler-world-');
  readonly containers = join(this.dir, 'containers');
  readonly node = join(this.dir, 'node');
  readonly podSecrets = join(this.dir, 'pod-secrets');
  lab!: Lab;
  newDb!: Server;
  oldDbPort = 0;
  private newApp?: ChildProcess;
  private backends: Backends[] = [];

  static async start(o: WorldOptions = {}): Promise<World> {
    const w = new World();
    await w.setup(o);
    return w;
  }

  /** An old "container": a start script the docker stand-in runs, and where it listens. */
  private container(name: string, host: string, port: number, script: string) {
    writeFileSync(join(this.containers, `${name}.start`), `#!/bin/bash\ncd '${ROOT}'\n${script}\n`, { mode: 0o600 });
    writeFileSync(join(this.containers, `${name}.port`), `${host} ${port}\n`);
    const r = this.docker('start', name);
    if (r.status !== 0) throw new Error(`starting ${name}: ${r.stderr}`);
  }

  /** The docker stand-in, as the code under test calls it. */
  docker(...args: string[]) {
    return spawnSync(DOCKER, args, { env: { ...process.env, SHIM_CONTAINERS: this.containers }, encoding: 'utf8' });
  }

  /** `docker inspect --format {{.State.Running}} NAME`: "true" or "false". */
  running(name: string): string {
    return this.docker('inspect', '--format', '{{.State.Running}}', name).stdout.trim();
  }

  private async setup(o: WorldOptions) {
    for (const d of [this.containers, this.node, this.podSecrets]) mkdirSync(d, { recursive: true });
    writeFileSync(join(this.podSecrets, 'MONGO_INITDB_ROOT_USERNAME'), USER);
    writeFileSync(join(this.podSecrets, 'MONGO_INITDB_ROOT_PASSWORD'), PASSWORD);
    // The old MongoDB ("container" mongo): a FerretDB with the Roomler data, its root user as in the old container.
    this.oldDbPort = await freePort();
    const oldData = join(this.dir, 'old-db');
    mkdirSync(oldData);
    this.container(
      'mongo',
      '127.0.0.1',
      this.oldDbPort,
      `export FERRETDB_SETUP_USERNAME='${USER}' FERRETDB_SETUP_PASSWORD='${PASSWORD}' FERRETDB_SETUP_DATABASE=admin\nexec '${ferretdbBin()}' --handler=sqlite --sqlite-url=file:${oldData}/ --state-dir=${oldData} --listen-addr=127.0.0.1:${this.oldDbPort} --debug-addr=- --telemetry=disable --log-level=warn --test-enable-new-auth`,
    );
    await seedRoomler({ uri: this.oldUri });
    if (o.oplog) await withDb({ uri: this.oldUri }, (d) => d.createCollection('oplog.rs', { capped: true, size: 256e6 }), 'local');
    // The old app (r00mler2) writes there; the old Janus (janus_r) is its own process of backends.
    const oldAppPort = await freePort();
    this.container(
      'r00mler2',
      OLD_HOSTS.app.ip,
      oldAppPort,
      `export MONGO_URI='${this.oldUri}'\nexec node --require tsx/cjs test/migration/app.ts '{"name":"old:app","host":"${OLD_HOSTS.app.ip}","port":${oldAppPort}}'`,
    );
    const janusOld = await startBackends(
      ROUTES.filter((r) => r.key !== 'app').map((r) => ({ name: `old:${r.key}`, port: 0 as const, host: OLD_HOSTS.janus.ip })),
      { routes: false },
    );
    writeFileSync(join(this.containers, 'janus_r.start'), '#!/bin/bash\n# started by the test (its backends process)\nexit 1\n');
    writeFileSync(join(this.containers, 'janus_r.pid'), `${janusOld.pid}\n`);
    const janusNew = await startBackends(
      ROUTES.filter((r) => r.key !== 'app' && r.backend === r.key).map((r) => ({ name: `new:${r.key}`, port: 'nodeport' as const })),
      { routes: false },
    );
    this.backends = [janusOld, janusNew];
    // The new side: mongodb-0's FerretDB and the new app on its NodePort.
    this.newDb = await startServer({ user: USER, password: PASSWORD });
    const appPort = await freeNodePort();
    this.newApp = spawn(
      'node',
      ['--require', 'tsx/cjs', join(__dirname, '..', 'app.ts'), JSON.stringify({ name: 'new:app', host: '127.0.0.1', port: appPort })],
      { cwd: ROOT, env: { ...process.env, MONGO_URI: this.newDb.uri }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await firstLine(this.newApp);
    const all = combine([
      ...this.backends,
      {
        ports: { 'old:app': oldAppPort, 'new:app': appPort },
        events: [],
        heldBy: () => new Promise(() => undefined),
        release: () => undefined,
        stop: async () => undefined,
      },
    ]);
    // The admin API as a real config has it by default (off): its two public locations are retired by the switch.
    const where = { dir: this.dir, node: this.node };
    this.lab = await Lab.create(all, {
      adminEnabled: false,
      appExtra: o.appExtra?.(where),
      projectExtra: [
        `mongodb: { port: ${this.newDb.port}, hostPath: "${this.node}/data/mongodb" }`,
        `migrate: { mongo: { container: mongo, port: ${this.oldDbPort} }, uploads: { source: "${o.uploads ?? this.dir}" } }`,
        `backup: { basePath: "${this.dir}/backups", keep: 3 }`,
        o.projectExtra?.(where) ?? '',
        '',
      ].join('\n'),
    });
    // The operator's dist/, as synth makes it: migrate run refuses one that is not.
    const s = synthIn(this.lab.project, {});
    if (s.code !== 0) throw new Error(`synth of the world's project failed:\n${s.stderr}`);
  }

  get oldUri(): string {
    return `mongodb://${USER}:${PASSWORD}@127.0.0.1:${this.oldDbPort}/admin`;
  }

  /** Stops the new MongoDB (a fault), or starts it again on the same port and data. */
  async newDbDown(): Promise<void> {
    await this.newDb.stop();
  }
  async newDbUp(): Promise<void> {
    this.newDb = await startServer({ user: USER, password: PASSWORD, dataDir: this.newDb.dataDir, port: this.newDb.port });
  }

  /** The environment `bin/roomler migrate …` runs in here: the stand-ins first on PATH, the real tools after. */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      ...extra,
      PATH: `${SHIMS.join(':')}:${mongoPath()}:${extra.PATH ?? process.env.PATH}`,
      ROOMLER_PROJECT_DIR: this.lab.project,
      MONGO_ROOT_USERNAME: USER,
      MONGO_ROOT_PASSWORD: PASSWORD,
      COTURN_AUTH_SECRET: 'rehearsal-turn-secret',
      JANUS_ADMIN_SECRET: 'rehearsal-janus-admin',
      SHIM_POD_SECRET_DIR: this.podSecrets,
      SHIM_CONTAINER: 'mongo',
      SHIM_CONTAINERS: this.containers,
    };
  }

  /** `bin/roomler migrate ARGS` as an operator's automation runs it, in a private crontab namespace; every line to `onLine`. */
  migrate(args: string[], onLine: (line: string, child: ChildProcess) => void = () => undefined, extraEnv: Record<string, string> = {}) {
    const cron = crontabSpool();
    const env = this.env(extraEnv);
    const child = spawn(cron.wrap[0], [...cron.wrap.slice(1), ROOMLER, 'migrate', ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    for (const s of [child.stdout, child.stderr]) createInterface({ input: s! }).on('line', (l) => ((out += `${l}\n`), onLine(l, child)));
    return {
      env,
      cron,
      child,
      done: new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((res) =>
        child.on('close', (code, signal) => res({ code, signal, out })),
      ),
    };
  }

  /** One request through nginx on a fresh connection (connection-per-request, as browsers after a reload). */
  request(site: string, path: string, method = 'GET'): Promise<{ status: number; body: string; retryAfter?: string }> {
    const tls = site === 'janus.roomler.live';
    return new Promise((resolve, reject) => {
      const req = (tls ? https : http).request(
        {
          host: '127.0.0.1',
          port: tls ? this.lab.janusListen : this.lab.appListen,
          path,
          method,
          agent: false,
          headers: { Host: site, Connection: 'close' },
          servername: tls ? site : undefined,
          rejectUnauthorized: false,
          timeout: 10_000,
        },
        (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode!, body, retryAfter: res.headers['retry-after'] }));
        },
      );
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.end();
    });
  }

  /** Load and writes through nginx until stopped: every outcome with its start and end time; the writes acknowledged. */
  traffic() {
    const outcomes: Outcome[] = [];
    const acked: number[] = [];
    let stop = false;
    let id = Math.floor(Date.now() % 1e9) * 1000;
    const record = async (what: string, f: () => Promise<{ status: number; retryAfter?: string; ok: boolean }>) => {
      const t0 = Date.now();
      const r = await f().catch((e: Error) => ({ ok: false, got: `error ${e.message}` }));
      const got = 'got' in r ? r.got : `${r.status}${r.retryAfter ? ` Retry-After ${r.retryAfter}` : ''}`;
      outcomes.push({ t0, t1: Date.now(), ok: r.ok, what, got: r.ok ? undefined : got });
    };
    const pages = LOCATIONS.filter((l) => !l.ws);
    const loops = [
      ...[0, 1, 2].map(async (w) => {
        for (let n = w; !stop; n++) {
          const l = pages[n % pages.length];
          await record(`GET ${l.site}${l.path}`, async () => {
            const r = await this.request(l.site, l.path);
            return { ...r, ok: r.status < 500 };
          });
          // Paced (each loop up to ~40 requests/s, a new TLS connection each): enough to see any failure in a window
          // of well under a second; the saturating load is test/cutover/load.test.ts's.
          await new Promise((r) => setTimeout(r, 25));
        }
      }),
      (async () => {
        while (!stop) {
          const n = ++id;
          await record(`write ${n}`, async () => {
            const r = await this.request('roomler.live', `/write?id=${n}`, 'POST');
            if (r.status === 200) acked.push(n);
            return { ...r, ok: r.status === 200 };
          });
          await new Promise((r) => setTimeout(r, 20));
        }
      })(),
    ];
    return { outcomes, acked, stop: async () => ((stop = true), await Promise.all(loops)) };
  }

  async stop(): Promise<void> {
    this.newApp?.kill();
    for (const name of ['r00mler2', 'mongo']) this.docker('stop', name);
    await this.lab?.stop();
    await Promise.all(this.backends.map((b) => b.stop()));
  }
}

/** The write-free windows a run announced, from its own log lines. */
export const windows = (out: string) => {
  const opens = [...out.matchAll(/write-free window opens at (\S+):/g)].map((m) => Date.parse(m[1]));
  const closes = [...out.matchAll(/write-free window closes at (\S+) /g)].map((m) => Date.parse(m[1]));
  return opens.map((t, n) => [t, closes[n] ?? Infinity] as const);
};
export const seconds = (s: string) => (s.endsWith(' s') ? Number(s.slice(0, -2)) : NaN);

/** Failures split by the window [a, b]: inside (+1 s for requests in flight at its end) and outside it. */
export function byWindow(outcomes: readonly Outcome[], [a, b]: readonly [number, number]) {
  const failed = outcomes.filter((o) => !o.ok);
  const inWindow = (o: Outcome) => o.t1 >= a && o.t0 <= b + 1000;
  return { inside: failed.filter(inWindow), outside: failed.filter((o) => !inWindow(o)) };
}
