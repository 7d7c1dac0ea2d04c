import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import WebSocket from 'ws';

import { NginxControl } from '../../../hack/lib/cutover/nginx';
import { freePort } from '../../../hack/lib/process/ports';
import { loadConfig } from '../../../lib/config';
import { selfSignedCert } from '../../support/files';
import { ROOMLER } from '../../support/roomler';
import type { BackendSpec } from './backends';
import type { LoadStats } from './load';

export { freePort };

// A real nginx (Debian's, prefix in a temp dir, loopback, high ports) in front of "old" and "new" backends,
// with site configs shaped like production: roomler.live and janus.roomler.live (TLS), a map, an if, comments,
// a quoted string naming the old upstream, an upstream block, a sites-available symlink and an included snippet.

export const ROOT = join(__dirname, '..', '..', '..');
export const NGINX = '/usr/sbin/nginx';

/** The routes, old backend -> synthesized Service port, in config order; `backend` is the new backend serving it. */
export const ROUTES = [
  { key: 'app', to: 'roomler/http', backend: 'app' },
  { key: 'janus-http', to: 'janus-nodeport/http', backend: 'janus-http' },
  { key: 'janus-ws', to: 'janus-nodeport/websocket', backend: 'janus-ws' },
  // The admin API has no NodePort: Janus's own port on its node (janus.ports, admin enabled in the lab config).
  { key: 'admin-http', to: 'janus-host/admin-http', backend: 'admin-http' },
  { key: 'admin-ws', to: 'janus-host/admin-websocket', backend: 'admin-ws' },
  // janus.roomler.live's `location /` (janus_r:8080 in production) goes to the HTTP API NodePort too.
  { key: 'janus-root', to: 'janus-nodeport/http', backend: 'janus-http' },
] as const;
export type RouteKey = (typeof ROUTES)[number]['key'];

/** The old stack's "containers": a name each, resolved only where nginx runs, and an address of their own. */
export const OLD_HOSTS = { app: { name: 'r00mler2', ip: '127.0.0.2' }, janus: { name: 'janus_r', ip: '127.0.0.3' } } as const;
const oldHost = (key: RouteKey) => (key === 'app' ? OLD_HOSTS.app : OLD_HOSTS.janus);

/** Every location through nginx and the backend route it reaches. */
export const LOCATIONS = [
  { site: 'roomler.live', path: '/', route: 'app', ws: false },
  { site: 'roomler.live', path: '/admin', route: 'app', ws: false },
  { site: 'janus.roomler.live', path: '/janus_http', route: 'janus-http', ws: false },
  { site: 'janus.roomler.live', path: '/janus_admin_http', route: 'admin-http', ws: false },
  { site: 'janus.roomler.live', path: '/', route: 'janus-root', ws: true },
  { site: 'janus.roomler.live', path: '/janus_ws', route: 'janus-ws', ws: true },
  { site: 'janus.roomler.live', path: '/janus_admin', route: 'admin-ws', ws: true },
] as const;

export interface Backends {
  readonly ports: Record<string, number>;
  /** The process serving them (one "container" of the old stack, for the rehearsal's docker stand-in). */
  readonly pid?: number;
  readonly events: { held: string; path: string; agent?: string }[];
  /** Resolves once `count` requests have been held by `name`. */
  heldBy(name: string, count?: number): Promise<void>;
  release(): void;
  stop(): Promise<void>;
}

