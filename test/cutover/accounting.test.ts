import { existsSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { useBackends } from './support/hooks';
import { freePort, Lab, type LabOptions, withLab } from './support/lab';

// Every backend address on the old hosts must be accounted for. The lab's config mirrors production
// (`/` -> janus_r's port the Janus image does not serve, the admin locations, an upstream block, a `set` value) and
// adds two more: a third old container, legacy_static, which stays on purpose (kept), and a Janus stats location
// nobody listed (unaccounted). Real nginx in its own mount namespace, where only it can resolve the old names.

const backends = useBackends([
  { name: 'old:static', port: 0, host: '127.0.0.4' },
  { name: 'old:stats', port: 0, host: '127.0.0.3', hold: '/janus_stats/slow' },
]);

const stamps = (lab: Lab) =>
  existsSync(join(lab.dir, 'backups')) ? readdirSync(join(lab.dir, 'backups')).filter((n) => /^\d{8}T\d{6}\.\d{3}Z$/.test(n)) : [];

/** A GET to the extra server block, on a fresh connection; resolves with the answering backend. */
const getExtra = (port: number, path: string) =>
  new Promise<string>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false, headers: { Host: 'extra.roomler.live' } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(body.split(' ')[0]));
      })
      .on('error', reject);
  });

/** The production-shaped lab plus the kept and the unaccounted addresses; `route` adds the missing route. */
async function options(route: boolean, extra: Partial<LabOptions> = {}): Promise<LabOptions & { extraListen: number }> {
  const stats = `janus_r:${backends().ports['old:stats']}`;
  const statics = `legacy_static:${backends().ports['old:static']}`;
  const extraListen = await freePort();
  return {
    extraListen,
    extraHosts: { legacy_static: '127.0.0.4' },
    extraConf: {
      '50-extra.conf': `# the old stack's leftovers\nserver {\n    listen 127.0.0.1:${extraListen};\n    server_name extra.roomler.live;\n    location /downloads { proxy_pass http://${statics}; }\n    location /janus_stats { proxy_pass http://${stats}; }\n}\n`,
    },
    cutoverExtra: `  oldHosts: [legacy_static]\n  kept:\n    - { target: legacy_static, reason: "serves /downloads until the archive moves" }\n`,
    ...(route
      ? {
          extraRoutes: `    - { from: "${stats}", to: janus-nodeport/http, verify: [{ path: /janus_stats/x, host: extra.roomler.live, address: "127.0.0.1:${extraListen}" }] }\n`,
        }
      : {}),
    ...extra,
  };
}

