import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, it } from 'vitest';

import { ROOT } from '../support/roomler';
import { useBackends } from './support/hooks';
import { type CliResult, freeNodePort, freePort, Lab, type LabOptions, withLab } from './support/lab';

// Every fault leaves nginx serving the old backends, every config byte as it was, and a non-zero exit that says
// which step failed. Real nginx throughout; the faults are real too (a dead port, a config nginx rejects, a
// listen address in use, a backend answering 503, SIGINT, a read-only file).

const backends = useBackends([
  { name: 'new:app-503', port: 'nodeport', status: 503 },
  { name: 'new:app-hold', port: 'nodeport', hold: '/hold' },
]);

/** How many requests the holding backend has held so far (to wait for the next one). */
const holds = () => backends().events.filter((e) => e.held === 'new:app-hold').length;
const stamps = (lab: Lab) =>
  existsSync(join(lab.dir, 'backups')) ? readdirSync(join(lab.dir, 'backups')).filter((n) => /^\d{8}T\d{6}\.\d{3}Z$/.test(n)) : [];

interface Fault {
  /** The state before the cutover runs (part of what must come back byte-identical). */
  readonly prepare?: (lab: Lab) => void | Promise<void>;
  readonly run: (lab: Lab) => Promise<CliResult>;
  readonly code: number;
  readonly stderr: readonly RegExp[];
  readonly stdout?: readonly RegExp[];
  /** Whether a backup set exists afterwards (written once the originals were about to change). */
  readonly backupSet: boolean;
  readonly after?: (lab: Lab) => void | Promise<void>;
}

/** Runs a fault on a fresh lab, then checks that nothing is left changed. */
async function fault(options: LabOptions, f: Fault) {
  await withLab(backends(), options, async (lab) => {
    await f.prepare?.(lab);
    expect(await lab.serving()).toEqual(Lab.all('old'));
    const before = lab.confBytes();
    const r = await f.run(lab);
    expect(r.code, r.stdout + r.stderr).toBe(f.code);
    for (const m of f.stderr) expect(r.stderr).toMatch(m);
    for (const m of f.stdout ?? []) expect(r.stdout).toMatch(m);
    expect(lab.confBytes()).toEqual(before);
    expect(await lab.serving()).toEqual(Lab.all('old'));
    expect(stamps(lab).length).toBe(f.backupSet ? 1 : 0);
    await f.after?.(lab);
  });
}

