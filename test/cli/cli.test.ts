import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { labBin, useCluster } from '../support/cluster';
import { cleanupDirs, emptyDir, projectWith } from '../support/files';
import { kubectlSpy } from '../support/kubectl-spy';
import { ROOMLER, ROOT } from '../support/roomler';

afterAll(cleanupDirs);

// Every command as a user runs it: `bin/roomler …`, with a recording kubectl first on PATH (it runs the real one
// where a test gives a cluster, and fails like a missing kubectl otherwise).

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly calls: string[];
}

const ENV = 'MONGO_ROOT_USERNAME=root\nMONGO_ROOT_PASSWORD=pw\nCOTURN_AUTH_SECRET=turn\n';

/** A project as an operator has it: .env and the committed dist/. */
function project(): string {
  const dir = projectWith({ '.env': ENV });
  cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
  return dir;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}, realKubectl?: string): Promise<Result> {
  const spy = kubectlSpy(realKubectl);
  const dir = (env.ROOMLER_PROJECT_DIR as string | undefined) ?? project();
  return new Promise((resolve) => {
    const child = spawn(ROOMLER, args, {
      cwd: ROOT,
      env: { ...process.env, ROOMLER_PROJECT_DIR: dir, ...env, PATH: `${spy.dir}:${env.PATH ?? process.env.PATH}` },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr, calls: spy.calls() }));
  });
}

/** Every runnable command path, discovered from the help texts themselves. */
async function leafCommands(): Promise<string[][]> {
  const top = await run(['--help']);
  const names = [
    ...top.stdout
      .split('commands:\n')[1]
      .split('\n\n')[0]
      .matchAll(/^ {2}(\S+)/gm),
  ].map((m) => m[1]);
  const leaves: string[][] = [];
  for (const name of names) {
    const h = await run([name, '--help']);
    const section = h.stdout.split('commands:\n')[1];
    if (!section) leaves.push([name]);
    else for (const m of section.split('\n\n')[0].matchAll(/^ {2}(\S+)/gm)) leaves.push([name, m[1]]);
  }
  return leaves;
}

describe('bin/roomler: help, strict flags, no side effects before the arguments are understood', () => {
  it('lists every command; `--version` and `-V` print the version; no command is a usage error', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: bin\/roomler <command> \[options\]/);
    for (const c of ['synth', 'validate', 'deploy', 'diff', 'doctor', 'secrets', 'argocd', 'migrate', 'backup', 'cutover', 'lab'])
      expect(help.stdout).toMatch(new RegExp(`^  ${c} +\\S`, 'm'));
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    for (const v of [['--version'], ['-V'], ['deploy', '--version']]) expect((await run(v)).stdout).toBe(`${pkg.name} ${pkg.version}\n`);
    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^usage: bin\/roomler/);
    const typo = await run(['deplyo']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/unknown command "deplyo" \(one of: synth, validate, deploy/);
  });

  it('every command: --help and -h on stdout with exit 0, each option with its default and an example; a bad flag exits 2 and calls nothing', async () => {
    const leaves = await leafCommands();
    for (const known of [
      'synth',
      'validate',
      'deploy apply',
      'diff',
      'doctor',
      'secrets apply',
      'secrets seal',
      'secrets tls',
      'argocd retire',
      'migrate mongo',
      'migrate uploads',
      'backup run',
      'backup verify',
      'backup install',
      'cutover plan',
      'cutover apply',
      'cutover status',
      'cutover drain',
      'cutover rollback',
      'lab up',
      'lab down',
      'lab env',
    ]) {
      expect(leaves.map((l) => l.join(' '))).toContain(known);
    }
    for (const path of leaves) {
      const label = path.join(' ');
      for (const flag of ['--help', '-h']) {
        const h = await run([...path, flag]);
        expect(h.code, `${label} ${flag}: ${h.stderr}`).toBe(0);
        expect(h.stderr, label).toBe('');
        expect(h.stdout, label).toMatch(new RegExp(`^usage: bin/roomler ${label} \\[options\\]`));
        expect(h.stdout, label).toMatch(/\nexamples?:\n {2}\S/);
        // Every option line but --help names its default (or says it is required / off).
        const options = h.stdout
          .split('\noptions:\n')[1]
          .split('\n\n')[0]
          .split('\n')
          .filter((l) => /^ {2}(-\w, )?--|^ {6}--/.test(l) && !/--help/.test(l));
        for (const line of options) expect(line, `${label}: ${line}`).toMatch(/\((default: .+|required)\)$/);
        expect(h.calls, label).toEqual([]);
      }
      const bad = await run([...path, '--bogus']);
      expect(bad.code, label).toBe(2);
      expect(bad.stdout, label).toBe('');
      expect(bad.stderr, label).toMatch(new RegExp(`^${label}: unknown option --bogus\\n\\nusage: bin/roomler ${label}`));
      expect(bad.calls, label).toEqual([]);
    }
  }, 120_000);

  it('a typo, a missing value or a stray argument changes nothing and calls nothing', async () => {
    const cases: [string[], RegExp][] = [
      [['deploy', '--dryrun=server'], /deploy apply: unknown option --dryrun/],
      [['deploy', '--dry-run=client'], /deploy apply: --dry-run must be "server", got "client"/],
      [['deploy', '--context'], /deploy apply: --context needs a value/],
      [
        ['deploy', '--context', '--yes'],
        /deploy apply: --context needs a value \(write --context=VALUE for a value that starts with a dash\)/,
      ],
      [['deploy', 'apply', 'now'], /deploy apply: unexpected argument "now"/],
      [['secrets', 'apply', '--dryrun'], /secrets apply: unknown option --dryrun/],
      [['migrate', 'mongo', '--forse'], /migrate mongo: unknown option --forse/],
      [['cutover', 'drain', '--timeout', 'soon'], /cutover drain: --timeout must be a number, got "soon"/],
      [['secrets', 'seal'], /secrets seal: --cert is required/],
      [['backup', 'prune'], /backup: unknown command "prune"/],
    ];
    for (const [args, message] of cases) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.calls, args.join(' ')).toEqual([]);
    }
  });

  it('expected failures print one line, never a stack trace', async () => {
    const dir = emptyDir();
    mkdirSync(join(dir, 'roomler.yaml'));
    const isDir = await run(['cutover', 'status'], { ROOMLER_CONFIG: join(dir, 'roomler.yaml') });
    expect(isDir.code).toBe(1);
    expect(isDir.stderr).toMatch(/ROOMLER_CONFIG: .*roomler\.yaml is a directory, not a file/);
    const synth = await run(['synth'], { ROOMLER_CONFIG: join(dir, 'roomler.yaml'), ROOMLER_OUTDIR: emptyDir() });
    expect(synth.code).toBe(1);
    expect(synth.stderr).toMatch(/is a directory, not a file\nsynth: .* left unchanged/);
    // A closed pipe (`… | head`): the command stops quietly.
    const piped = spawnSync(
      'bash',
      ['-c', `set -o pipefail; '${ROOMLER}' validate --format json | head -c 10 >/dev/null; echo "status=\${PIPESTATUS[0]}" >&2`],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(piped.stderr).toBe('status=0\n');
    for (const r of [isDir, synth]) expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('without kubectl every cluster command says exactly that', async () => {
    // A PATH with node and nothing else (this machine has a kubectl next to node).
    const nodeOnly = emptyDir();
    spawnSync('ln', ['-s', process.execPath, join(nodeOnly, 'node')]);
    for (const args of [
      ['deploy', '--yes'],
      ['secrets', 'apply', '--yes'],
      ['migrate', 'mongo', '--yes'],
    ]) {
      const r = spawnSync(ROOMLER, args, {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, PATH: nodeOnly, ROOMLER_PROJECT_DIR: project() },
      });
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(/kubectl is not installed \(not found on PATH\)/);
    }
  });
});

