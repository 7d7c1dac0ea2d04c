import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, lstatSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { useBackends } from './support/hooks';
import { Lab, ROUTES, withLab } from './support/lab';

const backends = useBackends();

const sha = (latin1: string) => createHash('sha256').update(Buffer.from(latin1, 'latin1')).digest('hex');
const sets = (lab: Lab) =>
  readdirSync(join(lab.dir, 'backups'))
    .filter((n) => /^\d{8}T\d{6}\.\d{3}Z$/.test(n))
    .sort();
const manifest = (lab: Lab, stamp: string) => JSON.parse(readFileSync(join(lab.dir, 'backups', stamp, 'manifest.json'), 'utf8'));

/** The test's own expectation of the rewrite, by regex on these known files (comment lines skipped). */
function expectedRewrite(lab: Lab, text: string): string {
  const map = Object.fromEntries(ROUTES.map((r) => [lab.old(r.key), `127.0.0.1:${lab.newPort(r.key)}`]));
  const target = /(proxy_pass\s+"?http:\/\/|^\s*server\s+)((?:r00mler2|janus_r):\d+)/g;
  return text
    .split('\n')
    .map((line) => (/^\s*#/.test(line) ? line : line.replace(target, (_, pre: string, hp: string) => pre + map[hp])))
    .join('\n');
}

describe('npm run cutover -- apply (real nginx, loopback)', () => {
  it('switches every route; only the proxy_pass tokens change; originals backed up with sha256s; a second apply is a no-op', async () => {
    await withLab(backends(), {}, async (lab) => {
      chmodSync(join(lab.confDir, 'roomler.live.conf'), 0o640);
      expect(await lab.serving()).toEqual(Lab.all('old'));
      const before = lab.confBytes();

      const r = await lab.cli(['apply']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^reload: new workers \d+, \d+ replace \d+, \d+/m);
      expect(r.stdout).toMatch(/upgraded; nginx holds a new connection to 127\.0\.0\.1:\d+/);
      expect(r.stdout).toMatch(/^apply: done: 6 route\(s\) on the NodePorts, verified in \d+ ms/m);
      expect(await lab.serving()).toEqual(Lab.all('new'));

      // Byte diff: exactly the backend addresses changed (proxy targets and the `set` value); comments, map, if and the rest did not.
      const after = lab.confBytes();
      const changed = Object.keys(before).filter((k) => before[k] !== after[k]);
      expect(changed).toEqual([
        'conf.d/janus.roomler.live.conf',
        'conf.d/roomler.live.conf',
        'sites-available/janus.roomler.live.conf',
        'snippets/janus-admin.conf',
      ]);
      for (const k of changed) expect(after[k]).toBe(expectedRewrite(lab, before[k]));
      expect(after['conf.d/roomler.live.conf']).toContain(`# roomler.live -> the app (was: proxy_pass http://${lab.old('app')};)`);
      // No proxy_pass uses $legacy: not a backend, so it stays as it was.
      expect(after['conf.d/roomler.live.conf']).toContain(`set $legacy "${lab.old('app')}";`);
      // The sites-enabled style symlink was written through, not replaced; the mode was kept.
      expect(lstatSync(join(lab.confDir, 'janus.roomler.live.conf')).isSymbolicLink()).toBe(true);
      expect(statSync(join(lab.confDir, 'roomler.live.conf')).mode & 0o777).toBe(0o640);

      // One backup set: the original bytes, their sha256s in the manifest, checkable with sha256sum -c.
      const [stamp] = sets(lab);
      const m = manifest(lab, stamp);
      expect(m).toMatchObject({ kind: 'apply', outcome: 'applied' });
      expect(m.files.map((f: { path: string }) => f.path.slice(lab.dir.length + 1)).sort()).toEqual([
        'conf.d/janus.roomler.live.conf',
        'conf.d/roomler.live.conf',
        'snippets/janus-admin.conf',
      ]);
      for (const f of m.files) {
        const key = f.path.slice(lab.dir.length + 1);
        expect(f.sha256).toBe(sha(before[key]));
        expect(f.sha256After).toBe(sha(after[key]));
        expect(readFileSync(join(lab.dir, 'backups', stamp, 'files', f.real), 'latin1')).toBe(before[key]);
      }
      const check = spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: join(lab.dir, 'backups', stamp), encoding: 'utf8' });
      expect(check.status, check.stdout + check.stderr).toBe(0);

      // Already cut over: says so, writes nothing, does not reload.
      const workers = await lab.workers();
      const again = await lab.cli(['apply']);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/already cut over: every route points at its NodePort; nothing to do/);
      expect(lab.confBytes()).toEqual(after);
      expect(sets(lab)).toEqual([stamp]);
      expect(await lab.workers()).toEqual(workers);
    });
  });

  it('status shows where each route points and the backup sets; rollback restores byte-identical and verifies; --to re-applies; edits made after the cutover need --force', async () => {
    await withLab(backends(), {}, async (lab) => {
      const original = lab.confBytes();
      const before = (await lab.cli(['status'])).stdout;
      expect(before).toMatch(/^old {4}r00mler2:\d+ -> roomler\/http \(127\.0\.0\.1:\d+\): 2 old, 0 new$/m);
      expect(before).toMatch(/^old hosts in conf\.d\/roomler\.live\.conf: 2 routed, 0 kept, 0 unaccounted$/m);
      expect(before).toMatch(/^old hosts in snippets\/janus-admin\.conf: 2 routed, 0 kept, 0 unaccounted$/m);
      expect((await lab.cli(['apply'])).code).toBe(0);
      const cutOver = lab.confBytes();
      const status = await lab.cli(['status']);
      for (const r of ROUTES)
        expect(status.stdout).toMatch(
          new RegExp(`^new {4}${lab.old(r.key)} -> ${r.to} \\(127\\.0\\.0\\.1:${lab.newPort(r.key)}\\): 0 old, \\d new$`, 'm'),
        );
      // Paths as nginx includes them, relative to its config directory.
      expect(status.stdout).toMatch(
        /^ {2}\d{8}T\d{6}\.\d{3}Z {2}apply {5}applied {2}conf\.d\/janus\.roomler\.live\.conf, snippets\/janus-admin\.conf, conf\.d\/roomler\.live\.conf$/m,
      );
      expect(status.stdout).toMatch(/^old hosts \(r00mler2, janus_r\): no backend address in the config names them$/m);

      const back = await lab.cli(['rollback']);
      expect(back.code, back.stderr).toBe(0);
      expect(back.stdout).toMatch(/upgraded; nginx holds a new connection to janus_r:\d+/);
      expect(lab.confBytes()).toEqual(original);
      expect(await lab.serving()).toEqual(Lab.all('old'));
      const [applied, rolledBack] = sets(lab);
      expect(manifest(lab, rolledBack)).toMatchObject({ kind: 'rollback', outcome: 'applied' });
      expect((await lab.cli(['rollback'])).stdout).toMatch(/already match backup set \d{8}T\d{6}\.\d{3}Z; nothing to do/);

      // The rollback's own set holds the cut-over files: rolling back to it re-applies the cutover.
      const redo = await lab.cli(['rollback', '--to', rolledBack]);
      expect(redo.code, redo.stderr).toBe(0);
      expect(lab.confBytes()).toEqual(cutOver);
      expect(await lab.serving()).toEqual(Lab.all('new'));

      appendFileSync(join(lab.confDir, 'roomler.live.conf'), '# an operator edit after the cutover\n');
      const refused = await lab.cli(['rollback', '--to', applied]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        /rollback would discard edits made after the cutover in: .*roomler\.live\.conf; review them .* then run rollback --force/,
      );
      const forced = await lab.cli(['rollback', '--to', applied, '--force']);
      expect(forced.code, forced.stderr).toBe(0);
      expect(lab.confBytes()).toEqual(original);
      expect((await lab.cli(['rollback', '--to', '20200101T000000.000Z'])).stderr).toMatch(
        /no backup set 20200101T000000\.000Z in .* \(have: \d{8}T\d{6}\.\d{3}Z \(apply, applied\)/,
      );
    });
  });

  it('a half-done state (one location already hand-edited to its NodePort) is completed, and rollback returns to exactly that state', async () => {
    await withLab(backends(), {}, async (lab) => {
      const janus = join(lab.dir, 'sites-available', 'janus.roomler.live.conf');
      const newWs = `127.0.0.1:${lab.newPort('janus-ws')}`;
      writeFileSync(
        janus,
        readFileSync(janus, 'utf8').replace(
          `location /janus_ws { proxy_pass http://janus_ws_backend;`,
          `location /janus_ws { proxy_pass http://${newWs};`,
        ),
      );
      await lab.reload();
      const mixed = lab.confBytes();
      const serving = await lab.serving();
      expect(serving.filter((l) => l.endsWith(' new:janus-ws'))).toEqual(['janus.roomler.live/janus_ws new:janus-ws']);
      expect((await lab.cli(['status'])).stdout).toMatch(
        new RegExp(`^MIXED  ${lab.old('janus-ws')} -> janus-nodeport/websocket \\(${newWs}\\): 1 old, 1 new$`, 'm'),
      );

      const r = await lab.cli(['apply']);
      expect(r.code, r.stderr).toBe(0);
      expect(await lab.serving()).toEqual(Lab.all('new'));
      // The baseline proved each location where it pointed: `/janus_ws` on the new target, the upstream still on the old one.
      expect(r.stdout).toMatch(/^preflight: 7 verification request\(s\) pass on the current config/m);

      const back = await lab.cli(['rollback']);
      expect(back.code, back.stderr).toBe(0);
      expect(lab.confBytes()).toEqual(mixed);
      expect(await lab.serving()).toEqual(serving);
    });
  });

  it('drain waits for every connection to the old hosts, proves nginx -t without them, and only then says which containers can stop', async () => {
    await withLab(backends(), {}, async (lab) => {
      const early = await lab.cli(['drain']);
      expect(early.code).toBe(1);
      expect(early.stdout).toMatch(
        /drain: NOT safe to stop the old containers: these routes still point at the old backends: r00mler2:\d+ \(old\), .*; run cutover apply first/,
      );
      const call = await lab.ws('/janus_ws');
      expect((await lab.cli(['apply'])).code).toBe(0);
      expect(await call.say('still here')).toBe('old:janus-ws:still here');

      const timedOut = await lab.cli(['drain', '--timeout', '0.5', '--interval', '0.1']);
      expect(timedOut.code).toBe(3);
      expect(timedOut.stdout).toMatch(/drain: cut over and verified \(7 request\(s\) through nginx reach the new targets\)/);
      expect(timedOut.stdout).toContain(
        `established connections from nginx: r00mler2 0, janus_r 1 (port ${lab.old('janus-ws').split(':')[1]})`,
      );
      expect(timedOut.stdout).toMatch(/timed out after .*: still open: janus_r 1; do not stop janus_r yet/);

      let closed = false;
      const done = lab.cli(['drain', '--timeout', '30', '--interval', '0.1'], (child) =>
        child.stdout!.on('data', (d: Buffer) => {
          if (!closed && d.toString().includes('janus_r 1')) {
            closed = true;
            setTimeout(() => call.close(), 300);
          }
        }),
      );
      const r = await done;
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/established connections from nginx: r00mler2 0, janus_r 0/);
      // Real nginx -t, in nginx's own namespace, with the old names gone from its /etc/hosts and no DNS answering.
      expect(r.stdout).toMatch(/^drain: nginx -t passes with r00mler2, janus_r unresolvable \(as once their containers are gone\)$/m);
      expect(r.stdout).toMatch(/^drain: done after .*: no connections from nginx to r00mler2, janus_r; safe to stop: r00mler2, janus_r$/m);
    });
  });
});
