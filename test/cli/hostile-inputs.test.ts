import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cleanupDirs, emptyDir } from '../support/files';
import { ROOMLER, ROOT } from '../support/roomler';

// Every command, given hostile operator input, refuses it as an operator error: exit 1 (or 2 for a bad flag value),
// a message that names the file (or variable) at fault, no stack trace (exit 70 is reserved for bugs), and nothing
// written. Runs as root, so "unreadable" takes root's DAC override away with setpriv, as a normal user would be.
afterAll(cleanupDirs);

const WITHOUT_DAC_OVERRIDE = ['setpriv', '--bounding-set=-dac_override,-dac_read_search'];
const SECRETS = 'MONGO_ROOT_USERNAME=root\nMONGO_ROOT_PASSWORD=pw\nCOTURN_AUTH_SECRET=turn\n';

interface Case {
  /** What is hostile. */
  readonly name: string;
  /** Writes the project dir's files; returns extra environment and the text the message must name. */
  readonly setup: (dir: string) => { env?: Record<string, string>; names: string; unreadable?: boolean };
}

function run(dir: string, args: readonly string[], env: Record<string, string> = {}, unreadable = false) {
  const [cmd, argv] = unreadable ? [WITHOUT_DAC_OVERRIDE[0], [...WITHOUT_DAC_OVERRIDE.slice(1), ROOMLER, ...args]] : [ROOMLER, [...args]];
  return spawnSync(cmd, argv, { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ROOMLER_PROJECT_DIR: dir, ...env } });
}

/** `run` in the background: the commands of one case run side by side. */
function runAsync(
  dir: string,
  args: readonly string[],
  env: Record<string, string> = {},
  unreadable = false,
): Promise<{ status: number | null; stderr: string }> {
  const [cmd, argv] = unreadable ? [WITHOUT_DAC_OVERRIDE[0], [...WITHOUT_DAC_OVERRIDE.slice(1), ROOMLER, ...args]] : [ROOMLER, [...args]];
  return new Promise((done) => {
    const child = spawn(cmd, argv, {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ROOMLER_PROJECT_DIR: dir, ...env },
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => done({ status, stderr }));
  });
}

/** Exit 1 or 2, the file named, no trace, and `mustNotExist` never created. */
function expectRefused(r: { status: number | null; stderr: string }, names: string, what: string, mustNotExist: readonly string[] = []) {
  expect([1, 2], `${what}: exit ${r.status}\n${r.stderr}`).toContain(r.status);
  expect(r.stderr, what).not.toMatch(/unexpected error|^\s+at .*:\d+:\d+\)?$/m);
  expect(r.stderr, what).toContain(names);
  for (const p of mustNotExist) expect(existsSync(p), `${what}: ${p} was created`).toBe(false);
}

const CONFIG_CASES: Case[] = [
  {
    name: 'roomler.yaml is a directory',
    setup: (d) => (mkdirSync(join(d, 'roomler.yaml')), { names: `${join(d, 'roomler.yaml')} is a directory` }),
  },
  {
    name: 'roomler.yaml is a dangling symlink',
    setup: (d) => (
      symlinkSync(join(d, 'gone.yaml'), join(d, 'roomler.yaml')),
      { names: `${join(d, 'roomler.yaml')} is a dangling symlink` }
    ),
  },
  {
    name: 'roomler.yaml is a symlink loop',
    setup: (d) => (
      symlinkSync(join(d, 'roomler.yaml'), join(d, 'roomler.yaml')),
      { names: `${join(d, 'roomler.yaml')} is a symlink loop` }
    ),
  },
  {
    name: 'roomler.yaml is not UTF-8',
    setup: (d) => (
      writeFileSync(join(d, 'roomler.yaml'), Buffer.from('name: roomler\ndomains: { app: "r\xffx.live" }\n', 'latin1')),
      { names: 'is not valid UTF-8: byte 32 (line 2, column 19) is 0xff' }
    ),
  },
  {
    name: 'roomler.yaml aliases a missing anchor',
    setup: (d) => (writeFileSync(join(d, 'roomler.yaml'), 'name: *nope\n'), { names: `${join(d, 'roomler.yaml')}: YAML` }),
  },
  {
    name: 'roomler.yaml is an alias bomb',
    setup: (d) => {
      const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
      for (let i = 1; i < 8; i++)
        lines.push(
          `a${i}: &a${i} [${Array(10)
            .fill(`*a${i - 1}`)
            .join(', ')}]`,
        );
      writeFileSync(join(d, 'roomler.yaml'), `${lines.join('\n')}\n`);
      return { names: 'at most 100 alias expansions' };
    },
  },
  {
    name: 'an empty value',
    setup: (d) => (writeFileSync(join(d, 'roomler.yaml'), 'nodeAddress: ""\n'), { names: `${join(d, 'roomler.yaml')}:1:14: nodeAddress` }),
  },
  {
    name: 'ROOMLER_CONFIG names no file',
    setup: (d) => ({
      env: { ROOMLER_CONFIG: join(d, 'missing.yaml') },
      names: `ROOMLER_CONFIG: config file ${join(d, 'missing.yaml')} does not exist`,
    }),
  },
  { name: '.env is a directory', setup: (d) => (mkdirSync(join(d, '.env')), { names: `${join(d, '.env')} is a directory` }) },
  {
    name: '.env is a dangling symlink',
    setup: (d) => (symlinkSync(join(d, 'gone.env'), join(d, '.env')), { names: `${join(d, '.env')} is a dangling symlink` }),
  },
  {
    name: '.env is not UTF-8',
    setup: (d) => (
      writeFileSync(join(d, '.env'), Buffer.from('URL=https://r\xe9.live\n', 'latin1')),
      { names: `${join(d, '.env')} is not valid UTF-8: byte 13 (line 1, column 14)` }
    ),
  },
  {
    name: 'roomler.yaml is unreadable',
    setup: (d) => (
      writeFileSync(join(d, 'roomler.yaml'), 'name: roomler\n', { mode: 0o000 }),
      { names: `${join(d, 'roomler.yaml')} is not readable`, unreadable: true }
    ),
  },
];

