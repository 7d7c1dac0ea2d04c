// A child process serving the test backends on loopback: HTTP plus a WebSocket echo, each answering with its
// own name so a test can tell the old Docker backend from the new NodePort. Run as
//   node --require tsx/cjs backends.ts '<json spec>'
// Prints {"ready":{name:port}} once listening; {"held":name,"path":…} when a request is held; reads
// "release" lines on stdin (answer held requests) and exits when stdin closes.
import http from 'node:http';
import { createInterface } from 'node:readline';

import { WebSocketServer } from 'ws';

export interface BackendSpec {
  readonly name: string;
  /** 0: any free port; 'nodeport': a free port within 30000-32767 (config validation wants that range). */
  readonly port: 0 | 'nodeport';
  /** Loopback address to listen on: each old "container" has its own, as Docker gives each its own IP. @default 127.0.0.1 */
  readonly host?: string;
  /** Status for every HTTP request. @default 200 */
  readonly status?: number;
  /** Requests whose path starts with this are held until a "release" line. */
  readonly hold?: string;
}

const emit = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
const held: (() => void)[] = [];

function serve(spec: BackendSpec): Promise<number> {
  const server = http.createServer((req, res) => {
    const answer = () => {
      res.writeHead(spec.status ?? 200, { 'content-type': 'text/plain', 'x-backend': spec.name });
      res.end(`${spec.name} ${req.url}\n`);
    };
    if (spec.hold && req.url?.startsWith(spec.hold)) {
      held.push(answer);
      emit({ held: spec.name, path: req.url, agent: req.headers['user-agent'] });
    } else answer();
  });
  server.keepAliveTimeout = 60_000;
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m) => ws.send(`${spec.name}:${m.toString()}`)));
  });
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, spec.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve((server.address() as { port: number }).port);
      });
    });
  if (spec.port === 0) return listen(0);
  const tryPort = async (attempt: number): Promise<number> => {
    try {
      return await listen(30000 + Math.floor(Math.random() * 2768));
    } catch (e) {
      if (attempt > 50) throw e;
      return tryPort(attempt + 1);
    }
  };
  return tryPort(0);
}

async function main() {
  const specs = JSON.parse(process.argv[2]) as BackendSpec[];
  const ports: Record<string, number> = {};
  for (const s of specs) ports[s.name] = await serve(s);
  emit({ ready: ports });
  createInterface({ input: process.stdin })
    .on('line', (l) => {
      if (l.trim() === 'release') for (const f of held.splice(0)) f();
    })
    .on('close', () => process.exit(0));
}

if (require.main === module) void main();