describe('cutover: every old backend accounted for (real nginx, production-shaped config)', () => {
  it('apply refuses while an address is unaccounted, naming it with file:line, and writes nothing', async () => {
    await withLab(backends(), await options(false), async (lab) => {
      const before = lab.confBytes();
      const plan = await lab.cli(['plan']);
      expect(plan.code).toBe(1);
      expect(plan.stdout).toMatch(
        /^backend addresses on the old hosts \(r00mler2, janus_r, legacy_static\): 7 routed, 1 kept, 1 unaccounted$/m,
      );
      expect(plan.stdout).toMatch(
        /^ {2}kept {9}conf\.d\/50-extra\.conf:5 proxy_pass legacy_static:\d+: serves \/downloads until the archive moves$/m,
      );
      expect(plan.stdout).toMatch(/^ {2}UNACCOUNTED {2}conf\.d\/50-extra\.conf:6 proxy_pass janus_r:\d+$/m);
      // The route the Janus image does not serve (`/`) is routed by default, to the HTTP API NodePort.
      expect(plan.stdout).toMatch(
        /^ {2}routed {7}conf\.d\/janus\.roomler\.live\.conf:\d+ proxy_pass janus_r:\d+ -> janus-nodeport\/http /m,
      );
      const r = await lab.cli(['apply']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(
          `nothing was changed:\\n {2}1 backend address\\(es\\) on the old hosts are neither routed nor kept.*\\n {4}conf\\.d/50-extra\\.conf:6: proxy_pass janus_r:${backends().ports['old:stats']}\\n`,
        ),
      );
      expect(r.stderr).toMatch(/- \{ target: "janus_r:\d+", reason: "<why it stays>" \}/);
      expect(lab.confBytes()).toEqual(before);
      expect(stamps(lab)).toEqual([]);
      expect(await lab.serving()).toEqual(Lab.all('old'));
    });
  });

  it('with a route for it, apply moves it and leaves the kept one; rollback is byte-identical', async () => {
    await withLab(backends(), await options(true), async (lab) => {
      const before = lab.confBytes();
      const r = await lab.cli(['apply']);
      expect(r.code, r.stderr).toBe(0);
      const after = lab.confBytes()['conf.d/50-extra.conf'];
      expect(after).toContain(`proxy_pass http://legacy_static:${backends().ports['old:static']};`);
      expect(after).toMatch(/location \/janus_stats \{ proxy_pass http:\/\/127\.0\.0\.1:\d+; \}/);
      expect((await lab.cli(['status'])).stdout).toMatch(/^old hosts in conf\.d\/50-extra\.conf: 0 routed, 1 kept, 0 unaccounted$/m);
      const back = await lab.cli(['rollback']);
      expect(back.code, back.stderr).toBe(0);
      expect(lab.confBytes()).toEqual(before);
      expect(await lab.serving()).toEqual(Lab.all('old'));
    });
  });

  it('drain waits for every port of the old hosts, skips the kept host, and proves nginx -t without the others', async () => {
    const o = await options(true);
    await withLab(backends(), o, async (lab) => {
      // A request in flight to the stats port: after the reload the old worker still holds it.
      const held = getExtra(o.extraListen, '/janus_stats/slow');
      const count = backends().events.filter((e) => e.held === 'old:stats').length;
      await backends().heldBy('old:stats', count + 1);
      expect((await lab.cli(['apply'])).code).toBe(0);
      const port = backends().ports['old:stats'];
      const done = lab.cli(['drain', '--timeout', '30', '--interval', '0.1'], (child) => {
        let released = false;
        child.stdout!.on('data', (d: Buffer) => {
          if (!released && d.toString().includes(`janus_r 1 (port ${port})`)) {
            released = true;
            setTimeout(() => backends().release(), 300);
          }
        });
      });
      const r = await done;
      expect(await held).toBe('old:stats');
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(
        /^drain: legacy_static stays \(kept: serves \/downloads until the archive moves\); its connections are not waited for$/m,
      );
      expect(r.stdout).toContain(`established connections from nginx: r00mler2 0, janus_r 1 (port ${port}), legacy_static 0`);
      expect(r.stdout).toMatch(/^drain: nginx -t passes with r00mler2, janus_r unresolvable \(as once their containers are gone\)$/m);
      expect(r.stdout).toMatch(/safe to stop: r00mler2, janus_r; keep running: legacy_static$/m);
    });
  });

  it("drain refuses when nginx -t would fail without the old hosts: nginx.conf itself names one, out of the cutover's sight", async () => {
    const httpExtra = `    server { listen 127.0.0.1:1; server_name forgotten.roomler.live; location / { proxy_pass http://janus_r:9; } }\n`;
    await withLab(backends(), await options(true, { httpExtra }), async (lab) => {
      expect((await lab.cli(['apply'])).code).toBe(0);
      const r = await lab.cli(['drain', '--timeout', '5', '--interval', '0.1']);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(
        /drain: NOT safe to stop the old containers: nginx -t fails with r00mler2, janus_r unresolvable, so the next reload or restart would fail once they stop:\n {2}.*host not found in upstream "janus_r" in .*nginx\.conf:\d+/,
      );
      expect(r.stdout).not.toMatch(/safe to stop: /);
    });
  });
});
