// A child process putting continuous load on nginx: clients that open a connection per request (what a browser
// does across a reload that closes idle keep-alive connections) and, counted apart, keep-alive clients. Run as
//   node --require tsx/cjs load.ts '<json options>'
// Prints {"progress":n} lines; stdin "mark" records the moment apply finished; "stop" ends it and prints the
// final {"stats":…}.
import http from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';

export interface LoadOptions {
  readonly targets: readonly { readonly site: string; readonly path: string; readonly port: number; readonly tls: boolean }[];
  /** Concurrent connection-per-request clients. */
  readonly concurrency: number;
  /** Concurrent keep-alive clients (their resets are reported separately). */
  readonly keepAlive: number;
}

export interface LoadStats {
  readonly requests: number;
  readonly failed: number;
  readonly failures: Record<string, number>;
  readonly byBackend: Record<string, number>;
  /** Requests started after "mark" that an old backend answered. */
  readonly oldAfterMark: number;
  readonly afterMark: number;
  readonly keepAlive: { readonly requests: number; readonly resets: number; readonly other: number };
}

const options = JSON.parse(process.argv[2]) as LoadOptions;
let stopping = false;
let markedAt = Infinity;
const stats = {
  requests: 0,
  failed: 0,
  failures: {} as Record<string, number>,
  byBackend: {} as Record<string, number>,
  oldAfterMark: 0,
  afterMark: 0,
  keepAlive: { requests: 0, resets: 0, other: 0 },
};
const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: options.keepAlive }),
  https: new https.Agent({ keepAlive: true, maxSockets: options.keepAlive, rejectUnauthorized: false }),
};

function request(n: number, keepAlive: boolean): Promise<{ backend?: string; error?: string }> {
  const t = options.targets[n % options.targets.length];
  return new Promise((resolve) => {
    const req = (t.tls ? https : http).request(
      {
        host: '127.0.0.1',
        port: t.port,
        path: t.path,
        agent: keepAlive ? (t.tls ? agents.https : agents.http) : false,
        headers: { Host: t.site, ...(keepAlive ? {} : { Connection: 'close' }) },
        servername: t.tls ? t.site : undefined,
        rejectUnauthorized: false,
        timeout: 10_000,
      },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(res.statusCode! < 500 ? { backend: body.split(' ')[0] } : { error: `status ${res.statusCode}` }));
        res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end();
  });
}

async function perRequestClient(id: number) {
  for (let n = id; !stopping; n += options.concurrency) {
    const started = Date.now();
    const r = await request(n, false);
    stats.requests++;
    if (r.error || !r.backend) {
      stats.failed++;
      stats.failures[r.error ?? 'no backend'] = (stats.failures[r.error ?? 'no backend'] ?? 0) + 1;
      continue;
    }
    stats.byBackend[r.backend] = (stats.byBackend[r.backend] ?? 0) + 1;
    if (started > markedAt) {
      stats.afterMark++;
      if (r.backend.startsWith('old:')) stats.oldAfterMark++;
    }
  }
}

async function keepAliveClient(id: number) {
  for (let n = id; !stopping; n++) {
    const r = await request(n, true);
    stats.keepAlive.requests++;
    if (r.error === 'ECONNRESET' || r.error === 'socket hang up' || r.error === 'EPIPE') stats.keepAlive.resets++;
    else if (r.error) stats.keepAlive.other++;
  }
}

const clients = [
  ...Array.from({ length: options.concurrency }, (_, i) => perRequestClient(i)),
  ...Array.from({ length: options.keepAlive }, (_, i) => keepAliveClient(i)),
];
const progress = setInterval(() => process.stdout.write(`${JSON.stringify({ progress: stats.requests })}\n`), 200);
createInterface({ input: process.stdin }).on('line', async (l) => {
  if (l === 'mark') markedAt = Date.now();
  if (l === 'stop') {
    stopping = true;
    clearInterval(progress);
    await Promise.all(clients);
    process.stdout.write(`${JSON.stringify({ stats })}\n`);
    process.exit(0);
  }
});
