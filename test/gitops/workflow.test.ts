import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

import { parse } from '../../hack/lib/cli/args';
import { roomler, ROOT } from '../support/roomler';

// .github/workflows/ci.yml cannot run here. What can be checked is that it runs nothing this repository does not
// have: every command of every `run:` is .ci/run itself, a line .ci/run runs, or a bin/roomler command whose options
// parse with that command's own spec; and the npm scripts .ci/run and the README's two commands call exist.

const workflow = parseYaml(readFileSync(join(ROOT, '.github', 'workflows', 'ci.yml'), 'utf8'));
const ciRun = readFileSync(join(ROOT, '.ci', 'run'), 'utf8');
const ciLines = ciRun
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const steps: Record<string, any>[] = workflow.jobs.ci.steps;

/** Shell words of a command line (double quotes grouped), with the workflow's expressions filled in. */
function words(line: string): string[] {
  const filled = line.replace(/\$\{\{\s*github\.base_ref\s*\}\}/g, 'main');
  return [...filled.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
}

/** The commands of a `run:` block: one per line and per `&&`, comments dropped, redirection to the summary removed. */
function commands(run: string): string[] {
  return run
    .split('\n')
    .map((l) => l.replace(/\s#.*$/, '').trim())
    .filter(Boolean)
    .flatMap((l) => l.split('&&').map((c) => c.trim()));
}

/** Why a command of the workflow is not one this repository runs, or undefined when it is. */
async function problem(command: string): Promise<string | undefined> {
  const redirect = /\s*>>\s*"\$GITHUB_STEP_SUMMARY"$/;
  const [program, ...args] = words(command.replace(redirect, ''));
  if (/[|;<>]/.test(command.replace(redirect, ''))) return 'only `a && b` and `>> "$GITHUB_STEP_SUMMARY"` are understood here';
  if (program === 'bash') {
    if (!existsSync(join(ROOT, args[0]))) return `${args[0]} does not exist`;
    return args[0] === '.ci/run' || ciLines.includes(command) ? undefined : `.ci/run does not run \`${command}\``;
  }
  if (program === 'bin/roomler') {
    const [name, ...options] = args;
    const help = roomler(['--help']).stdout;
    if (!new RegExp(`^  ${name} +\\S`, 'm').test(help)) return `bin/roomler has no command ${name}`;
    // The command's own spec and the one parser: an unknown option or a bad value throws.
    parse(name, (await import(join(ROOT, 'hack', 'commands', `${name}.ts`))).default, options);
    return undefined;
  }
  if (program === 'npm') return ciLines.includes(command) ? undefined : `.ci/run does not run \`${command}\``;
  return `unknown program ${program}`;
}

describe('.github/workflows/ci.yml', () => {
  it('runs on pull requests and pushes to main, with the history the diff needs and node as package.json asks', () => {
    expect(Object.keys(workflow.on).sort()).toEqual(['pull_request', 'push']);
    const checkout = steps.find((s) => String(s.uses).startsWith('actions/checkout@'))!;
    expect(checkout.with['fetch-depth']).toBe(0);
    const node = steps.find((s) => String(s.uses).startsWith('actions/setup-node@'))!;
    expect(node.with.cache).toBe('npm');
    expect(String(pkg.engines.node)).toMatch(new RegExp(`^>=${node.with['node-version']}\\.`));
  });

  it('caches the toolchain where hack/toolchain builds it, keyed on the scripts that pin its versions', () => {
    const cache = steps.find((s) => String(s.uses).startsWith('actions/cache@'))!;
    expect(readFileSync(join(ROOT, 'hack', 'toolchain', 'cache.sh'), 'utf8')).toContain(
      'ROOMLER_CACHE=${ROOMLER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/roomler-k8s}',
    );
    expect(cache.with.path.split('\n')).toContain('~/.cache/roomler-k8s');
    const patterns = [...String(cache.with.key).matchAll(/'([^']+)'/g)].map((m) => m[1]);
    expect(patterns).toContain('hack/toolchain/*.sh');
    for (const pattern of patterns) {
      const [dir, glob] = [pattern.slice(0, pattern.lastIndexOf('/')), pattern.slice(pattern.lastIndexOf('/') + 1)];
      const re = new RegExp(`^${glob.replace(/\./g, '\\.').replace(/\*/g, '.*')}$`);
      expect(readdirSync(join(ROOT, dir)).filter((f) => re.test(f)).length, pattern).toBeGreaterThan(0);
    }
  });

  it('every command it runs exists and is the one .ci/run runs; the diff goes to the job summary of a pull request', async () => {
    const runs = steps.filter((s) => s.run).flatMap((s) => commands(s.run));
    expect(runs).toContain('bash .ci/run');
    for (const c of runs) expect(await problem(c), c).toBeUndefined();
    const summary = steps.find((s) => /bin\/roomler diff/.test(s.run ?? ''))!;
    expect(summary.run).toMatch(/--format markdown >> "\$GITHUB_STEP_SUMMARY"$/);
    expect(summary.if).toMatch(/github\.event_name == 'pull_request'/);
    // What the check itself would refuse.
    expect(await problem('npm run synthesize')).toMatch(/does not run/);
    expect(await problem('bash .ci/nothing')).toMatch(/does not exist/);
    expect(await problem('bin/roomler dif --base main')).toMatch(/no command dif/);
    await expect(problem('bin/roomler diff --format html')).rejects.toThrow(/--format must be "text" or "markdown"/);
  });

  it(".ci/run runs the README's two commands, and every npm script it calls exists", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('npm ci && npm run synth');
    expect(readme).toMatch(/^npm test +#/m);
    expect(ciLines.some((l) => /^npm ci\b/.test(l))).toBe(true);
    expect(ciLines).toContain('npm run synth');
    expect(ciLines.some((l) => /^npm test\b/.test(l))).toBe(true);
    const scripts = [...ciRun.matchAll(/npm run (?:-s )?([\w:-]+)/g)].map((m) => m[1]);
    for (const s of [...scripts, 'test']) expect(pkg.scripts, s).toHaveProperty([s]);
  });
});
