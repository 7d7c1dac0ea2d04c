import { type IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, Socket } from 'node:net';

import type WebSocket from 'ws';

// The network side of the cutover: is a target up, does a request through nginx succeed, and which backends
// does nginx hold connections to (the kernel's TCP table, as `ss` reads it).

export const USER_AGENT = 'roomler-cutover/1';

/** `host:port`, with an IPv6 host in brackets as nginx, URLs and the TCP table write it. */
export const joinHostPort = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

export function splitHostPort(hp: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(hp);
  if (!m) throw new Error(`${hp} is not host:port`);
  return { host: m[1], port: Number(m[2]) };
}

export function tcpConnect(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    const fail = (why: string) => {
      socket.destroy();
      reject(new Error(why));
    };
    socket.setTimeout(timeoutMs, () => fail(`no answer within ${timeoutMs} ms`));
    socket.once('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
    socket.connect(port, host, () => {
      socket.destroy();
      resolve();
    });
  });
}

export interface RequestTarget {
  /** Where to connect. */
  readonly address: { readonly host: string; readonly port: number };
  readonly tls: boolean;
  /** Host header and SNI. */
  readonly host: string;
  readonly path: string;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

const tlsOptions = (t: RequestTarget) => (t.tls ? { servername: isIP(t.host) ? undefined : t.host, rejectUnauthorized: false } : {});

/** One GET on a fresh connection; resolves with the status, rejects with a short reason. */
export const httpGet = async (t: RequestTarget): Promise<number> => (await httpResponse(t)).status;

/** One GET on a fresh connection; resolves with the status and the response headers (names in lower case). */
export function httpResponse(t: RequestTarget): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = (t.tls ? httpsRequest : httpRequest)(
      {
        host: t.address.host,
        port: t.address.port,
        path: t.path,
        method: 'GET',
        agent: false,
        timeout: t.timeoutMs,
        signal: t.signal,
        headers: { Host: t.host, 'User-Agent': USER_AGENT, Connection: 'close' },
        ...tlsOptions(t),
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
        res.on('error', (e) => reject(e));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no response within ${t.timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => reject(new Error(e.code && e.code !== 'ABORT_ERR' ? e.code : e.message)));
    req.end();
  });
}

/** A WebSocket upgrade; resolves with the open socket (status 101) or the status nginx answered instead. */
export function websocketOpen(t: RequestTarget & { readonly protocol?: string }): Promise<{ status: number; ws?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const url = `${t.tls ? 'wss' : 'ws'}://${joinHostPort(t.address.host, t.address.port)}${t.path}`;
    // Loaded here, not with this module: ws reads node:http as it loads, which a startup snapshot cannot hold.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ws: WebSocket = new (require('ws') as typeof import('ws'))(url, t.protocol ? [t.protocol] : [], {
      headers: { Host: t.host, 'User-Agent': USER_AGENT },
      handshakeTimeout: t.timeoutMs,
      ...tlsOptions(t),
    });
    const abort = () => ws.terminate();
    t.signal?.addEventListener('abort', abort, { once: true });
    ws.once('open', () => resolve({ status: 101, ws }));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      ws.terminate();
      resolve({ status: res.statusCode ?? 0 });
    });
    ws.once('error', (e: NodeJS.ErrnoException) => reject(new Error(e.code ?? e.message)));
  });
}

export interface TcpConnection {
  readonly local: string;
  readonly remote: string;
  readonly state: string;
  /** The socket's inode: which process holds it shows in /proc/<pid>/fd as socket:[inode]. */
  readonly inode: number;
}

const TCP_STATES: Record<string, string> = { '01': 'ESTABLISHED', '06': 'TIME_WAIT', '08': 'CLOSE_WAIT', '0A': 'LISTEN' };

/** Decodes /proc/net/tcp and tcp6 (hex, 32-bit words in host byte order) into `ip:port` pairs. */
export function parseProcNetTcp(text: string): TcpConnection[] {
  const addr = (hex: string) => {
    const [ip, port] = hex.split(':');
    const words = ip
      .toLowerCase()
      .match(/.{8}/g)!
      .map((w) => w.match(/../g)!.reverse().join(''));
    const v4 = (w: string) =>
      w
        .match(/../g)!
        .map((b) => parseInt(b, 16))
        .join('.');
    const mapped = words.length === 4 && words[0] === '00000000' && words[1] === '00000000' && words[2] === '0000ffff';
    if (words.length === 1 || mapped) return `${v4(words[words.length - 1])}:${parseInt(port, 16)}`;
    return `[${compressV6(words.map((w) => `${w.slice(0, 4)}:${w.slice(4)}`).join(':'))}]:${parseInt(port, 16)}`;
  };
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => /^\d+:$/.test(f[0] ?? ''))
    .map((f) => ({ local: addr(f[1]), remote: addr(f[2]), state: TCP_STATES[f[3]] ?? f[3], inode: Number(f[9]) }));
}

/** `0:0:0:0:0:0:0:1` -> `::1`, as `ss` and nginx print IPv6 addresses. */
function compressV6(host: string): string {
  const parts = host.split(':').map((p) => p.replace(/^0+(?=.)/, ''));
  let best = [-1, 0];
  for (let i = 0; i < parts.length;) {
    let j = i;
    while (j < parts.length && parts[j] === '0') j++;
    if (j - i > best[1]) best = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best[1] < 2) return parts.join(':');
  return `${parts.slice(0, best[0]).join(':')}::${parts.slice(best[0] + best[1]).join(':')}`;
}
