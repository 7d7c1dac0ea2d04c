import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

import { App, type Chart } from 'cdk8s';
import { parseAllDocuments } from 'yaml';

import { ArgoCdChart } from './charts/argocd-chart';
import { CoturnChart } from './charts/coturn-chart';
import { RoomlerChart } from './charts/roomler-chart';
import type { LoadedConfig } from './config';
import { type K8sObject, toYaml } from './manifest';
import { withSyncWave } from './sync-waves';

/** Apply order inside one file: what others depend on comes first. */
const KIND_ORDER = [
  'Namespace',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'ServiceAccount',
  'NetworkPolicy',
  'SealedSecret',
  'ConfigMap',
  'Service',
  'StatefulSet',
  'DaemonSet',
  'Deployment',
  'PodDisruptionBudget',
  'CronJob',
  'Application',
];
const rank = (kind: string) => {
  const n = KIND_ORDER.indexOf(kind);
  return n === -1 ? KIND_ORDER.length : n;
};

export type Manifest = K8sObject & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
};

/** The charts of a config: one per instance, the coturn namespace, then the Argo CD Application when enabled. */
export function buildApp(config: LoadedConfig): { app: App; charts: Chart[] } {
  const app = new App({ outdir: 'dist' });
  const charts: Chart[] = config.instances.map((instance) => new RoomlerChart(app, { instance }));
  if (config.root.coturn.enabled) charts.push(new CoturnChart(app, { coturn: config.root.coturn }));
  if (config.root.argocd.enabled) charts.push(new ArgoCdChart(app, { argocd: config.root.argocd }));
  return { app, charts };
}

/** Each chart's objects in apply order (stable: construct order within a kind). */
export function chartManifests(chart: Chart): Manifest[] {
  return (chart.toJson() as Manifest[])
    .map((m, n) => ({ m, n }))
    .sort((a, b) => rank(a.m.kind) - rank(b.m.kind) || a.n - b.n)
    .map(({ m }) => m);
}

export interface SynthesizeOptions {
  /** Directory of the committed SealedSecrets (`bin/roomler secrets seal`). */
  readonly sealedDir?: string;
  /** Told about every sealed file left out of dist/ and why. */
  readonly note?: (line: string) => void;
}

/** `dist/` file name -> the manifests it holds, sync waves applied, for every chart. */
export function synthesizeManifests(config: LoadedConfig, options: SynthesizeOptions = {}): Map<string, Manifest[]> {
  const out = new Map<string, Manifest[]>();
  for (const chart of buildApp(config).charts) out.set(`${chart.node.id}.k8s.yaml`, chartManifests(chart).map(withSyncWave));
  // A SealedSecret for a namespace nothing renders any more (an instance removed from the config) would fail every
  // sync once its Namespace is gone ("namespaces not found"): only those of rendered namespaces go into dist/.
  const rendered = new Set(
    [...out.values()]
      .flat()
      .filter((m) => m.kind === 'Namespace')
      .map((m) => m.metadata.name),
  );
  const sealed = sealedManifests(options.sealedDir).filter(({ file, manifest }) => {
    const ns = manifest.metadata.namespace ?? '';
    if (rendered.has(ns)) return true;
    options.note?.(
      `left out ${file}: SealedSecret ${ns}/${manifest.metadata.name} is for namespace ${ns || '(none)'}, ` +
        'which no configured instance renders ' +
        '(bin/roomler secrets seal --prune removes such files)',
    );
    return false;
  });
  if (sealed.length)
    out.set(
      'sealed-secrets.k8s.yaml',
      sealed.map((s) => withSyncWave(s.manifest)),
    );
  return out;
}

/**
 * `dist/` file name -> YAML text, for every chart. Written as YAML 1.1, the dialect kubectl and Argo CD parse
 * (go-yaml): a bare `no` in a command would otherwise reach the API server as the boolean false.
 */
export const render = (manifests: ReadonlyMap<string, Manifest[]>): Map<string, string> =>
  new Map([...manifests].map(([name, ms]) => [name, toYaml(ms)]));

export const synthesize = (config: LoadedConfig, options: SynthesizeOptions = {}): Map<string, string> =>
  render(synthesizeManifests(config, options));

/** The committed SealedSecrets (`bin/roomler secrets seal`), in a stable order, each with its file (`sealed/<name>`). */
function sealedManifests(dir: string | undefined): { file: string; manifest: Manifest }[] {
  if (!dir || !existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) =>
      parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => ({ file: join(basename(dir), f), manifest: d.toJS() as Manifest })),
    )
    .filter((s) => s.manifest?.kind === 'SealedSecret');
}

/**
 * Replaces `outdir` with exactly `files`, or leaves it untouched. The new tree is written beside it and
 * swapped in with two renames; a crash between them leaves `.<name>.previous` which the next run restores
 * before doing anything else.
 */
export function publish(files: ReadonlyMap<string, string>, outdir: string): void {
  const target = resolve(outdir);
  const parent = dirname(target);
  const staging = join(parent, `.${basename(target)}.staging`);
  const previous = join(parent, `.${basename(target)}.previous`);
  recoverInterruptedPublish(target);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  for (const [name, text] of files) writeFileSync(join(staging, name), text);
  if (existsSync(target)) renameSync(target, previous);
  renameSync(staging, target);
  rmSync(previous, { recursive: true, force: true });
}

export function recoverInterruptedPublish(outdir: string): void {
  const target = resolve(outdir);
  const previous = join(dirname(target), `.${basename(target)}.previous`);
  if (!existsSync(previous)) return;
  if (existsSync(target)) rmSync(previous, { recursive: true, force: true });
  else renameSync(previous, target);
}

/** Lists the files in a dist directory (for tests and the CLI summary). */
export const listDist = (outdir: string) => (existsSync(outdir) ? readdirSync(outdir).sort() : []);
