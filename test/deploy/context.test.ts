import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { useCluster } from '../support/cluster';
import { cleanupDirs, emptyDir } from '../support/files';
import { roomler } from '../support/roomler';
import { exists, project } from './support';

afterAll(cleanupDirs);

// `bin/roomler deploy` against a real API server, scheduler and controllers (test/support/cluster.ts).

describe('bin/roomler deploy --context', () => {
  const cluster = useCluster();

  it('reaches every kubectl call in both forms; a context that does not exist changes nothing anywhere', async () => {
    // The current context's server refuses its token; only the named context works.
    const kubeconfig = join(emptyDir(), 'config');
    const good = readFileSync(cluster.state.kubeconfig, 'utf8');
    const server = /server: (\S+)/.exec(good)![1];
    const ca = /certificate-authority: (\S+)/.exec(good)![1];
    const token = /token: (\S+)/.exec(good)![1];
    writeFileSync(
      kubeconfig,
      `apiVersion: v1\nkind: Config\ncurrent-context: broken\nclusters:\n- name: lab\n  cluster: { server: ${server}, certificate-authority: ${ca} }\ncontexts:\n- name: broken\n  context: { cluster: lab, user: nobody }\n- name: staging\n  context: { cluster: lab, user: admin }\nusers:\n- name: nobody\n  user: { token: wrong }\n- name: admin\n  user: { token: ${token} }\n`,
    );
    const dir = project();
    mkdirSync(join(dir, 'x'), { recursive: true });
    const env = { ...cluster.env, KUBECONFIG: kubeconfig, ROOMLER_PROJECT_DIR: dir };
    const current = roomler(['deploy', '--yes'], { env });
    expect(current.code).toBe(1);
    expect(current.stderr).toMatch(
      /the API server https:\/\/127\.0\.0\.1:\d+ \(context broken\) refused the credentials of user "nobody" \(401 Unauthorized\)/,
    );
    const missing = roomler(['deploy', '--context=production', '--yes'], { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /: context "production" \(--context or the instance's context:\) does not exist \(contexts there: broken, staging\)/,
    );
    expect(await exists(cluster, 'namespace', 'roomler')).toBe(false);

    const secrets = roomler(['secrets', 'apply', '--context=staging', '--yes'], { env });
    expect(secrets.code, secrets.stderr).toBe(0);
    expect(secrets.stdout).toMatch(/kubectl context: staging/);
    const dry = roomler(['deploy', '--context', 'staging', '--dry-run=server'], { env });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/server-side dry run passed/);
  });
});
