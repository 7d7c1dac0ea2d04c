import { connect, createServer, type Socket } from 'node:net';

import { describe, expect, it } from 'vitest';

import { NginxControl } from '../../hack/lib/cutover/nginx';
import { parseProcNetTcp } from '../../hack/lib/cutover/probes';
import { loadConfig } from '../../lib/config';
import { useBackends } from './support/hooks';
import { Lab, withLab } from './support/lab';

const backends = useBackends();

describe('NginxControl against real nginx', () => {
  it('a reload counts only once every old worker has stopped accepting (old workers held with SIGSTOP: not before they run again)', async () => {
    await withLab(backends(), {}, async (lab) => {
      const nginx = lab.control();
      const before = await nginx.workers();
      expect(before).toEqual(await lab.workers());
      // Stopped workers cannot handle the master's quit signal: they keep their listening sockets, untitled.
      for (const pid of before) process.kill(pid, 'SIGSTOP');
      let settled: Awaited<ReturnType<NginxControl['awaitReload']>> | 'pending' = 'pending';
      try {
        expect((await nginx.reload()).ok).toBe(true);
        const waiting = nginx.awaitReload(before).then((r) => (settled = r));
        await new Promise((r) => setTimeout(r, 800));
        expect((await lab.workers()).filter((p) => !before.includes(p)).length).toBe(2); // new workers exist...
        expect(settled).toBe('pending'); // ...but the old ones could still accept a connection
        for (const pid of before) process.kill(pid, 'SIGCONT');
        const taken = await waiting;
        expect(taken?.fresh.length).toBe(2);
        expect(taken?.fresh.some((p) => before.includes(p))).toBe(false);
      } finally {
        for (const pid of before) {
          try {
            process.kill(pid, 'SIGCONT');
          } catch {
            /* already exited */
          }
        }
      }
    });
  });

  it('reads the kernel TCP table where nginx runs: a loopback connection shows up ESTABLISHED with its remote end', async () => {
    const lab = await Lab.create(backends());
    const server = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as { port: number }).port;
    const client: Socket = connect(port, '127.0.0.1');
    try {
      await new Promise((r) => client.once('connect', r));
      // nginx on this host, driven directly (no exec prefix): the lab's nginx shares this network namespace.
      const nginx = new NginxControl({ ...loadConfig({ cwd: lab.project, env: {} }).root.cutover.nginx, exec: [] });
      const conns = await nginx.connections();
      expect(conns).toContainEqual(
        expect.objectContaining({ local: `127.0.0.1:${client.localPort}`, remote: `127.0.0.1:${port}`, state: 'ESTABLISHED' }),
      );
      expect(conns).toContainEqual(expect.objectContaining({ local: `127.0.0.1:${port}`, remote: '0.0.0.0:0', state: 'LISTEN' }));
      // This test's own connection is not nginx's: nginx holds only its listening sockets here.
      const own = await nginx.ownConnections();
      expect(own.some((c) => c.remote === `127.0.0.1:${port}`)).toBe(false);
      expect(own).toContainEqual(expect.objectContaining({ local: `127.0.0.1:${lab.appListen}`, state: 'LISTEN' }));
      expect(await nginx.resolve('localhost')).toContain('127.0.0.1');
    } finally {
      client.destroy();
      server.close();
      await lab.stop();
    }
  });

  it("through an exec prefix (nsenter into nginx's namespace, standing where `docker exec nginx` goes): apply, reload confirmation, TCP table and name lookups", async () => {
    await withLab(backends(), {}, async (lab) => {
      const r = await lab.cli(['apply']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/upgraded; nginx holds a new connection to 127\.0\.0\.1:\d+/);
      expect(await lab.serving()).toEqual(Lab.all('new'));
      const nginx = lab.control();
      expect(await nginx.workers()).toEqual(await lab.workers());
      expect(await nginx.connections()).toContainEqual(
        expect.objectContaining({ local: `127.0.0.1:${lab.appListen}`, remote: '0.0.0.0:0', state: 'LISTEN' }),
      );
      // The old containers' names resolve only where nginx runs, as Docker's do.
      expect(await nginx.resolve('janus_r')).toEqual(['127.0.0.3']);
      const local = new NginxControl({ ...loadConfig({ cwd: lab.project, env: {} }).root.cutover.nginx, exec: [] });
      await expect(local.resolve('janus_r')).rejects.toThrow();
      await expect(nginx.resolve('no-such-host.invalid')).rejects.toThrow(/no-such-host\.invalid does not resolve where nginx runs/);
    });
  });

  it('decodes IPv6 and IPv4-mapped addresses as ss prints them', () => {
    // Two rows in the kernel's tcp6 format: [::1]:8080 -> ::ffff:127.0.0.1:8081 established, [::]:80 listening.
    const table = [
      '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 00000000000000000000000001000000:1F90 0000000000000000FFFF00000100007F:1F91 01 00000000:00000000 00:00000000 00000000     0        0 81234 1 0000000000000000 20 4 30 10 -1',
      '   1: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 81235 1 0000000000000000 100 0 0 10 0',
    ].join('\n');
    expect(parseProcNetTcp(table)).toEqual([
      { local: '[::1]:8080', remote: '127.0.0.1:8081', state: 'ESTABLISHED', inode: 81234 },
      { local: '[::]:80', remote: '[::]:0', state: 'LISTEN', inode: 81235 },
    ]);
  });
});
