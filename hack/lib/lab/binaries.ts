import { join } from 'node:path';

import { PROJECT_ROOT } from '../cli';
import { UserError } from '../cli/errors';
import { start } from '../process/run';

/**
 * What a toolchain piece's script prints last (its directory in the cache outside the checkout), building it on first
 * use (hack/toolchain/<piece>.sh; instant once cached). Its progress goes to `progress`.
 */
export async function toolchainPiece(piece: string, progress: NodeJS.WritableStream = process.stderr): Promise<string> {
  const script = join(PROJECT_ROOT, 'hack', 'toolchain', `${piece}.sh`);
  const build = start('bash', [script]);
  build.child.stderr!.pipe(progress, { end: false });
  const r = await build.done;
  if (r.exitCode !== 0)
    throw new UserError(`building ${piece} failed (bash ${script}, exit ${r.exitCode ?? r.signal}); see its output above`);
  return r.stdout.trim().split('\n').pop()!;
}

/** The lab's bin directory (kube-apiserver … kwok): ~7 min of CPU and Go's module downloads the first time. */
export const labBinDir = (progress?: NodeJS.WritableStream) => toolchainPiece('lab', progress);

/** Argo CD's directory (bin/argocd, crds/): ~90 s of downloads and ~8 min of compilation the first time. */
export const argocdDir = (progress?: NodeJS.WritableStream) => toolchainPiece('argocd', progress);

/** The Sealed Secrets controller's directory (bin/sealed-secrets-controller, crds/): ~2 min the first time. */
export const sealedSecretsDir = (progress?: NodeJS.WritableStream) => toolchainPiece('sealed-secrets', progress);
