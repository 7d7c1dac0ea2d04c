import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { cleanupDirs, emptyDir, projectWith, treeBytes } from '../support/files';
import { ROOMLER as ROOMLER_BIN } from '../support/roomler';

afterAll(cleanupDirs);
const ROOT = join(__dirname, '..', '..');

// Site configs shaped like production: a map, an if, comments, quoted strings, an upstream block, an include.
const ROOMLER = `# roomler.live -> the app (was: proxy_pass http://r00mler2:3000;)
map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
}
server {
    listen 127.0.0.1:18080;
    server_name roomler.live;
    set $legacy "r00mler2:3000";   # a string, not a proxy target
    location / {
        if ($request_method = OPTIONS) { return 204; }
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_pass http://r00mler2:3000;
    }
    location /admin { proxy_pass "http://r00mler2:3000/admin"; }
}
`;
const JANUS = `upstream janus_ws_backend {
    server janus_r:8188 max_fails=3;
}
server {
    listen 127.0.0.1:18081;
    server_name janus.roomler.live;
    location /janus_ws { proxy_pass http://janus_ws_backend; proxy_http_version 1.1; }
    location /janus_http { proxy_pass http://janus_r:8088/janus; }
    include snippets/janus-admin.conf;
}
`;
const ADMIN = `location /janus_admin { proxy_pass http://janus_r:7188; }
location /janus_admin_http { proxy_pass http://janus_r:7088/admin; }
location / { proxy_pass http://janus_r:8080; }
`;

function setup(extra = '') {
  const nginx = emptyDir('roomler-nginx-');
  const confDir = join(nginx, 'conf.d');
  mkdirSync(join(nginx, 'snippets'), { recursive: true });
  mkdirSync(confDir);
  mkdirSync(join(nginx, 'logs'));
  writeFileSync(join(confDir, 'roomler.live.conf'), ROOMLER);
  writeFileSync(join(confDir, 'janus.roomler.live.conf'), JANUS);
  writeFileSync(join(nginx, 'snippets', 'janus-admin.conf'), ADMIN);
  writeFileSync(
    join(nginx, 'nginx.conf'),
    `pid ${nginx}/nginx.pid;\nerror_log ${nginx}/logs/error.log;\nevents {}\nhttp {\n  access_log off;\n  include ${confDir}/*.conf;\n}\n`,
  );
  const project = projectWith({
    'roomler.yaml': `nodeAddress: 127.0.0.1\ncutover:\n  nginx: { confDir: "${confDir}", command: [/usr/sbin/nginx, -p, "${nginx}", -c, "${nginx}/nginx.conf"] }\n${extra}`,
  });
  const cli = (...args: string[]) =>
    spawnSync(ROOMLER_BIN, ['cutover', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ROOMLER_PROJECT_DIR: project } });
  return { nginx, confDir, cli };
}