const COMMANDS: readonly (readonly string[])[] = [['synth'], ['cutover', 'plan'], ['migrate', 'plan'], ['secrets', 'apply', '--dry-run']];

describe('hostile input: every command refuses it as an operator error, naming the file, with no stack trace', () => {
  for (const c of CONFIG_CASES) {
    it(`${c.name}: ${COMMANDS.map((x) => x.join(' ')).join(', ')}`, async () => {
      const runs = COMMANDS.map(async (args) => {
        const dir = emptyDir('roomler-hostile-');
        const { env, names, unreadable } = c.setup(dir);
        expectRefused(await runAsync(dir, args, env, unreadable), names, `${args.join(' ')} with ${c.name}`, [join(dir, 'dist')]);
      });
      await Promise.all(runs);
    });
  }

  it('validate: a missing path, a non-UTF-8 file and an unreadable file', () => {
    const dir = emptyDir('roomler-hostile-');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, Buffer.from('kind: ConfigMap\nmetadata: { name: "\xff" }\n', 'latin1'));
    const locked = join(dir, 'locked.yaml');
    writeFileSync(locked, 'kind: ConfigMap\n', { mode: 0o000 });
    expectRefused(run(dir, ['validate', join(dir, 'missing.yaml')]), join(dir, 'missing.yaml'), 'validate missing');
    expectRefused(run(dir, ['validate', bad]), `${bad} is not valid UTF-8`, 'validate non-UTF-8');
    expectRefused(run(dir, ['validate', locked], {}, true), `${locked} is not readable`, 'validate unreadable');
  });

  it('cutover plan: NGINX_CONF_DIR that is a file, a dangling include, an unclosed ${ or quote', () => {
    const cases: [string, (d: string) => string][] = [
      ['a file', (d) => (writeFileSync(join(d, 'conf'), 'x'), join(d, 'conf'))],
      [
        'a dangling symlink inside',
        (d) => (
          mkdirSync(join(d, 'conf.d')),
          symlinkSync(join(d, 'nowhere.conf'), join(d, 'conf.d', 'site.conf')),
          join(d, 'conf.d', 'site.conf')
        ),
      ],
      [
        'an unclosed quote',
        (d) => (
          mkdirSync(join(d, 'conf.d')),
          writeFileSync(join(d, 'conf.d', 'site.conf'), 'server {\n  set $a ${x;\n  return 200 "open;\n}\n'),
          `${join(d, 'conf.d', 'site.conf')}:5: unexpected end of file`
        ),
      ],
    ];
    for (const [what, make] of cases) {
      const dir = emptyDir('roomler-hostile-');
      const names = make(dir);
      const confDir = what === 'a file' ? join(dir, 'conf') : join(dir, 'conf.d');
      expectRefused(run(dir, ['cutover', 'plan'], { NGINX_CONF_DIR: confDir }), names, `cutover plan with ${what}`);
    }
  });
});

