import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { expect } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';

import { type K8sObject } from '../../lib/manifest';
import type { TestCluster } from '../support/cluster';
import { projectWith, selfSignedCert } from '../support/files';
import { roomler, type Running, startRoomler } from '../support/roomler';
import { synthIn } from '../support/synth';

// `bin/roomler deploy` against a real API server, scheduler and controllers (kwok plays the kubelet: Pods are
// reported Running/Ready, or slow, never Ready, or crash-looping where a test annotates them; no container runs).

export const ENV = 'MONGO_ROOT_USERNAME=root\nMONGO_ROOT_PASSWORD=lab-mongo-password\nCOTURN_AUTH_SECRET=lab-turn-secret\n';

/** Projects whose dist/ a test edited: deploy refuses those unless told --dist-as-is, which `deploy` below adds. */
const edited = new Set<string>();

/** A project: config, .env and a fresh dist/, optionally edited object by object (what synth would never write). */
export function project(config = '', edit?: (o: K8sObject) => K8sObject | K8sObject[]): string {
  const dir = projectWith({ 'roomler.yaml': config, '.env': ENV });
  const s = synthIn(dir, {});
  expect(s.code, s.stderr).toBe(0);
  if (edit) {
    edited.add(dir);
    for (const f of readdirSync(s.outdir)) {
      const objs = parseAllDocuments(readFileSync(join(s.outdir, f), 'utf8'), { version: '1.1' }).flatMap((d) => edit(d.toJS()));
      writeFileSync(join(s.outdir, f), objs.map((o) => stringify(o, { version: '1.1' })).join('---\n'));
    }
  }
  return dir;
}

/** `deploy` args as a test means them: a hand-edited dist/ is deployed as it is (a lab rehearsal). */
const deployArgs = (dir: string, args: readonly string[]) => [
  'deploy',
  ...args,
  ...(edited.has(dir) && !args.includes('--dist-as-is') && !['diff', 'history', 'rollback'].includes(args[0]) ? ['--dist-as-is'] : []),
];

export const deploy = (cluster: TestCluster, dir: string, ...args: string[]) =>
  roomler(deployArgs(dir, args), { project: dir, env: cluster.env });

export const startDeploy = (cluster: TestCluster, dir: string, ...args: string[]): Running =>
  startRoomler(deployArgs(dir, args), { project: dir, env: cluster.env });

/** The Secrets deploy needs, created the way the README says: secrets apply, and (coturn's) TLS Secret by kubectl. */
export async function createSecrets(cluster: TestCluster, dir: string, o: { tls?: boolean } = {}) {
  const s = roomler(['secrets', 'apply', '--yes'], { project: dir, env: cluster.env });
  expect(s.code, s.stderr).toBe(0);
  if (o.tls === false) return;
  const pem = selfSignedCert('turn.roomler.live');
  const made = await cluster.kubectl([
    '-n',
    'coturn',
    'create',
    'secret',
    'tls',
    'coturn-tls',
    `--cert=${pem.cert}`,
    `--key=${pem.key}`,
    '--dry-run=client',
    '-o',
    'yaml',
  ]);
  const t = await cluster.kubectl(['apply', '-f', '-'], made.stdout);
  expect(t.exitCode, t.stderr).toBe(0);
}

export const exists = async (cluster: TestCluster, ...what: string[]) =>
  (await cluster.kubectl(['get', ...what, '-o', 'name'])).exitCode === 0;

/** Adds an annotation to a workload's Pod template (the lab's kwok stages read it). */
export const annotate = (kind: string, name: string, key: string, value: string) => (o: K8sObject) => {
  if (o.kind === kind && o.metadata.name === name)
    o.spec.template.metadata.annotations = { ...o.spec.template.metadata.annotations, [key]: value };
  return o;
};