describe('npm run cutover -- plan / status (token-level rewrite, checked by real nginx -t)', () => {
  it('plan shows exactly the proxy targets that change, as a unified diff, and changes nothing', () => {
    const { nginx, cli } = setup();
    const before = treeBytes(nginx);
    const r = cli('plan');
    expect(r.status, r.stderr).toBe(0);
    // Paths as nginx includes them (relative to its config directory).
    expect(r.stdout).toContain(
      '--- a/conf.d/roomler.live.conf\n+++ b/conf.d/roomler.live.conf\n@@ -14 +14 @@\n-        proxy_pass http://r00mler2:3000;\n+        proxy_pass http://127.0.0.1:30030;\n',
    );
    expect(r.stdout).toContain(
      '-    location /admin { proxy_pass "http://r00mler2:3000/admin"; }\n+    location /admin { proxy_pass "http://127.0.0.1:30030/admin"; }',
    );
    expect(r.stdout).toContain('-    server janus_r:8188 max_fails=3;\n+    server 127.0.0.1:30818 max_fails=3;');
    // The admin API is off (the default), so its locations are retired: nginx answers 403 itself; only the directive
    // changes, and its `;` stays where it was.
    expect(r.stdout).toContain(
      '-location /janus_admin_http { proxy_pass http://janus_r:7088/admin; }\n+location /janus_admin_http { return 403; }',
    );
    expect(r.stdout).toMatch(
      /^note: janus\.roomler\.live\/janus_admin_http: retired \(the Janus admin API is off \(janus\.admin\.enabled: false\)\): nginx answers 403 there itself; each `proxy_pass` to janus_r:7088 becomes `return 403;`, and rollback restores it$/m,
    );
    // janus.roomler.live's `/` (janus_r:8080, nothing serves it in the Janus image) goes to the HTTP API NodePort.
    expect(r.stdout).toContain('-location / { proxy_pass http://janus_r:8080; }\n+location / { proxy_pass http://127.0.0.1:30808; }');
    expect(r.stdout).toMatch(/cutover plan: 7 proxy target\(s\) in 3 file\(s\)/);
    // The comment mentions r00mler2:3000 but is not a backend address; nor is the `set` value, as no proxy_pass
    // uses $legacy: it is reported and stays.
    expect(r.stdout).not.toMatch(/^-# roomler\.live/m);
    expect(r.stdout).not.toMatch(/^-.*set \$legacy/m);
    expect(r.stdout).toMatch(
      /^note: conf\.d\/roomler\.live\.conf:9: `set` gives \$legacy the old backend r00mler2:3000, but no proxy_pass or grpc_pass uses \$legacy: not a backend, left unchanged$/m,
    );
    expect(r.stdout).toMatch(/^backend addresses on the old hosts \(r00mler2, janus_r\): 7 routed, 0 kept, 0 unaccounted$/m);
    expect(r.stdout).toMatch(
      /^ {2}routed {7}snippets\/janus-admin\.conf:3 proxy_pass janus_r:8080 -> janus-nodeport\/http \(127\.0\.0\.1:30808\)$/m,
    );
    expect(treeBytes(nginx)).toEqual(before);
  });

  it('a CRLF file: the diff shows its lines without the carriage return, and the rewrite keeps every \\r', () => {
    const { confDir, cli } = setup();
    writeFileSync(join(confDir, 'roomler.live.conf'), ROOMLER.replace(/\n/g, '\r\n'));
    const r = cli('plan');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('@@ -14 +14 @@\n-        proxy_pass http://r00mler2:3000;\n+        proxy_pass http://127.0.0.1:30030;\n');
    expect(r.stdout).not.toContain('\r');
  });

  it('the rewritten files differ only in the target tokens, and real nginx accepts them', () => {
    const { nginx, confDir, cli } = setup();
    const diff = cli('plan').stdout;
    // Apply the diff's + lines and check every changed line is the old line with host:port swapped.
    for (const [file, base] of [
      [join(confDir, 'roomler.live.conf'), 'conf.d/roomler.live.conf'],
      [join(confDir, 'janus.roomler.live.conf'), 'conf.d/janus.roomler.live.conf'],
      [join(nginx, 'snippets', 'janus-admin.conf'), 'snippets/janus-admin.conf'],
    ]) {
      const lines = readFileSync(file, 'utf8').split('\n');
      const section = diff.split(`--- a/${base}\n`)[1]?.split('--- a/')[0] ?? '';
      for (const m of section.matchAll(/@@ -(\d+) \+\d+ @@\n-(.*)\n\+(.*)\n/g)) {
        const [old, next] = [m[2], m[3]];
        expect(lines[Number(m[1]) - 1]).toBe(old);
        // The admin API is off by default: its two locations answer 403 from nginx itself (the directive is replaced).
        const swapped = /janus_r:7[01]88/.test(old)
          ? old.replace(/proxy_pass [^;]*;/, 'return 403;')
          : old.replace(
              /(r00mler2:3000|janus_r:\d+)/,
              (hp) =>
                ({
                  'r00mler2:3000': '127.0.0.1:30030',
                  'janus_r:8088': '127.0.0.1:30808',
                  'janus_r:8080': '127.0.0.1:30808',
                  'janus_r:8188': '127.0.0.1:30818',
                })[hp]!,
            );
        expect(next).toBe(swapped);
        lines[Number(m[1]) - 1] = next;
      }
      writeFileSync(file, lines.join('\n'));
    }
    const t = spawnSync('/usr/sbin/nginx', ['-p', nginx, '-c', join(nginx, 'nginx.conf'), '-t'], { encoding: 'utf8' });
    expect(t.status, t.stderr).toBe(0);
    expect(t.stderr).toMatch(/syntax is ok/);
    const status = cli('status');
    expect(status.stdout).toMatch(/^new {4}r00mler2:3000 -> roomler\/http \(127\.0\.0\.1:30030\): 0 old, 2 new$/m);
    expect(cli('plan').stdout).toMatch(/already cut over; nothing would change/);
  });

  it('status shows every route still on the old backends before the cutover', () => {
    const r = setup().cli('status');
    expect(r.stdout).toMatch(/^old {4}janus_r:8188 -> janus-nodeport\/websocket \(127\.0\.0\.1:30818\): 1 old, 0 new$/m);
    expect(r.stdout).toMatch(/^old hosts in conf\.d\/janus\.roomler\.live\.conf: 2 routed, 0 kept, 0 unaccounted$/m);
  });

  it('aborts when a route does not match what it expects per file', () => {
    const { cli } = setup('  routes:\n    - { from: "r00mler2:3000", to: roomler/http, expect: { roomler.live.conf: 1 } }\n');
    const r = cli('plan');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/route r00mler2:3000 -> roomler\/http: expected 1 match\(es\) in roomler\.live\.conf, found 2/);
  });

  it('every backend address on an old host must be routed or kept: plan names the others with file:line and the config that fixes it', () => {
    const { confDir, cli } = setup(
      '  routes:\n    - { from: "r00mler2:3000", to: roomler/http }\n    - { from: "janus_r:8088", to: janus-nodeport/http }\n    - { from: "janus_r:8188", to: janus-nodeport/websocket }\n  kept:\n    - { target: "janus_r:7088", reason: "the admin UI stays on the old host this week" }\n',
    );
    writeFileSync(
      join(confDir, 'stats.conf'),
      'map $arg_v $stats_backend {\n    default "http://janus_r:7777";\n}\nserver { listen 127.0.0.1:18082; location /stats { proxy_pass $stats_backend; } }\n',
    );
    const r = cli('plan');
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^backend addresses on the old hosts \(r00mler2, janus_r\): 4 routed, 1 kept, 3 unaccounted$/m);
    expect(r.stdout).toMatch(
      /^ {2}kept {9}snippets\/janus-admin\.conf:2 proxy_pass janus_r:7088: the admin UI stays on the old host this week$/m,
    );
    expect(r.stderr).toMatch(
      /3 backend address\(es\) on the old hosts are neither routed nor kept; once those containers stop, nginx -t fails/,
    );
    expect(r.stderr).toMatch(/^ {4}conf\.d\/stats\.conf:2: map janus_r:7777$/m);
    expect(r.stderr).toMatch(/^ {4}snippets\/janus-admin\.conf:1: proxy_pass janus_r:7188$/m);
    expect(r.stderr).toMatch(/^ {4}snippets\/janus-admin\.conf:3: proxy_pass janus_r:8080$/m);
    // The fix, ready to paste: the routes list (it replaces the defaults) with one entry more each, or kept entries.
    expect(r.stderr).toMatch(
      / {8}- \{ from: "janus_r:8188", to: janus-nodeport\/websocket \}\n {8}- \{ from: "janus_r:7188", to: <roomler\/http \| janus-nodeport\/http \| janus-nodeport\/websocket> \}\n/,
    );
    expect(r.stderr).toMatch(/ {8}- \{ target: "janus_r:7777", reason: "<why it stays>" \}/);
    const apply = cli('apply', '--yes');
    expect(apply.status).toBe(1);
    expect(apply.stderr).toMatch(/nothing was changed:\n {2}3 backend address\(es\) on the old hosts are neither routed nor kept/);
    expect(cli('status').stdout).toMatch(
      /^old hosts in conf\.d\/stats\.conf: 0 routed, 0 kept, 1 unaccounted: apply refuses until each is routed or kept \(see plan\)$/m,
    );
  });

  it('a # inside a word is not a comment (nginx starts one only where a word could start): the proxy_pass after it moves', () => {
    const { confDir, cli } = setup();
    writeFileSync(
      join(confDir, 'hash.conf'),
      'server {\n  listen 127.0.0.1:18083;\n  location /app {\n    add_header X-Hash-Route /#/home;\n    proxy_pass http://r00mler2:3000;\n  }\n}\n',
    );
    const r = cli('plan');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      '--- a/conf.d/hash.conf\n+++ b/conf.d/hash.conf\n@@ -5 +5 @@\n-    proxy_pass http://r00mler2:3000;\n+    proxy_pass http://127.0.0.1:30030;\n',
    );
    expect(r.stdout).toMatch(/^ {2}routed {7}conf\.d\/hash\.conf:5 proxy_pass r00mler2:3000 -> roomler\/http/m);
  });

  it('a config nginx cannot read stops plan with the file and line nginx names, never a hang', () => {
    const { confDir, cli } = setup();
    writeFileSync(
      join(confDir, 'broken.conf'),
      'server {\n  location / {\n    return 200 ${unclosed;\n    proxy_pass "http://r00mler2:3000;\n  }\n}\n',
    );
    const r = cli('plan');
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      `cutover: ${join(confDir, 'broken.conf')}:7: unexpected end of file, expecting ";" or "}" (nginx -t would refuse this file too)`,
    ]);
  });

  it('a set or map value is a backend exactly when a proxy_pass uses its variable: then it is rewritten, accounted and verified', () => {
    const { confDir, cli } = setup();
    const text = ROOMLER.replace(
      'location /admin { proxy_pass "http://r00mler2:3000/admin"; }',
      'location /legacy { set $hop $legacy; proxy_pass http://$hop/legacy; }',
    );
    writeFileSync(join(confDir, 'roomler.live.conf'), text);
    const r = cli('plan');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      '@@ -9 +9 @@\n-    set $legacy "r00mler2:3000";   # a string, not a proxy target\n+    set $legacy "127.0.0.1:30030";   # a string, not a proxy target\n',
    );
    expect(r.stdout).toMatch(/^ {2}routed {7}conf\.d\/roomler\.live\.conf:9 set r00mler2:3000 -> roomler\/http \(127\.0\.0\.1:30030\)$/m);
    expect(r.stdout).not.toMatch(/^note: .*\$legacy/m);
    // Through two variables to the location that sends requests there: it gets a check of its own.
    expect(r.stdout).toMatch(
      /verify: GET http:\/\/roomler\.live\/legacy via 127\.0\.0\.1:18080 expects < 500 \[conf\.d\/roomler\.live\.conf:16 location \/legacy\]/,
    );
  });

  it('plan lists the checks apply will run, one request per location by default', () => {
    const r = setup().cli('plan');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ {2}preflight: TCP connect to 127\.0\.0\.1:30030 \(roomler\/http\)$/m);
    const verify = r.stdout.split('\n').filter((l) => l.startsWith('  verify: '));
    expect(verify).toEqual([
      '  verify: GET http://roomler.live/ via 127.0.0.1:18080 expects < 500 [conf.d/roomler.live.conf:14 location /]',
      '  verify: GET http://roomler.live/admin via 127.0.0.1:18080 expects < 500 [conf.d/roomler.live.conf:16 location /admin]',
      '  verify: GET http://janus.roomler.live/janus_http via 127.0.0.1:18081 expects < 500 [conf.d/janus.roomler.live.conf:8 location /janus_http]',
      '  verify: WebSocket ws://janus.roomler.live/janus_ws via 127.0.0.1:18081 (janus-protocol) expects 101 [conf.d/janus.roomler.live.conf:7 location /janus_ws]',
      '  verify: GET http://janus.roomler.live/janus_admin_http via 127.0.0.1:18081 expects 403 [snippets/janus-admin.conf:2 location /janus_admin_http] (retired: nginx answers itself)',
      '  verify: GET http://janus.roomler.live/janus_admin via 127.0.0.1:18081 expects 403 [snippets/janus-admin.conf:1 location /janus_admin] (retired: nginx answers itself)',
      '  verify: GET http://janus.roomler.live/ via 127.0.0.1:18081 expects < 500 [snippets/janus-admin.conf:3 location /] (after the change only: baseline: false)',
    ]);
  });

  it('retires the admin locations while the admin API is off; warns that they stay public once it is enabled', () => {
    const off = setup().cli('plan');
    expect(off.status, off.stderr).toBe(0);
    expect(off.stdout.split('\n').filter((l) => l.startsWith('warning: '))).toEqual([]);
    expect(off.stdout.split('\n').filter((l) => /^note: .*: retired /.test(l))).toEqual([
      expect.stringMatching(/^note: janus\.roomler\.live\/janus_admin_http: retired .*nginx answers 403 there itself/),
      expect.stringMatching(/^note: janus\.roomler\.live\/janus_admin: retired .*each `proxy_pass` to janus_r:7188 becomes `return 403;`/),
    ]);
    // Nothing to connect to for a retired route; after the change each location is asked with a plain GET for 403.
    expect(off.stdout).not.toMatch(/preflight: TCP connect to 127\.0\.0\.1:71?88/);
    const on = setup('janus:\n  admin: { enabled: true, bindAddress: 10.0.0.11, allowFrom: [10.0.0.5] }\n').cli('plan');
    expect(on.stdout).toContain('+location /janus_admin_http { proxy_pass http://10.0.0.11:7088/admin; }');
    expect(on.stdout).toMatch(
      /^warning: janus\.roomler\.live\/janus_admin_http stays public in nginx: .* at 10\.0\.0\.11:7088, guarded only by Janus's admin_secret and admin_acl \(10\.0\.0\.5\), which admits nginx.*allow 127\.0\.0\.1; allow <admin address>; deny all;.*route them to `retired`/m,
    );
  });

  it('a regex location cannot be requested by default: plan says to give the route a verify list, and uses it once given', () => {
    const { confDir, cli } = setup();
    writeFileSync(
      join(confDir, 'roomler.live.conf'),
      ROOMLER.replace('location /admin {', 'location ~ ^/admin/(.*)$ {').replace('"http://r00mler2:3000/admin"', '"http://r00mler2:3000"'),
    );
    const r = cli('plan');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /route r00mler2:3000 -> roomler\/http: conf\.d\/roomler\.live\.conf:16 location ~ \^\/admin\/\(\.\*\)\$ cannot be requested by default \(a regex or named location\); give the route a verify list/,
    );
    const project = join(confDir, '..', 'with-verify');
    mkdirSync(project);
    writeFileSync(
      join(project, 'roomler.yaml'),
      readFileSync(join(ROOT, 'roomler.example.yaml'), 'utf8')
        .replace(/^nodeAddress:.*$/m, 'nodeAddress: 127.0.0.1')
        .replace('confDir: /etc/nginx/conf.d', `confDir: ${confDir}`)
        .replace(
          '{ from: "r00mler2:3000", to: roomler/http }',
          '{ from: "r00mler2:3000", to: roomler/http, verify: [{ path: /admin/x, status: 200 }] }',
        ),
    );
    const ok = spawnSync(ROOMLER_BIN, ['cutover', 'plan'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, ROOMLER_PROJECT_DIR: project },
    });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('  verify: GET http://roomler.live/admin/x via 127.0.0.1:18080 expects 200 [cutover.routes[0].verify[0]]');
  });

  it('bad cutover settings are reported all at once, each naming the file, line and field; nothing runs', () => {
    const { cli } = setup(
      '  drain: { intervalSeconds: 0 }\n  routes:\n    - { from: "r00mler2:3000", to: roomler/http, verify: [{ path: health, status: 99 }] }\n',
    );
    const r = cli('apply');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/roomler\.yaml:\d+:\d+: cutover\.drain\.intervalSeconds: Too small/);
    expect(r.stderr).toMatch(/roomler\.yaml:\d+:\d+: cutover\.routes\[0\]\.verify\[0\]\.path: must start with \//);
    expect(r.stderr).toMatch(/roomler\.yaml:\d+:\d+: cutover\.routes\[0\]\.verify\[0\]\.status: Too small/);
    expect(cli('bogus').status).toBe(2);
  });
});
