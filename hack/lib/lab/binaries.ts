import { join } from 'node:path';
import { UserError } from '../cli/errors';
import { PROJECT_ROOT } from '../cli';
import { start } from '../process/run';

/**
 * The lab's bin directory, built on first use by hack/toolchain/lab.sh into the cache outside the checkout
 * (~7 min of CPU and Go's module downloads the first time; instant afterwards). Its progress goes to `progress`.
 */
export async function labBinDir(progress: NodeJS.WritableStream = process.stderr): Promise<string> {
  const script = join(PROJECT_ROOT, 'hack', 'toolchain', 'lab.sh');
  const build = start('bash', [script]);
  build.child.stderr!.pipe(progress, { end: false });
  const r = await build.done;
  if (r.exitCode !== 0) throw new UserError(`building the lab binaries failed (bash ${script}, exit ${r.exitCode ?? r.signal}); see its output above`);
  return r.stdout.trim().split('\n').pop()!;
}
