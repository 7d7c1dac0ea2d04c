import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { LoadedConfig } from '../../../lib/config';
import { type K8sObject, keyOf, toYaml } from '../../../lib/manifest';
import { UserError } from '../cli/errors';
import { waves } from '../cluster/dist';
import type { ClusterTarget, Kubectl } from '../cluster/kubectl';
import { existingNamespaces } from '../cluster/live';
import { prunePreview } from '../cluster/prune';
import { FIELD_MANAGER } from '../cluster/release';
import { objectsInDir, withoutServerFields } from './object-diff';

// `bin/roomler diff --live`: dist/ against what the cluster holds, as `deploy` would apply it. `kubectl diff
// --server-side` lets the API server merge each object (a server-side apply dry run, with deploy's field manager, so
// a field deploy set before and dist/ no longer has shows as removed). kubectl hands the live and merged objects to
// KUBECTL_EXTERNAL_DIFF as two directories: a two-line script copies them here, and the same object-level diff as
// the git mode reads them. Like deploy, it covers dist/ without argocd.k8s.yaml; the objects deploy would prune (it
// manages them, dist/ dropped them) show as removed, and data it would keep is noted.

export interface LiveSides {
  readonly before: Map<string, K8sObject>;
  readonly after: Map<string, K8sObject>;
  readonly target: ClusterTarget;
  readonly notes: readonly string[];
}

export async function liveSides(cfg: LoadedConfig, kubectl: Kubectl, dist: string, work: string): Promise<LiveSides> {
  const objects = waves(dist).flatMap(([, objs]) => objs);
  const target = await kubectl.connect();
  const namespaces = await existingNamespaces(kubectl);
  // The API server refuses a dry run in a namespace that does not exist yet: everything there is new anyway.
  const pending = objects.filter((o) => o.metadata?.namespace && !namespaces.has(o.metadata.namespace));
  const known = objects.filter((o) => !pending.includes(o));
  const notes = pending.length
    ? [
        `${pending.length} object(s) in namespaces the cluster does not have yet (${[...new Set(pending.map((o) => o.metadata.namespace))].join(', ')}): shown as added, not dry-run`,
      ]
    : [];
  let before = new Map<string, K8sObject>();
  let after = new Map<string, K8sObject>();
  if (known.length) {
    // kubectl splits KUBECTL_EXTERNAL_DIFF at spaces: the script's path must have none (mkdtemp under TMPDIR).
    if (/[\s']/.test(work)) throw new UserError(`the temporary directory ${work} contains a space or quote; set TMPDIR to a plain path`);
    const collect = join(work, 'collect-diff.sh');
    writeFileSync(
      collect,
      `#!/bin/sh\n# $1: live objects, $2: the merged objects (kubectl diff).\ncp -R "$1" '${work}/live' && cp -R "$2" '${work}/merged'\n`,
    );
    chmodSync(collect, 0o700);
    const r = await kubectl.run(['diff', '--server-side', `--field-manager=${FIELD_MANAGER}`, '-f', '-'], {
      input: toYaml(known),
      env: { KUBECTL_EXTERNAL_DIFF: collect },
      timeoutMs: 300_000,
    });
    // kubectl diff: 0 no differences, 1 differences (our script exits 0, but kubectl's own diff convention is kept),
    // anything else an error (a refused object, an apply conflict, an unreachable server).
    if (r.exitCode !== 0 && r.exitCode !== 1)
      throw new UserError(`kubectl diff failed (exit ${r.exitCode ?? r.signal}): ${r.stderr.trim() || r.stdout.trim()}`);
    // Never "no changes" by mistake: without the merged objects there is no report.
    if (!existsSync(join(work, 'merged')))
      throw new UserError(`kubectl diff exited ${r.exitCode} without handing over the objects: ${r.stderr.trim() || '(no message)'}`);
    // kubectl names the files <group>.<version>.<Kind>.<namespace>.<name>; a live file is empty for a new object.
    before = objectsInDir(join(work, 'live'), /./);
    after = objectsInDir(join(work, 'merged'), /./);
  }
  for (const o of pending) after.set(keyOf(o), withoutServerFields(o));
  const prune = await prunePreview(cfg, kubectl, objects);
  for (const o of prune.remove) before.set(keyOf(o), withoutServerFields(o));
  return { before, after, target, notes: [...notes, ...prune.keep] };
}
