import { createServer } from 'node:net';

/** A free TCP port on loopback: the kernel's choice, released at once (the lab's listeners, and the tests'). */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
