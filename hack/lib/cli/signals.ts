import { readFileSync } from 'node:fs';

// `npm run X` (npm 11) does not pass SIGTERM/SIGINT sent to npm's own pid on to the script: npm exits 143 at once
// and the command runs on to completion (docs/reference-topology.md). The documented entry point, bin/roomler, is the process the
// signal reaches. For the npm scripts, which remain for convenience, a command notices that npm went away and
// treats it as SIGTERM, so an interrupted cutover still restores instead of finishing unobserved.

const parentOf = (pid: number): number | undefined => {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
};

const commandOf = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
};

/** Under an npm script: poll npm's pid (and the `sh -c` between) and SIGTERM ourselves once it is gone. */
export function watchNpmParent(intervalMs = 200): void {
  if (!process.env.npm_lifecycle_event || process.platform !== 'linux') return;
  // npm runs a script as `sh -c '<script>'`: npm is the parent, or the grandparent when sh did not exec.
  const chain: number[] = [];
  let npm = false;
  for (let pid: number | undefined = process.ppid; pid && pid > 1 && chain.length < 2 && !npm; pid = parentOf(pid)) {
    chain.push(pid);
    npm = /(^|\/)npm(-cli\.js)?( |$)|npm-cli/.test(commandOf(pid));
  }
  if (!npm) return;
  const timer = setInterval(() => {
    const gone = chain.some((pid) => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    if (gone) {
      clearInterval(timer);
      process.kill(process.pid, 'SIGTERM');
    }
  }, intervalMs);
  timer.unref();
}
