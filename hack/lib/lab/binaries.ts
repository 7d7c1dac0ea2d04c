import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';

import { PROJECT_ROOT } from '../cli';
import { UserError } from '../cli/errors';
import { type IO, stdio } from '../cli/io';
import { start } from '../process/run';

/**
 * What a toolchain piece's script prints last (its directory in the cache outside the checkout), building it on first
 * use (hack/toolchain/<piece>.sh; instant once cached). Its progress goes to `progress.err`, line by line.
 */
export async function toolchainPiece(piece: string, progress: IO = stdio): Promise<string> {
  const script = join(PROJECT_ROOT, 'hack', 'toolchain', `${piece}.sh`);
  const build = start('bash', [script]);
  const text = new StringDecoder('utf8');
  let partial = '';
  build.child.stderr!.on('data', (d: Buffer) => {
    const lines = (partial + text.write(d)).split('\n');
    partial = lines.pop()!;
    for (const line of lines) progress.err(line);
  });
  const r = await build.done;
  partial += text.end();
  if (partial) progress.err(partial);
  if (r.exitCode !== 0)
    throw new UserError(`building ${piece} failed (bash ${script}, exit ${r.exitCode ?? r.signal}); see its output above`);
  return r.stdout.trim().split('\n').pop()!;
}

/** The lab's bin directory (kube-apiserver … kwok): ~7 min of CPU and Go's module downloads the first time. */
export const labBinDir = (progress?: IO) => toolchainPiece('lab', progress);

/** Argo CD's directory (bin/argocd, crds/): ~90 s of downloads and ~8 min of compilation the first time. */
export const argocdDir = (progress?: IO) => toolchainPiece('argocd', progress);

/** The Sealed Secrets controller's directory (bin/sealed-secrets-controller, crds/): ~2 min the first time. */
export const sealedSecretsDir = (progress?: IO) => toolchainPiece('sealed-secrets', progress);