describe('bin/roomler: the cluster a command changes', () => {
  const cluster = useCluster();
  const kubectl = () => join(labBin(), 'kubectl');

  it('--context in both forms reaches every kubectl call', async () => {
    const env = { ...cluster.env };
    for (const form of [['--context', 'roomler-lab'], ['--context=roomler-lab']]) {
      const r = await run(['secrets', 'apply', ...form, '--yes'], env, kubectl());
      expect(r.code, r.stderr).toBe(0);
      expect(r.calls.length).toBeGreaterThan(2);
      for (const call of r.calls) expect(call).toMatch(/^--context roomler-lab /);
    }
    const missing = await run(['deploy', '--context=production', '--yes'], env, kubectl());
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /: context "production" \(--context or the instance's context:\) does not exist \(contexts there: roomler-lab\)/,
    );
    expect(missing.calls.filter((c) => !/^(--context production )?config /.test(c))).toEqual([]); // it only read the kubeconfig
  });

  it('on a terminal it asks first; "n" changes nothing, "y" proceeds', async () => {
    // Namespaces of its own: the test above already created the default ones.
    const dir = projectWith({ 'roomler.yaml': 'instances:\n  - name: tty\ncoturn: { namespace: coturn-tty }\n', '.env': ENV });
    const onTty = (answer: string) =>
      spawnSync('script', ['-qec', `'${ROOMLER}' secrets apply`, '/dev/null'], {
        cwd: ROOT,
        input: `${answer}\n`,
        encoding: 'utf8',
        env: { ...process.env, ...cluster.env, ROOMLER_PROJECT_DIR: dir },
      });
    const no = onTty('n');
    expect(no.stdout).toMatch(
      /secrets apply will change:\r?\n {2}kubectl context: roomler-lab\r?\n {2}API server: +https:\/\/127\.0\.0\.1:\d+\r?\n {2}namespaces: +tty, coturn-tty/,
    );
    expect(no.stdout).toMatch(/Proceed\? \[y\/N\] /);
    expect(no.stdout).toMatch(/not confirmed; nothing was changed/);
    expect((await cluster.kubectl(['get', 'namespace', 'tty'])).exitCode).not.toBe(0);
    const yes = onTty('y');
    expect(yes.stdout).toMatch(/secret\/mongodb-secret (created|configured)/);
    expect((await cluster.kubectl(['get', 'secret', 'mongodb-secret', '-n', 'tty'])).exitCode).toBe(0);
  });
});
