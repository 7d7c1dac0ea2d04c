import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { type K8sObject } from '../../lib/manifest';
import { applyWaves, useCluster } from '../support/cluster';
import { cleanupDirs, objectsOf, projectWith, TWO_INSTANCES } from '../support/files';
import { roomler } from '../support/roomler';
import { synthIn } from '../support/synth';

afterAll(cleanupDirs);

// `bin/roomler diff --live` against the lab control plane: an older synth applied as deploy applies it, then the
// project's dist/ changed and compared with what the API server holds (kubectl diff --server-side).

const REDIS = (memory: string) => `redis:\n  resources:\n    limits: { memory: ${memory} }\n`;

describe('bin/roomler diff --live', () => {
  const cluster = useCluster();
  const project = projectWith({ 'roomler.yaml': REDIS('128Mi') });
  const synth = (config: string) => {
    writeFileSync(join(project, 'roomler.yaml'), config);
    const s = synthIn(project);
    expect(s.code, s.stderr).toBe(0);
  };
  const live = () => roomler(['diff', '--live', '--context', 'roomler-lab'], { env: { ...cluster.env, ROOMLER_PROJECT_DIR: project } });
  const body = (stdout: string) => stdout.split('\n').slice(1).join('\n');

  it('says "no changes" right after a deploy, then exactly the changed field of a changed config value', async () => {
    synth(REDIS('128Mi'));
    await applyWaves(cluster, join(project, 'dist'));
    const same = live();
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toMatch(
      /^diff: the cluster \(context roomler-lab, https:\/\/127\.0\.0\.1:\d+\) → dist\/ as deploy would apply it \(server-side dry run\)\ndiff: no changes\n$/,
    );

    synth(REDIS('256Mi'));
    const changed = live();
    expect(changed.code, changed.stderr).toBe(0);
    expect(body(changed.stdout)).toBe(
      [
        '~ Deployment/roomler/redis',
        '    spec.template.spec.containers[name=redis].resources.limits.memory: "128Mi" → "256Mi"',
        'diff: 1 changed, 0 added, 0 removed, 0 renamed',
        '',
      ].join('\n'),
    );
    // Nothing was changed by looking.
    const redis = JSON.parse((await cluster.kubectl(['get', 'deployment', 'redis', '-n', 'roomler', '-o', 'json'])).stdout);
    expect(redis.spec.template.spec.containers[0].resources.limits.memory).toBe('128Mi');

    const md = roomler(['diff', '--live', '--context', 'roomler-lab', '--format', 'markdown'], {
      env: { ...cluster.env, ROOMLER_PROJECT_DIR: project },
    });
    expect(md.stdout).toContain('| `spec.template.spec.containers[name=redis].resources.limits.memory` | `"128Mi"` | `"256Mi"` |');
  });

  it('a new instance: its namespace and cluster-scoped objects dry-run, the objects inside it shown as added', () => {
    synth(REDIS('256Mi') + TWO_INSTANCES);
    const r = live();
    expect(r.code, r.stderr).toBe(0);
    const staging = objectsOf(readFileSync(join(project, 'dist', 'staging.k8s.yaml'), 'utf8')).map((o: K8sObject) =>
      [o.kind, o.metadata.namespace, o.metadata.name].filter(Boolean).join('/'),
    );
    const lines = [...staging.map((id) => `+ ${id}`), '~ Deployment/roomler/redis'].sort((a, b) => (a.slice(2) < b.slice(2) ? -1 : 1));
    const at = lines.indexOf('~ Deployment/roomler/redis');
    lines.splice(at + 1, 0, '    spec.template.spec.containers[name=redis].resources.limits.memory: "128Mi" → "256Mi"');
    expect(body(r.stdout)).toBe([...lines, `diff: 1 changed, ${staging.length} added, 0 removed, 0 renamed`, ''].join('\n'));
    const namespaced = staging.filter((id) => id.split('/').length === 3).length;
    expect(r.stderr).toBe(
      `diff: note: ${namespaced} object(s) in namespaces the cluster does not have yet (staging): shown as added, not dry-run\n`,
    );
  });

  it('an object the API server refuses is an error (kubectl diff exit 2), never "no changes"', () => {
    synth(REDIS('128Mi'));
    const file = join(project, 'dist', 'roomler.k8s.yaml');
    // A hand edit synth would never write: the app's NodePort taken by Janus's. (A dry run does not check the NodePort
    // range, only what the allocator holds.)
    writeFileSync(file, readFileSync(file, 'utf8').replace('nodePort: 30030', 'nodePort: 30808'));
    // Refused as it is: it is not what synth makes.
    const stale = live();
    expect(stale.code).toBe(1);
    expect(stale.stderr).toBe(
      `diff: ${file} is not what the current code, config and .env synthesize: run bin/roomler synth (and review the change) or pass --synth\n`,
    );
    const r = roomler(['diff', '--live', '--context', 'roomler-lab', '--dist-as-is'], {
      env: { ...cluster.env, ROOMLER_PROJECT_DIR: project },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^diff: kubectl diff failed \(exit 2\): .*spec\.ports\[0\]\.nodePort: Invalid value: 30808: provided port is already allocated/s,
    );
    expect(r.stdout).toBe('');
  });
});
