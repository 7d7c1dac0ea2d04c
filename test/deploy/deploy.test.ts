import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOMLER } from '../support/cli';
import { cleanupDirs, emptyDir, projectWith } from '../support/synth';

afterAll(cleanupDirs);
const ROOT = join(__dirname, '..', '..');

// npm run deploy against a stand-in kubectl at the process boundary (no cluster can run here).
function deploy(opts: { secrets?: string[]; timeout?: string; args?: string[] } = {}) {
  const project = projectWith({});
  cpSync(join(ROOT, 'dist'), join(project, 'dist'), { recursive: true });
  const state = emptyDir('roomler-deploy-');
  writeFileSync(join(state, 'secrets'), (opts.secrets ?? []).join('\n') + '\n');
  const r = spawnSync(ROOMLER, ['deploy', '--yes', ...(opts.args ?? [])], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ROOMLER_PROJECT_DIR: project, STANDIN_STATE: state, STANDIN_TIMEOUT: opts.timeout ?? '', PATH: `${join(__dirname, 'standins')}:${process.env.PATH}` },
  });
  let calls = '';
  try {
    calls = readFileSync(join(state, 'calls'), 'utf8');
  } catch {
    /* no call */
  }
  return { code: r.status, out: r.stdout, err: r.stderr, calls };
}
const ALL = ['roomler/mongodb-secret', 'roomler/roomler-secret', 'coturn/coturn-auth', 'coturn/coturn-tls'];

describe('npm run deploy (stand-in kubectl)', () => {
  it('refuses to apply anything while required Secrets are missing, listing them and how to create them', () => {
    const r = deploy({ secrets: ['roomler/mongodb-secret'] });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/missing Secrets in the cluster: coturn\/coturn-auth, coturn\/coturn-tls, roomler\/roomler-secret; nothing was applied\. Create them with: npm run secrets -- apply and kubectl -n coturn create secret tls coturn-tls/);
    expect(r.calls).not.toMatch(/^apply/m);
  });

  it('applies wave by wave in dependency order and waits for each workload', () => {
    const r = deploy({ secrets: ALL });
    expect(r.code, r.err).toBe(0);
    const lines = r.calls.split('\n');
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    const order = [
      at(/applied Namespace\/roomler/),
      at(/applied PersistentVolume\/roomler-mongodb-data/),
      at(/applied ConfigMap\/roomler-config/),
      at(/applied StatefulSet\/mongodb/),
      at(/rollout status statefulset\/mongodb -n roomler --timeout=600s/),
      at(/applied Deployment\/redis/),
      at(/rollout status deployment\/redis/),
      at(/applied Deployment\/janus/),
      at(/applied Deployment\/roomler/),
      at(/rollout status deployment\/roomler/),
      at(/applied CronJob\/mongodb-backup/),
    ];
    expect(order.every((n) => n >= 0), r.calls).toBe(true);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(r.calls).toMatch(/^apply --server-side --field-manager=roomler-deploy -f -$/m);
    expect(r.out).toMatch(/roomler\s+roomler-pod-0\s+1\/1\s+2/);
    expect(r.out).toMatch(/roomler\/roomler http 3000 -> 30030/);
    expect(r.out).toMatch(/roomler\/janus-nodeport websocket 8188 -> 30818/);
  });

  it('stops at a workload that does not become ready, naming it, and applies nothing after it', () => {
    const r = deploy({ secrets: ALL, timeout: 'roomler' });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/roomler\/deployment\/roomler did not become ready within 600 s: error: timed out waiting for the condition\. Inspect: kubectl -n roomler describe deployment\/roomler/);
    expect(r.calls).not.toMatch(/applied CronJob/);
  });

  it('passes --dry-run=server and --context through, without waiting', () => {
    const r = deploy({ secrets: ALL, args: ['--dry-run=server', '--context', 'prod'] });
    expect(r.code, r.err).toBe(0);
    expect(r.calls).toMatch(/^apply --server-side --field-manager=roomler-deploy --dry-run=server -f -$/m);
    expect(r.calls).not.toMatch(/rollout status/);
    expect(r.out).toMatch(/server-side dry run passed/);
  });
});
