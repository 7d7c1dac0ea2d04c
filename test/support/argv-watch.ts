import { readdirSync, readFileSync } from 'node:fs';

/**
 * Reads every process's command line (/proc/<pid>/cmdline) every 25 ms until stopped, collecting those that
 * contain any of the secrets, and counting those that contain `expect` (proof the scan saw the process).
 */
export function watchArgv(secrets: readonly string[], expect?: string) {
  const leaks: string[] = [];
  let seen = 0;
  const timer = setInterval(() => {
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (expect && cmd.includes(expect)) seen++;
        if (secrets.some((s) => cmd.includes(s))) leaks.push(cmd.replace(/\0/g, ' '));
      } catch {
        /* the process ended */
      }
    }
  }, 25);
  return {
    stop() {
      clearInterval(timer);
      return { leaks, seen };
    },
  };
}

/** The pid of a running process whose argv contains every one of `parts`. */
export function pidOf(...parts: string[]): number | undefined {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (parts.every((p) => cmd.includes(p))) return Number(pid);
    } catch {
      /* ended */
    }
  }
  return undefined;
}

/** Waits (up to 60 s) for a process whose argv contains every one of `parts`; returns its pid. */
export async function waitForPid(...parts: string[]): Promise<number> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const pid = pidOf(...parts);
    if (pid) return pid;
    if (Date.now() > deadline) throw new Error(`no process ${parts.join(' ')}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
