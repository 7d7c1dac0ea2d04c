import { connect, createServer, type Server } from 'node:net';

const listen = () =>
  new Promise<Server>((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
const portOf = (s: Server) => (s.address() as { port: number }).port;
const close = (s: Server) => new Promise<void>((resolve) => s.close(() => resolve()));

/** A free TCP port on loopback: the kernel's choice, released at once (the lab's listeners, and the tests'). */
export async function freePort(): Promise<number> {
  const s = await listen();
  const port = portOf(s);
  await close(s);
  return port;
}

/**
 * `n` different free ports: each held until all are found (one after another, a released port can be handed out
 * again, and two listeners of one program on the same port fail to start).
 */
export async function freePorts(n: number): Promise<number[]> {
  const held: Server[] = [];
  try {
    for (let i = 0; i < n; i++) held.push(await listen());
    return held.map(portOf);
  } finally {
    await Promise.all(held.map(close));
  }
}

/** Whether something accepts TCP connections on `host`:`port` now (no answer within `timeoutMs` counts as no). */
export const accepts = (port: number, host = '127.0.0.1', timeoutMs = 2000) =>
  new Promise<boolean>((res) => {
    const s = connect(port, host);
    s.setTimeout(timeoutMs);
    s.once('connect', () => (s.destroy(), res(true)));
    s.once('timeout', () => (s.destroy(), res(false)));
    s.once('error', () => res(false));
  });