describe("secrets seal --cert: only the controller's RSA certificate, checked before anything is written", () => {
  const certs = new Map<string, string>();
  beforeAll(() => {
    const d = emptyDir('roomler-certs-');
    const sh = (script: string) => execFileSync('bash', ['-c', script], { cwd: d, stdio: 'pipe' });
    sh('openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out soon.pem -subj /CN=sealed-secret -days 10');
    sh('openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa2.key -out good.pem -subj /CN=sealed-secret -days 3650');
    sh(
      'openssl req -new -key rsa.key -subj /CN=sealed-secret -out r.csr && openssl x509 -req -in r.csr -signkey rsa.key -days -1 -out expired.pem',
    );
    sh('openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec.key -out ec.pem -subj /CN=ec -days 30');
    sh('openssl x509 -in good.pem -outform der -out good.der');
    sh('head -c 600 good.pem > truncated.pem; : > empty.pem; echo "not a certificate" > text.pem; mkdir dir.pem');
    for (const f of [
      'soon.pem',
      'good.pem',
      'expired.pem',
      'ec.pem',
      'good.der',
      'truncated.pem',
      'empty.pem',
      'text.pem',
      'dir.pem',
      'rsa.key',
    ])
      certs.set(f, join(d, f));
    certs.set('missing.pem', join(d, 'missing.pem'));
  });

  const project = () => {
    const dir = emptyDir('roomler-seal-');
    writeFileSync(join(dir, '.env'), SECRETS);
    return dir;
  };

  it.each([
    ['missing.pem', 'does not exist'],
    ['dir.pem', 'is a directory'],
    ['empty.pem', 'is empty'],
    ['text.pem', 'is not a PEM certificate'],
    ['rsa.key', 'is a private key, not a certificate'],
    ['truncated.pem', 'is a truncated PEM certificate'],
    ['good.der', 'looks like DER'],
    ['ec.pem', 'has a EC key: the sealed-secrets controller uses RSA'],
    ['expired.pem', 'expired on'],
  ])('%s is refused: %s; sealed/ is not created', (file, reason) => {
    const dir = project();
    const r = run(dir, ['secrets', 'seal', '--cert', certs.get(file)!]);
    expectRefused(r, `--cert ${certs.get(file)} ${reason}`, file, [join(dir, 'sealed'), join(dir, '.sealed-cache.json')]);
    expect(r.status).toBe(2);
  });

  it('a certificate expiring within 30 days seals with a warning; a good one without', () => {
    const soon = run(project(), ['secrets', 'seal', '--cert', certs.get('soon.pem')!]);
    expect(soon.status, soon.stderr).toBe(0);
    expect(soon.stdout).toMatch(/secrets: warning: --cert .*soon\.pem expires on .* \(in 9 day\(s\)\)/);
    const good = run(project(), ['secrets', 'seal', '--cert', certs.get('good.pem')!]);
    expect(good.status, good.stderr).toBe(0);
    expect(good.stdout).not.toMatch(/warning/);
  });
});

describe('a broken kubeconfig names the file, the context asked for and the contexts there', () => {
  it('garbage, a current-context that does not exist, and --context naming none', () => {
    const dir = emptyDir('roomler-kube-');
    const garbage = join(dir, 'garbage');
    writeFileSync(garbage, '{ this is: [not a kubeconfig');
    const dangling = join(dir, 'dangling');
    writeFileSync(
      dangling,
      'apiVersion: v1\nkind: Config\ncurrent-context: gone\nclusters: []\ncontexts:\n- name: staging\n  context: { cluster: c, user: u }\nusers: []\n',
    );
    writeFileSync(join(dir, '.env'), SECRETS);
    const g = run(dir, ['secrets', 'apply', '--yes'], { KUBECONFIG: garbage });
    expectRefused(g, `cannot read the kubeconfig ${garbage}`, 'garbage kubeconfig');
    const c = run(dir, ['secrets', 'apply', '--yes'], { KUBECONFIG: dangling });
    expectRefused(c, `${dangling}: current-context "gone" does not exist (contexts there: staging)`, 'missing current-context');
    const x = run(dir, ['secrets', 'apply', '--context', 'production', '--yes'], { KUBECONFIG: dangling });
    expectRefused(
      x,
      `${dangling}: context "production" (--context or the instance's context:) does not exist (contexts there: staging)`,
      '--context production',
    );
  });
});