/** The old and new backend of every route (unless `routes: false`), plus `extra` ones, in one child process. */
export async function startBackends(extra: BackendSpec[] = [], o: { routes?: boolean } = {}): Promise<Backends> {
  const specs: BackendSpec[] = [
    ...(o.routes === false ? [] : ROUTES.map((r) => ({ name: `old:${r.key}`, port: 0 as const, host: oldHost(r.key).ip, hold: '/slow' }))),
    ...(o.routes === false
      ? []
      : ROUTES.filter((r) => r.backend === r.key).map((r) => ({ name: `new:${r.key}`, port: 'nodeport' as const }))),
    ...extra,
  ];
  const child = spawn('node', ['--require', 'tsx/cjs', join(__dirname, 'backends.ts'), JSON.stringify(specs)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const events: Backends['events'] = [];
  const waiters: (() => void)[] = [];
  const ports = await new Promise<Record<string, number>>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`backends exited ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const msg = JSON.parse(l);
      if (msg.ready) resolve(msg.ready);
      if (msg.held) {
        events.push(msg);
        for (const w of waiters.splice(0)) w();
      }
    });
  });
  return {
    ports,
    pid: child.pid,
    events,
    heldBy: (name, count = 1) =>
      new Promise<void>((resolve) => {
        const check = () => (events.filter((e) => e.held === name).length >= count ? resolve() : waiters.push(check));
        check();
      }),
    release: () => child.stdin!.write('release\n'),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin!.end();
      }),
  };
}

/** Runs `fn` on a fresh lab, always stopping nginx and removing the lab afterwards. */
export async function withLab<T>(backends: Backends, options: LabOptions, fn: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = await Lab.create(backends, options);
  try {
    return await fn(lab);
  } finally {
    await lab.stop();
  }
}

/** A port within the NodePort range that nothing listens on (checked by binding it once). */
export async function freeNodePort(): Promise<number> {
  for (;;) {
    const port = 30000 + Math.floor(Math.random() * 2768);
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer().once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

let tlsDir: string | undefined;
/** One self-signed certificate for the test process (openssl, as CI installs it). */
function tls(): string {
  if (tlsDir) return tlsDir;
  tlsDir = mkdtempSync(join(tmpdir(), 'roomler-tls-'));
  selfSignedCert('janus.roomler.live', { ec: true, dir: tlsDir });
  return tlsDir;
}

export interface LabOptions {
  /** New targets: override a route's NodePort (e.g. a backend that fails, or nothing listening). */
  readonly nodePorts?: Partial<Record<RouteKey, number>>;
  /** Extra YAML under a route's entry in cutover.routes (indented two more than `- from`). */
  readonly routeExtra?: Partial<Record<RouteKey, string>>;
  /** Extra files in conf.d. */
  readonly extraConf?: Record<string, string>;
  /** Extra keys under `cutover:` (two-space indented). */
  readonly cutoverExtra?: string;
  /** Extra keys inside `cutover.nginx`, e.g. `reloadTimeoutMs: 1500`. */
  readonly nginxExtra?: string;
  /** More entries at the end of cutover.routes (YAML list items, four-space indented). */
  readonly extraRoutes?: string;
  /** More names in /etc/hosts where nginx runs (more old containers), name -> address. */
  readonly extraHosts?: Record<string, string>;
  /** Directives inside nginx.conf's http block, outside confDir (what the cutover does not read). */
  readonly httpExtra?: string;
  /** More top-level YAML in the project's roomler.yaml. */
  readonly projectExtra?: string;
  /** More keys inside `app:` (flow style), e.g. `uploads: { hostPath: /x }`. */
  readonly appExtra?: string;
  /**
   * The Janus admin API enabled (its routes move to Janus's node) or, as by default in a real config, off: its
   * locations are retired and nginx answers 403 there itself. @default true
   */
  readonly adminEnabled?: boolean;
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export class Lab {
  readonly dir: string;
  readonly confDir: string;
  readonly project: string;
  readonly appListen: number;
  readonly janusListen: number;
  private nginxProcess?: ChildProcess;

  private constructor(
    readonly backends: Backends,
    dir: string,
    appListen: number,
    janusListen: number,
  ) {
    this.dir = dir;
    this.confDir = join(dir, 'conf.d');
    this.project = join(dir, 'project');
    this.appListen = appListen;
    this.janusListen = janusListen;
  }

  static async create(backends: Backends, o: LabOptions = {}): Promise<Lab> {
    const dir = mkdtempSync(join(tmpdir(), 'roomler-nginx-lab-'));
    const lab = new Lab(backends, dir, await freePort(), await freePort());
    lab.write(o);
    await lab.startNginx();
    lab.writeProject(o);
    return lab;
  }

  /** The old backend as nginx names it: a container name (r00mler2, janus_r) and the port it serves. */
  old(key: RouteKey): string {
    return `${oldHost(key).name}:${this.backends.ports[`old:${key}`]}`;
  }

  /** The new backend's port serving a route (two routes share Janus's HTTP API NodePort). */
  newPort(key: RouteKey): number {
    return this.backends.ports[`new:${ROUTES.find((r) => r.key === key)!.backend}`];
  }

  /**
   * Where nginx runs, as for nginx in Docker: its own mount namespace, whose /etc/hosts knows the old containers'
   * names (nothing else on this machine does). Commands reach it as `docker exec nginx …` would: through nsenter.
   */
  exec(): string[] {
    return ['nsenter', `--mount=/proc/${this.nginxProcess!.pid}/ns/mnt`, '--'];
  }

  private write(o: LabOptions) {
    const { dir, confDir } = this;
    for (const d of ['conf.d', 'sites-available', 'snippets', 'logs', 'tmp', 'project']) mkdirSync(join(dir, d), { recursive: true });
    const cert = tls();
    writeFileSync(
      join(dir, 'nginx.conf'),
      `worker_processes 2;\ndaemon off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/logs/error.log notice;\nevents { worker_connections 4096; }\nhttp {\n    access_log off;\n` +
        `    client_body_temp_path ${dir}/tmp/body;\n    proxy_temp_path ${dir}/tmp/proxy;\n    include ${confDir}/*.conf;\n${o.httpExtra ?? ''}}\n`,
    );
    writeFileSync(
      join(confDir, 'roomler.live.conf'),
      `# roomler.live -> the app (was: proxy_pass http://${this.old('app')};)
map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
}
server {
    listen 127.0.0.1:${this.appListen};
    server_name roomler.live www.roomler.live;
    set $legacy "${this.old('app')}";   # a string, not a proxy target
    location / {
        if ($request_method = OPTIONS) { return 204; }
        proxy_set_header Host $host;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_pass http://${this.old('app')};
    }
    location /admin { proxy_pass "http://${this.old('app')}/admin"; }
}
`,
    );
    writeFileSync(
      join(dir, 'sites-available', 'janus.roomler.live.conf'),
      `# janus.roomler.live: signalling for calls; WebSockets stay on the backend they opened on
upstream janus_ws_backend {
    server ${this.old('janus-ws')} max_fails=3;
}
server {
    listen 127.0.0.1:${this.janusListen} ssl;
    server_name janus.roomler.live;
    ssl_certificate ${cert}/cert.pem;
    ssl_certificate_key ${cert}/key.pem;
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $connection_upgrade;
    # WebSocket-capable headers; the Janus image serves nothing on this port in production (502 today)
    location / { proxy_pass http://${this.old('janus-root')}; }
    location /janus_ws { proxy_pass http://janus_ws_backend; proxy_read_timeout 3600s; }
    location /janus_http { proxy_pass http://${this.old('janus-http')}/janus; }
    include snippets/janus-admin.conf;
}
`,
    );
    symlinkSync('../sites-available/janus.roomler.live.conf', join(confDir, 'janus.roomler.live.conf'));
    writeFileSync(
      join(dir, 'snippets', 'janus-admin.conf'),
      `# Janus admin API, included inside the janus.roomler.live server block
location /janus_admin { proxy_pass http://${this.old('admin-ws')}; }
location /janus_admin_http { proxy_pass http://${this.old('admin-http')}/admin; }
`,
    );
    for (const [name, text] of Object.entries(o.extraConf ?? {})) writeFileSync(join(confDir, name), text);
    const hosts = readFileSync('/etc/hosts', 'utf8').replace(/\n*$/, '\n');
    const extra = Object.entries(o.extraHosts ?? {})
      .map(([name, ip]) => `${ip} ${name}\n`)
      .join('');
    writeFileSync(
      join(dir, 'hosts'),
      `${hosts}${OLD_HOSTS.app.ip} ${OLD_HOSTS.app.name}\n${OLD_HOSTS.janus.ip} ${OLD_HOSTS.janus.name}\n${extra}`,
    );
  }

  private writeProject(o: LabOptions) {
    const { dir, confDir } = this;
    const port = (k: RouteKey) => o.nodePorts?.[k] ?? this.newPort(k);
    const routes =
      ROUTES.map((r) => `    - from: "${this.old(r.key)}"\n      to: ${r.to}\n${o.routeExtra?.[r.key] ?? ''}`).join('') +
      (o.extraRoutes ?? '');
    const command = [NGINX, '-p', dir, '-c', join(dir, 'nginx.conf')];
    writeFileSync(
      join(this.project, 'roomler.yaml'),
      `nodeAddress: 127.0.0.1
app: { nodePort: ${port('app')}${o.appExtra ? `, ${o.appExtra}` : ''} }
janus: { nodePorts: { http: ${port('janus-http')}, websocket: ${port('janus-ws')} }, ports: { adminHttp: ${port('admin-http')}, adminWebsocket: ${port('admin-ws')} }, admin: { enabled: ${o.adminEnabled ?? true} } }
# The backends' ephemeral ports could fall into coturn's relay range on the same node: no coturn in the lab.
coturn: { enabled: false }
cutover:
  nginx: { confDir: "${confDir}", exec: ${JSON.stringify(this.exec())}, command: ${JSON.stringify(command)}, pidFile: "${dir}/nginx.pid"${o.nginxExtra ? `, ${o.nginxExtra}` : ''} }
  backupDir: "${dir}/backups"
  requestTimeoutMs: 5000
  routes:
${routes}${o.cutoverExtra ?? ''}${o.projectExtra ?? ''}`,
    );
  }

  private async startNginx() {
    const mountHosts = 'mount --bind "$1" /etc/hosts && shift && exec "$@"';
    this.nginxProcess = spawn(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        '--',
        'sh',
        '-c',
        mountHosts,
        'sh',
        join(this.dir, 'hosts'),
        NGINX,
        '-p',
        this.dir,
        '-c',
        join(this.dir, 'nginx.conf'),
      ],
      { detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    this.nginxProcess.stderr!.on('data', (d) => (stderr += d));
    const deadline = Date.now() + 10_000;
    while ((await this.workers()).length < 2) {
      if (this.nginxProcess.exitCode !== null || Date.now() > deadline) throw new Error(`nginx did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The master's children (as the cutover reads them), or [] before it has written its pid. */
  async workers(): Promise<number[]> {
    try {
      const pid = Number(readFileSync(join(this.dir, 'nginx.pid'), 'utf8'));
      return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** The cutover's own nginx driver, configured as the lab's project config says. */
  control(): NginxControl {
    return new NginxControl(loadConfig({ cwd: this.project, env: {} }).root.cutover.nginx);
  }

  /** `nginx -s reload`, as an operator would after a hand edit; resolves once new workers serve. */
  async reload(): Promise<void> {
    const before = await this.workers();
    const [nsenter, ...args] = this.exec();
    const r = spawnSync(nsenter, [...args, NGINX, '-p', this.dir, '-c', join(this.dir, 'nginx.conf'), '-s', 'reload'], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(r.stderr);
    while ((await this.workers()).filter((p) => !before.includes(p)).length < 2) await new Promise((res) => setTimeout(res, 20));
    await new Promise((res) => setTimeout(res, 300)); // let the old workers handle their quit signal
  }

  async stop(): Promise<void> {
    const p = this.nginxProcess;
    if (p && p.exitCode === null) {
      const gone = new Promise((r) => p.once('exit', r));
      process.kill(-p.pid!, 'SIGTERM');
      await gone;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Runs `npm run cutover -- …` as its own process group (a terminal's Ctrl-C reaches the whole group). */
  cli(args: string[], onStart?: (child: ChildProcess) => void): Promise<CliResult> {
    const child = spawn(ROOMLER, ['cutover', ...args, ...(['apply', 'rollback'].includes(args[0]) ? ['--yes'] : [])], {
      cwd: ROOT,
      detached: true,
      env: { ...process.env, ROOMLER_PROJECT_DIR: this.project },
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    onStart?.(child);
    return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  }

  /** Every byte of the config tree nginx reads (through the symlink too), to prove what changed. */
  confBytes(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const sub of ['nginx.conf', 'conf.d', 'sites-available', 'snippets']) {
      const walk = (p: string, name: string) => {
        if (statSync(p).isDirectory()) for (const n of readdirSync(p).sort()) walk(join(p, n), `${name}/${n}`);
        else out[name] = readFileSync(p, 'latin1');
      };
      if (existsSync(join(this.dir, sub))) walk(join(this.dir, sub), sub);
    }
    return out;
  }

  /** One GET through nginx on a fresh connection: status and the answering backend's name. */
  get(site: string, path: string): Promise<{ status: number; backend: string }> {
    const tlsSite = site === 'janus.roomler.live';
    return new Promise((resolve, reject) => {
      const req = (tlsSite ? https : http).request(
        {
          host: '127.0.0.1',
          port: tlsSite ? this.janusListen : this.appListen,
          path,
          agent: false,
          headers: { Host: site, Connection: 'close' },
          servername: tlsSite ? site : undefined,
          rejectUnauthorized: false,
        },
        (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode!, backend: body.split(' ')[0] }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  /** A WebSocket through nginx to janus.roomler.live. */
  ws(path: string): Promise<Echo> {
    return new Promise((resolve, reject) => {
      const tlsOptions = { servername: 'janus.roomler.live', rejectUnauthorized: false };
      const ws = new WebSocket(`wss://127.0.0.1:${this.janusListen}${path}`, ['janus-protocol'], {
        headers: { Host: 'janus.roomler.live' },
        ...tlsOptions,
      });
      ws.once('open', () => resolve(new Echo(ws)));
      ws.once('error', reject);
    });
  }

  /** Which backend answers every location, HTTP and WebSocket: e.g. all `old:*`. */
  async serving(): Promise<string[]> {
    const out: string[] = [];
    for (const l of LOCATIONS) {
      const get = await this.get(l.site, l.path);
      // A location nginx answers itself (retired, or the maintenance answer) names no backend: its status stands.
      if (get.status === 403 || get.status === 503) out.push(`${l.site}${l.path} ${get.status}`);
      else if (!l.ws) out.push(`${l.site}${l.path} ${get.backend}`);
      else {
        const e = await this.ws(l.path);
        out.push(`${l.site}${l.path} ${(await e.say('who')).split(':').slice(0, 2).join(':')}`);
        e.close();
      }
    }
    return out;
  }

  /**
   * What `serving()` returns when every location reaches `side`'s backends; with `retired`, the new side's admin
   * locations answer 403 from nginx itself (the admin API off).
   */
  static all(side: 'old' | 'new', o: { retired?: boolean } = {}): string[] {
    return LOCATIONS.map((l) => {
      if (side === 'new' && o.retired && (l.route === 'admin-http' || l.route === 'admin-ws')) return `${l.site}${l.path} 403`;
      return `${l.site}${l.path} ${side}:${side === 'new' ? ROUTES.find((r) => r.key === l.route)!.backend : l.route}`;
    });
  }
}

export interface Load {
  readonly requests: () => number;
  /** Resolves once at least `n` connection-per-request requests have completed. */
  until(n: number): Promise<void>;
  /** Records "apply has finished": requests started after it must all reach the new backends. */
  mark(): void;
  stop(): Promise<LoadStats>;
}

/** Continuous load through nginx on every HTTP location, from its own process. */
export async function startLoad(lab: Lab, concurrency = 16, keepAlive = 4): Promise<Load> {
  const targets = LOCATIONS.filter((l) => !l.ws).map((l) => ({
    site: l.site,
    path: l.path,
    port: l.site === 'roomler.live' ? lab.appListen : lab.janusListen,
    tls: l.site !== 'roomler.live',
  }));
  const child = spawn('node', ['--require', 'tsx/cjs', join(__dirname, 'load.ts'), JSON.stringify({ targets, concurrency, keepAlive })], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let requests = 0;
  let waiters: { n: number; resolve: () => void }[] = [];
  let final: (s: LoadStats) => void = () => undefined;
  const stats = new Promise<LoadStats>((r) => (final = r));
  createInterface({ input: child.stdout! }).on('line', (l) => {
    const msg = JSON.parse(l);
    if (msg.stats) final(msg.stats);
    if (msg.progress !== undefined) requests = msg.progress;
    waiters = waiters.filter((w) => (requests >= w.n ? (w.resolve(), false) : true));
  });
  return {
    requests: () => requests,
    until: (n) => new Promise<void>((resolve) => (requests >= n ? resolve() : waiters.push({ n, resolve }))),
    mark: () => child.stdin!.write('mark\n'),
    stop: () => {
      child.stdin!.write('stop\n');
      return stats;
    },
  };
}

export class Echo {
  constructor(readonly socket: WebSocket) {}

  say(text: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const fail = (e: Error) => reject(e);
      this.socket.once('message', (m) => {
        this.socket.off('error', fail);
        resolve(m.toString());
      });
      this.socket.once('error', fail);
      this.socket.send(text);
    });
  }

  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  close(): void {
    this.socket.close();
  }
}
