import { UserError } from '../cli';
import { start } from './run';

/**
 * Holds an exclusive flock on `file` until released, through flock(1): the kernel drops it if this process
 * dies, so a crashed run never leaves a stale lock. `who` names the other holder in the refusal.
 */
export async function acquireLock(file: string, who: string): Promise<() => void> {
  const holder = start('flock', ['--nonblock', '--conflict-exit-code', '75', file, 'sh', '-c', 'echo locked; exec cat'], { untracked: true });
  const got = await new Promise<boolean>((res) => {
    holder.child.stdout!.once('data', () => res(true));
    holder.done.then(() => res(false));
  });
  if (!got) throw new UserError(`${who} holds ${file}; try again when it has finished`, 75);
  return () => holder.child.stdin!.end();
}
