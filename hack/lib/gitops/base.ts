import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';

import { parse } from 'yaml';

import { runSynth } from '../../../lib/run-synth';
import { UserError } from '../cli/errors';
import { run } from '../process/run';

// The two sides of `bin/roomler diff` without --live: a base commit synthesized by ITS OWN code (the `app` command
// of its cdk8s.yaml, as `cdk8s synth` would run it) and the working tree, each into a temporary directory.
//
// The operator's inputs are the same on both sides unless git tracks them: `.env` (never tracked) and an untracked
// roomler.yaml (or ROOMLER_CONFIG file) or sealed/ file are linked into the base's tree, so the diff shows what the
// change in git does under the operator's config; a tracked roomler.yaml or sealed/ comes from each side, so a
// pull request that changes the config shows that change.

const lastLines = (s: string, n = 15) => s.trim().split('\n').slice(-n).join('\n');

/** `git -C repo …`'s stdout; a failure is a UserError with git's own message. */
export async function git(repo: string, args: readonly string[]): Promise<string> {
  const r = await run('git', ['-C', repo, ...args], { timeoutMs: 120_000 });
  if (r.spawnError === 'ENOENT') throw new UserError('git is not installed (not found on PATH)');
  if (r.exitCode !== 0) throw new UserError(`git ${args[0]} failed (exit ${r.exitCode ?? r.signal}): ${lastLines(r.stderr, 3)}`);
  return r.stdout;
}

