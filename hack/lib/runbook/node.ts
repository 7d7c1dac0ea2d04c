import type { LoadedConfig } from '../../../lib/config';
import { type K8sObject, podSpecOf } from '../../../lib/manifest';
import { shq, sshRun } from '../backups/rsync';

// The node's hostPath directories, as the manifests use them. A hostPath PersistentVolume ignores fsGroup: a
// directory the node creates root-owned makes MongoDB (uid 999) crash-loop on its first boot
// (docs/reference-topology.md). So each directory is created beforehand, owned by the uid/gid of the containers that
// mount it, and checked.

export interface HostDir {
  readonly node: string;
  readonly path: string;
  readonly uid: number;
  readonly gid: number;
  /** The PersistentVolume and the workloads that write it, for messages. */
  readonly volume: string;
  readonly writers: readonly string[];
}

/** Every hostPath PersistentVolume in `objects`, with the uid/gid of the containers that mount its claim. */
export function hostDirs(objects: readonly K8sObject[]): HostDir[] {
  return objects
    .filter((o) => o.kind === 'PersistentVolume' && o.spec?.hostPath?.path)
    .map((pv) => {
      const claim = pv.spec.claimRef ?? {};
      const node =
        pv.spec.nodeAffinity?.required?.nodeSelectorTerms?.[0]?.matchExpressions?.find(
          (e: { key: string }) => e.key === 'kubernetes.io/hostname',
        )?.values?.[0] ?? '(any node)';
      const ids: { uid: number; gid: number; who: string }[] = [];
      for (const w of objects) {
        const spec = podSpecOf(w);
        if (!spec || w.metadata?.namespace !== claim.namespace) continue;
        const volume = (spec.volumes ?? []).find(
          (v: { persistentVolumeClaim?: { claimName?: string } }) => v.persistentVolumeClaim?.claimName === claim.name,
        );
        if (!volume) continue;
        for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
          if (!(c.volumeMounts ?? []).some((m: { name: string; readOnly?: boolean }) => m.name === volume.name && !m.readOnly)) continue;
          const uid = c.securityContext?.runAsUser ?? spec.securityContext?.runAsUser ?? 0;
          const gid = c.securityContext?.runAsGroup ?? spec.securityContext?.runAsGroup ?? spec.securityContext?.fsGroup ?? uid;
          ids.push({ uid, gid, who: `${w.kind}/${w.metadata.name}` });
        }
      }
      // The first writer decides (the workloads sharing a volume run as one user: the backup jobs and MongoDB, 999).
      const owner = ids[0] ?? { uid: 0, gid: 0 };
      return {
        node,
        path: pv.spec.hostPath.path,
        uid: owner.uid,
        gid: owner.gid,
        volume: pv.metadata.name,
        writers: [...new Set(ids.map((i) => i.who))],
      };
    });
}

/** What the node holds at each directory now: `uid:gid mode` or "missing". */
export async function inspectDirs(cfg: LoadedConfig, dirs: readonly HostDir[]): Promise<Map<string, string>> {
  const script = dirs.map((d) => `stat -c '%u:%g %a' ${shq(d.path)} 2>/dev/null || echo missing`).join('; ');
  const r = await sshRun(cfg.root.ssh, script || 'true', 30_000);
  if (r.exitCode !== 0) throw new Error(`ssh ${cfg.root.ssh.user}@${cfg.root.ssh.host}: ${r.stderr.trim().split('\n').pop()}`);
  const lines = r.stdout.trim().split('\n');
  return new Map(dirs.map((d, n) => [d.path, lines[n] ?? 'missing']));
}

/** Creates (or re-owns) each directory on the node over ssh; parents are created root-owned, as `install -d` does. */
export async function prepareDirs(cfg: LoadedConfig, dirs: readonly HostDir[]): Promise<void> {
  const script = [
    'set -e',
    ...dirs.map((d) => `install -d -m 0750 -o ${d.uid} -g ${d.gid} ${shq(d.path)} && chown ${d.uid}:${d.gid} ${shq(d.path)}`),
  ].join('\n');
  const r = await sshRun(cfg.root.ssh, script, 60_000);
  if (r.exitCode !== 0) throw new Error(`preparing the directories on ${cfg.root.ssh.host} failed: ${r.stderr.trim().split('\n').pop()}`);
}

/** Each directory's state against what it must be, as lines: ok, or what is wrong. */
export async function checkDirs(cfg: LoadedConfig, dirs: readonly HostDir[]): Promise<{ ok: boolean; lines: string[] }> {
  const now = await inspectDirs(cfg, dirs);
  const lines = dirs.map((d) => {
    const got = now.get(d.path)!;
    const want = `${d.uid}:${d.gid}`;
    if (got === 'missing') return `MISSING ${d.path} (${d.volume}; needs owner ${want} for ${d.writers.join(', ') || 'its pods'})`;
    return got.startsWith(`${want} `)
      ? `ok ${d.path} ${got} (${d.volume})`
      : `WRONG OWNER ${d.path} is ${got.split(' ')[0]}, needs ${want} (${d.volume}, written by ${d.writers.join(', ')})`;
  });
  return { ok: lines.every((l) => l.startsWith('ok ')), lines };
}
