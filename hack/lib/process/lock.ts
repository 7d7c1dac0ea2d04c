import { UserError } from '../cli';
import { start } from './run';

/** flock(1)'s exit status when the lock is taken: EX_TEMPFAIL, "try again later". */
export const LOCK_TAKEN = 75;

/**
 * Holds an exclusive flock on `file` until released, through flock(1): the kernel drops it if this process
 * dies, so a crashed run never leaves a stale lock. `who` names the other holder in the refusal. With
 * `waitSeconds`, waits that long for the other holder before refusing. The release resolves once it is free.
 */
export async function acquireLock(file: string, who: string, o: { waitSeconds?: number } = {}): Promise<() => Promise<void>> {
  const wait = o.waitSeconds ? ['--timeout', String(o.waitSeconds)] : ['--nonblock'];
  const holder = start('flock', [...wait, '--conflict-exit-code', String(LOCK_TAKEN), file, 'sh', '-c', 'echo locked; exec cat'], {
    untracked: true,
  });
  const got = await new Promise<boolean>((res) => {
    holder.child.stdout!.once('data', () => res(true));
    void holder.done.then(() => res(false));
  });
  if (!got) throw new UserError(`${who} holds ${file}; try again when it has finished`, LOCK_TAKEN);
  // Resolves once the holder has exited, i.e. the lock is really free for whoever takes it next.
  return async () => {
    holder.child.stdin!.end();
    await holder.done;
  };
}

/**
 * `file args…` run under an exclusive flock on `lockFile` that the program itself inherits (flock(1) without
 * --close): the lock lives exactly as long as the program, even if everything that started it is gone.
 * Exits LOCK_TAKEN without running anything when another process holds it.
 */
export const underLock = (lockFile: string, file: string, args: readonly string[]): [string, string[]] => [
  'flock',
  ['--nonblock', '--conflict-exit-code', String(LOCK_TAKEN), lockFile, file, ...args],
];