const verify = async (repo: string, ref: string) =>
  (await run('git', ['-C', repo, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { timeoutMs: 30_000 })).stdout.trim() || undefined;

/** The branches `bin/roomler diff` compares with when no --base is given, in this order: the local one first. */
export const MAIN_BRANCHES = ['main', 'origin/main', 'master', 'origin/master'];

export interface Base {
  readonly commit: string;
  /** For the report's first line, e.g. `origin/main (a654b77)`. */
  readonly label: string;
}

/** `ref` as given (a branch, tag or commit), or the merge base of HEAD with the main branch: a pull request's base. */
export async function resolveBase(repo: string, ref: string | undefined): Promise<Base> {
  await git(repo, ['rev-parse', '--show-toplevel']); // not a repository: git's own "fatal: not a git repository"
  if (ref !== undefined) {
    const commit = await verify(repo, ref);
    if (!commit) throw new UserError(`--base ${ref}: no such commit, branch or tag in ${repo}`);
    return { commit, label: `${ref} (${commit.slice(0, 7)})` };
  }
  for (const branch of MAIN_BRANCHES) {
    if (!(await verify(repo, branch))) continue;
    const commit = (await git(repo, ['merge-base', 'HEAD', branch])).trim();
    return { commit, label: `${branch} (merge base ${commit.slice(0, 7)})` };
  }
  throw new UserError(`no main branch to compare with (none of ${MAIN_BRANCHES.join(', ')} exists in ${repo}): pass --base REF`);
}

export interface SynthesizedBase {
  /** The base's manifests. */
  readonly outdir: string;
  /** What the reader should know about how the base was built (printed on stderr). */
  readonly notes: readonly string[];
}

export interface BaseOptions {
  /** The working tree's code: the project root, inside a git repository. */
  readonly codeRoot: string;
  /** Where the operator's roomler.yaml, .env and sealed/ are (ROOMLER_PROJECT_DIR; usually codeRoot). */
  readonly configDir: string;
  readonly base: Base;
  /** A private temporary directory: the base's tree and manifests go here. */
  readonly work: string;
}

const inside = (parent: string, p: string) => {
  const r = relative(parent, p);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
};

/** The operator's inputs to synth in `configDir` that exist: the config file, `.env`, the committed SealedSecrets. */
function operatorInputs(configDir: string, env: NodeJS.ProcessEnv): string[] {
  const config = env.ROOMLER_CONFIG ? resolve(configDir, env.ROOMLER_CONFIG) : join(configDir, 'roomler.yaml');
  const sealed = join(configDir, 'sealed');
  const files = [config, join(configDir, '.env'), ...(existsSync(sealed) ? readdirSync(sealed).map((f) => join(sealed, f)) : [])];
  return files.filter((f) => existsSync(f));
}

/**
 * The base commit's files in `work/base` (`git archive`: no second worktree to clean up, the repository unchanged),
 * the working tree's node_modules linked in, the untracked operator inputs linked in, then the base's own synth.
 */
export async function synthesizeBase(o: BaseOptions): Promise<SynthesizedBase> {
  const notes: string[] = [];
  const repo = (await git(o.codeRoot, ['rev-parse', '--show-toplevel'])).trim();
  const tree = join(o.work, 'base');
  const tar = join(o.work, 'base.tar');
  mkdirSync(tree, { recursive: true });
  await git(repo, ['archive', '--format=tar', '-o', tar, o.base.commit]);
  const x = await run('tar', ['-xf', tar, '-C', tree], { timeoutMs: 120_000 });
  if (x.exitCode !== 0) throw new UserError(`unpacking the base failed (tar exit ${x.exitCode ?? x.signal}): ${lastLines(x.stderr, 3)}`);
  rmSync(tar);
  const code = join(tree, relative(repo, o.codeRoot));
  if (!existsSync(join(code, 'cdk8s.yaml')))
    throw new UserError(
      `the base ${o.base.label} has no ${relative(repo, join(o.codeRoot, 'cdk8s.yaml'))}: it is not a commit of this project`,
    );

  linkNodeModules(o.codeRoot, code);
  const lock = (root: string) => (existsSync(join(root, 'package-lock.json')) ? readFileSync(join(root, 'package-lock.json'), 'utf8') : '');
  if (lock(code) !== lock(o.codeRoot)) {
    notes.push(
      `the base's package-lock.json differs from the working tree's: the base was synthesized with the working tree's node_modules, so a change of dependency versions is not part of this diff`,
    );
  }

  let configDir = o.configDir;
  if (inside(repo, o.configDir)) {
    configDir = join(tree, relative(repo, o.configDir));
    const inputs = operatorInputs(o.configDir, process.env).filter((f) => inside(repo, f));
    const tracked = new Set(
      inputs.length ? (await git(repo, ['ls-files', '-z', '--', ...inputs.map((f) => relative(repo, f))])).split('\0').filter(Boolean) : [],
    );
    for (const file of inputs) {
      const rel = relative(repo, file);
      // Tracked now or in the base: each side has its own (the pull request may change it). Otherwise shared.
      if (tracked.has(rel) || existsSync(join(tree, rel))) continue;
      mkdirSync(dirname(join(tree, rel)), { recursive: true });
      symlinkSync(file, join(tree, rel));
    }
  }

  const app = String(parse(readFileSync(join(code, 'cdk8s.yaml'), 'utf8'))?.app ?? '')
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  if (!app.length) throw new UserError(`the base ${o.base.label} has no app command in cdk8s.yaml`);
  const outdir = join(o.work, 'base-dist');
  const r = await run(app[0], app.slice(1), {
    cwd: code,
    env: { ROOMLER_PROJECT_DIR: configDir, ROOMLER_OUTDIR: outdir, CDK8S_OUTDIR: undefined },
    timeoutMs: 300_000,
  });
  if (r.exitCode !== 0)
    throw new UserError(`synth of the base ${o.base.label} failed (exit ${r.exitCode ?? r.signal}):\n${lastLines(r.stderr || r.stdout)}`);
  if (!existsSync(outdir))
    throw new UserError(
      `synth of the base ${o.base.label} wrote nothing to ROOMLER_OUTDIR: that commit predates ROOMLER_OUTDIR and cannot be compared`,
    );
  return { outdir, notes };
}

/**
 * `to/node_modules` as a directory of links to each package of `from/node_modules`: the base's code runs with the
 * installed dependencies, while its bundle cache (node_modules/.cache) stays in the temporary tree.
 */
export function linkNodeModules(from: string, to: string): void {
  const src = join(from, 'node_modules');
  if (!existsSync(src)) throw new UserError(`${src} does not exist: run npm ci first`);
  const dst = join(to, 'node_modules');
  mkdirSync(dst, { recursive: true });
  for (const entry of readdirSync(src)) if (entry !== '.cache') symlinkSync(join(src, entry), join(dst, entry));
}

/** The working tree's manifests in `work/head-dist`: the synth entry (lib/run-synth.ts) in this process. */
export function synthesizeWorkingTree(configDir: string, work: string): string {
  const outdir = join(work, 'head-dist');
  let stderr = '';
  const code = runSynth({
    projectDir: configDir,
    outdir,
    env: { ...process.env, CDK8S_OUTDIR: undefined },
    stdout: { write: () => true },
    stderr: { write: (s: string) => (stderr += s) },
  });
  if (code !== 0) throw new UserError(`synth of the working tree failed:\n${lastLines(stderr)}`);
  return outdir;
}
