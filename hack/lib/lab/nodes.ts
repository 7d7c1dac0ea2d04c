import type { LoadedConfig } from '../../../lib/config';
import type { LabNode } from './cluster';

/** Every node the manifests pin to (data nodes, Janus nodes, coturn workers), in a stable order. */
export function configuredNodes(cfg: LoadedConfig): LabNode[] {
  const names = [
    ...cfg.instances.flatMap((i) => [i.dataNode, i.janus.node]),
    ...(cfg.root.coturn.enabled ? cfg.root.coturn.workers.map((w) => w.node) : []),
  ];
  return [...new Set(names)].sort().map((name) => ({ name }));
}