describe('npm run cutover -- apply: faults leave nginx on the old config, files byte-identical, exit non-zero', () => {
  it('a new target that is down aborts in preflight, before anything is written', async () => {
    const dead = await freeNodePort();
    await fault(
      { nodePorts: { app: dead } },
      {
        run: (lab) => lab.cli(['apply']),
        code: 1,
        stderr: [
          /preflight failed; nothing was changed:/,
          new RegExp(`new target 127\\.0\\.0\\.1:${dead} \\(roomler/http\\) does not answer: ECONNREFUSED`),
        ],
        backupSet: false,
      },
    );
  });

  it('nginx -t failing after the rewrite (an upstream block named like the node) restores the files; nginx was never reloaded', async () => {
    const upstream =
      '# another site balances over the node by name, as `upstream k8s-worker1` would\nupstream 127.0.0.1 {\n    server 127.0.0.1:9;\n}\n';
    let workers: number[] = [];
    await fault(
      { extraConf: { '00-upstreams.conf': upstream } },
      {
        run: async (lab) => {
          workers = await lab.workers();
          return lab.cli(['apply']);
        },
        code: 1,
        stderr: [
          /apply failed at nginx -t: .*upstream "127\.0\.0\.1" may not have port \d+/,
          /restored 3 file\(s\) from .*, byte-identical \(sha256 checked\)/,
          /nginx was never reloaded/,
          /confirmed: 7 request\(s\) through nginx reach the previous backends/,
        ],
        backupSet: true,
        after: async (lab) => expect(await lab.workers()).toEqual(workers),
      },
    );
  });

  it('a reload that exits 0 but does not take effect (a listen address in use) is detected, restored and reported', async () => {
    const busy = await freePort();
    const holder: Server = await new Promise((r) => {
      const s = createServer().listen(busy, '127.0.0.1', () => r(s));
    });
    try {
      await fault(
        { nginxExtra: 'reloadTimeoutMs: 1500' },
        {
          // An operator's edit waiting for the next reload: nginx -t passes (it does not bind), the reload cannot.
          prepare: (lab) =>
            writeFileSync(
              join(lab.confDir, 'zz-pending.conf'),
              `server {\n    listen 127.0.0.1:${busy};\n    server_name pending.example;\n    return 204;\n}\n`,
            ),
          run: (lab) => lab.cli(['apply']),
          code: 1,
          stderr: [
            /apply failed at reload: nginx -s reload exited 0 but no new worker took over within 1500 ms: nginx did not take the new configuration/,
            /restored 3 file\(s\)/,
            /the restoring reload did not take effect either .*nginx still runs the configuration it had before this apply/,
            /confirmed: 7 request\(s\)/,
          ],
          backupSet: true,
          after: (lab) =>
            expect(readFileSync(join(lab.dir, 'logs', 'error.log'), 'utf8')).toMatch(
              new RegExp(`bind\\(\\) to 127\\.0\\.0\\.1:${busy} failed \\(98: Address already in use\\)`),
            ),
        },
      );
    } finally {
      holder.close();
    }
  });

  it('verification failing (the new app answers 503) restores, reloads and confirms the old backends', async () => {
    await fault(
      { nodePorts: { app: backends().ports['new:app-503'] } },
      {
        run: (lab) => lab.cli(['apply']),
        code: 1,
        stderr: [
          /apply failed at verify: 2 of 7 request\(s\) through nginx failed:/,
          /GET http:\/\/roomler\.live\/ via 127\.0\.0\.1:\d+ expects < 500 .*: got 503/,
          /restored 3 file\(s\)/,
          /reloaded: new workers \d+/,
          /confirmed: 7 request\(s\) through nginx reach the previous backends/,
        ],
        backupSet: true,
        after: (lab) =>
          expect(JSON.parse(readFileSync(join(lab.dir, 'backups', stamps(lab)[0], 'manifest.json'), 'utf8')).outcome).toBe(
            'failed at verify; restored',
          ),
      },
    );
  });

  it('SIGINT in the middle (during verification) restores, reloads, confirms and exits 130; a second SIGINT during the restore is ignored; a concurrent apply is refused by the lock', async () => {
    let second: CliResult | undefined;
    await fault(
      { nodePorts: { app: backends().ports['new:app-hold'] }, routeExtra: { app: '      verify: [{ path: /hold/verify }]\n' } },
      {
        run: (lab) =>
          lab.cli(['apply'], (child) => {
            void backends()
              .heldBy('new:app-hold')
              .then(async () => {
                second = await lab.cli(['apply']);
                process.kill(-child.pid!, 'SIGINT'); // Ctrl-C reaches the terminal's whole process group
                backends().release();
              });
            // One more Ctrl-C while the restore runs is reported, and the restore still finishes.
            let again = false;
            child.stdout!.on('data', (d: Buffer) => {
              if (!again && /^apply interrupted by SIGINT during verify: restoring the original files/m.test(d.toString())) {
                again = true;
                process.kill(-child.pid!, 'SIGINT');
              }
            });
          }),
        code: 130,
        stderr: [/apply interrupted by SIGINT during verify/, /restored 3 file\(s\)/, /reloaded: new workers/, /confirmed: 6 request\(s\)/],
        stdout: [/SIGINT received: still restoring the original files; please wait/],
        backupSet: true,
      },
    );
    expect(backends().events.find((e) => e.held === 'new:app-hold')?.agent).toMatch(/^roomler-cutover\//);
    expect(second?.code).toBe(75);
    expect(second?.stderr).toMatch(/another cutover apply or rollback holds .*\.lock; try again when it has finished/);
  });

  it('SIGTERM to the pid of `bin/roomler cutover apply` itself (a supervisor, a CI cancel) restores and exits 143', async () => {
    await fault(
      { nodePorts: { app: backends().ports['new:app-hold'] }, routeExtra: { app: '      verify: [{ path: /hold/verify }]\n' } },
      {
        run: (lab) =>
          lab.cli(['apply'], (child) => {
            void backends()
              .heldBy('new:app-hold', holds() + 1)
              .then(() => {
                process.kill(child.pid!, 'SIGTERM'); // exactly the documented entry point's pid, not its group
                backends().release();
              });
          }),
        code: 143,
        stderr: [/apply interrupted by SIGTERM during verify/, /restored 3 file\(s\)/, /reloaded: new workers/],
        backupSet: true,
      },
    );
  });

  it('SIGTERM to `npm run cutover` (npm passes no signal on): the command notices npm is gone and restores', async () => {
    await fault(
      { nodePorts: { app: backends().ports['new:app-hold'] }, routeExtra: { app: '      verify: [{ path: /hold/verify }]\n' } },
      {
        run: async (lab) => {
          const held = holds();
          const npm = spawn('npm', ['run', '-s', 'cutover', '--', 'apply', '--yes'], {
            cwd: ROOT,
            env: { ...process.env, ROOMLER_PROJECT_DIR: lab.project },
          });
          let stderr = '';
          npm.stderr.on('data', (d) => (stderr += d));
          const closed = new Promise<number | null>((r) => npm.on('close', (c, sig) => r(c ?? (sig === 'SIGTERM' ? 143 : null))));
          await backends().heldBy('new:app-hold', held + 1);
          npm.kill('SIGTERM');
          // npm itself is gone at once; the command it started notices within its poll interval, aborts the held
          // verification request and restores. The hold is released only once the command has ended (npm's stderr,
          // which the command inherited, closes): released earlier, verification could pass before the command
          // noticed, and the apply would rightly complete.
          const code = await Promise.race([closed, sleep(60_000).then(() => 'still running after 60 s' as const)]);
          backends().release();
          expect(code, stderr).not.toBe('still running after 60 s');
          const lock = join(lab.dir, 'backups', '.lock');
          for (let n = 0; n < 200 && spawnSync('flock', ['--nonblock', lock, 'true']).status !== 0; n++)
            await new Promise((r) => setTimeout(r, 50));
          return { code: code as number | null, signal: null, stdout: '', stderr };
        },
        code: 143,
        stderr: [/apply interrupted by SIGTERM during verify/, /restored 3 file\(s\)/],
        backupSet: true,
        after: (lab) =>
          expect(JSON.parse(readFileSync(join(lab.dir, 'backups', stamps(lab)[0], 'manifest.json'), 'utf8')).outcome).toBe(
            'interrupted at verify; restored',
          ),
      },
    );
  });

  it('a WebSocket check that upgrades but reaches another backend fails (nginx holds no connection to the route), before anything is written', async () => {
    await fault(
      { routeExtra: { 'janus-ws': '      verify: [{ path: /janus_admin, websocket: true }]\n' } },
      {
        run: (lab) => lab.cli(['apply']),
        code: 1,
        stderr: [
          /preflight: verification fails before any change/,
          /WebSocket wss:\/\/janus\.roomler\.live\/janus_admin .*: upgraded, but nginx opened no connection to janus_r:\d+: the request went to another backend/,
        ],
        backupSet: false,
      },
    );
  });

  it('a read-only config file aborts in preflight, naming the file and its mode', async () => {
    await fault(
      {},
      {
        prepare: (lab) => chmodSync(join(lab.dir, 'snippets', 'janus-admin.conf'), 0o444),
        run: (lab) => lab.cli(['apply']),
        code: 1,
        stderr: [/preflight failed; nothing was changed:\n {2}- .*snippets\/janus-admin\.conf is read-only \(mode 0444\)/],
        backupSet: false,
      },
    );
  });
});
