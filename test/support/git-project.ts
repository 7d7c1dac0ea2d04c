import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { linkNodeModules } from '../../hack/lib/gitops/base';
import { emptyDir } from './files';
import { ROOT } from './roomler';

// A throw-away git repository holding this project's files (as they are in the working tree, uncommitted changes
// included), with real history made by the test: what `bin/roomler diff` reads. Its own bin/roomler runs its own code.

/** Git with no user or system configuration, so a signing key or hook of the machine never gets involved. */
export const GIT_ENV = {
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
};

export interface GitProject {
  readonly dir: string;
  /** `git …` in the project; throws with git's stderr on failure; returns stdout. */
  git(...args: string[]): string;
  /** Writes a file (creating directories) relative to the project. */
  write(path: string, text: string): void;
  /** Writes the files and commits them (and everything else changed) on the current branch. */
  commit(message: string, files?: Record<string, string>): void;
  /** The project's own `bin/roomler …`, with only `env` added to a clean environment. */
  roomler(args: readonly string[], env?: NodeJS.ProcessEnv): { code: number | null; stdout: string; stderr: string };
}

export function gitProject(): GitProject {
  const dir = emptyDir('roomler-git-');
  const listed = spawnSync('git', ['-C', ROOT, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(`git ls-files: ${listed.stderr}`);
  for (const f of listed.stdout.split('\0').filter(Boolean)) {
    if (!existsSync(join(ROOT, f))) continue; // deleted in the working tree, not yet committed
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    copyFileSync(join(ROOT, f), join(dir, f));
  }
  linkNodeModules(ROOT, dir);
  const git = (...args: string[]) => {
    const r = spawnSync('git', ['-C', dir, ...args], { encoding: 'utf8', env: { ...process.env, ...GIT_ENV } });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'the project');
  return {
    dir,
    git,
    write,
    commit: (message, files = {}) => {
      for (const [path, text] of Object.entries(files)) write(path, text);
      git('add', '-A');
      git('commit', '-q', '--allow-empty', '-m', message);
    },
    roomler: (args, env = {}) => {
      // Nothing of the test runner's environment that points a command elsewhere.
      const { ROOMLER_PROJECT_DIR: _p, ROOMLER_OUTDIR: _o, ROOMLER_CONFIG: _c, CDK8S_OUTDIR: _d, ...rest } = process.env;
      const r = spawnSync(join(dir, 'bin', 'roomler'), args, { cwd: dir, encoding: 'utf8', env: { ...rest, ...GIT_ENV, ...env } });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    },
  };
}
