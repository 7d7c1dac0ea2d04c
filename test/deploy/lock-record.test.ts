import { afterAll, describe, expect, it } from 'vitest';

import { restartApiServer } from '../../hack/lib/lab/cluster';
import { LAB_ANNOTATIONS } from '../../hack/lib/lab/stages';
import { stopGroup } from '../../hack/lib/process/run';
import { labBin, type TestCluster, useCluster } from '../support/cluster';
import { cleanupDirs } from '../support/files';
import { roomler } from '../support/roomler';
import { annotate, createSecrets, deploy, exists, project, startDeploy } from './support';

afterAll(cleanupDirs);

// One run at a time, and one honest record per run, against a real API server, scheduler and controllers (kwok plays
// the kubelet). The scenarios run in order on one lab; each leaves the history the next one builds on.

const BASE = 'coturn: { enabled: false }\n';
const LEAN = `${BASE}backups: { enabled: false }\n`;
/** MongoDB's template with a Pod that becomes Ready only after `after`: a deploy that waits in wave 1. */
const slowMongo = (after: string) => annotate('StatefulSet', 'mongodb', LAB_ANNOTATIONS.readyAfter, after);

/** `deploy history`: revision -> outcome, and the lock's line when it is held. */
function history(cluster: TestCluster): { outcomes: Record<number, string>; lock?: string } {
  const h = roomler(['deploy', 'history'], { env: cluster.env });
  expect(h.code, h.stderr).toBe(0);
  return {
    outcomes: Object.fromEntries([...h.stdout.matchAll(/^(\d+) +\S+ +(.+?) {2,}[0-9a-f]{12} /gm)].map((m) => [Number(m[1]), m[2]])),
    lock: /^locked: .*$/m.exec(h.stdout)?.[0],
  };
}

describe('bin/roomler deploy: one run at a time, one honest record', () => {
  const cluster = useCluster();
  const lean = project(LEAN);

  it('two deploys at once: the second exits 75 naming the holder, a third waits (--wait-lock), plans again, and no revision collides', async () => {
    await createSecrets(cluster, lean, { tls: false });
    // A: the full config (backup CronJobs, the ConfigMap they mount), slow in wave 1 so it holds the lock a while.
    const full = project(BASE, slowMongo('6s'));
    const a = startDeploy(cluster, full, '--yes', '--timeout', '60');
    await a.waitFor(/revision 1: recorded as pending/);
    const b = deploy(cluster, lean, '--yes');
    expect(b.code, b.stderr).toBe(75);
    expect(b.stderr).toMatch(
      new RegExp(
        `^deploy: the cluster is locked by \\S+@\\S+ \\(pid ${a.pid}\\), deploy of revision 1 since \\S+Z, last renewed \\d+ s ago \\(Lease roomler-deploy/roomler-deploy-lock\\); nothing was changed\\. Wait for it with --wait-lock SECONDS`,
        'm',
      ),
    );
    expect(b.stdout).not.toMatch(/wave -?\d+: applying/);

    const c = startDeploy(cluster, lean, '--yes', '--wait-lock', '120');
    await c.waitFor(/lock: waiting up to 1\d\d s for the deploy lock held by \S+ \(pid \d+\), deploy of revision 1/);
    expect((await a.done).code, a.stderr()).toBe(0);
    expect((await c.done).code, c.stderr()).toBe(0);
    expect(a.stdout()).toMatch(/recorded revision 1: succeeded/);
    // C confirmed a plan made before A recorded anything; it plans again from A's revision 1, so it prunes A's CronJobs with
    // the ConfigMap they mount, never one without the other.
    expect(c.stdout()).toMatch(/lock: another run recorded revision 1 while this one waited: planned again from it/);
    expect(c.stdout()).toMatch(
      /prune: deleting CronJob\/roomler\/mongodb-backup\n[\s\S]*prune: deleting ConfigMap\/roomler\/mongodb-backup-scripts/,
    );
    expect(c.stdout()).toMatch(/recorded revision 2: succeeded/);
    expect(await exists(cluster, 'configmap', 'mongodb-backup-scripts', '-n', 'roomler')).toBe(false);
    expect(await exists(cluster, 'cronjob', 'mongodb-backup', '-n', 'roomler')).toBe(false);
    expect(history(cluster)).toEqual({ outcomes: { 1: 'succeeded', 2: 'succeeded' }, lock: undefined });
  }, 120_000);

  it('Ctrl-C in a wave: exit 130, said and recorded once as interrupted, the lock given back', async () => {
    const slow = project(LEAN, slowMongo('30s'));
    const d = startDeploy(cluster, slow, '--yes', '--timeout', '120');
    await d.waitFor(/waiting for roomler\/statefulset\/mongodb/);
    process.kill(d.pid, 'SIGINT');
    const end = await d.done;
    expect(end.code, d.stderr()).toBe(130);
    expect(d.stderr()).toMatch(
      /^deploy: deploy interrupted by SIGINT during wave 1 \(waiting for roomler\/statefulset\/mongodb\): recorded revision 3 as interrupted; \d+ object\(s\) were applied before it stopped, nothing was pruned$/m,
    );
    expect(history(cluster)).toMatchObject({
      outcomes: { 3: 'interrupted by SIGINT during wave 1 (waiting for roomler/statefulset/mongodb)' },
      lock: undefined,
    });
  }, 120_000);

  it('`deploy --yes | head`: the closed pipe interrupts it (exit 141), never a silent exit 0', async () => {
    const e = startDeploy(cluster, lean, '--yes', '--timeout', '120');
    await e.waitFor(/deploy will change:\n(.*\n){2}/);
    e.closeStdout();
    const end = await e.done;
    expect(end.code, e.stderr()).toBe(141);
    expect(e.stderr()).toMatch(/^deploy: deploy interrupted by SIGPIPE \(the reader of its output went away\) /m);
    // Either before it changed anything, or recorded as interrupted: never a run without a word about it.
    const recorded = /recorded revision (\d+) as interrupted/.exec(e.stderr());
    const after = history(cluster);
    if (recorded)
      expect(after.outcomes[Number(recorded[1])]).toMatch(
        /^interrupted by SIGPIPE \(the reader of its output went away\) (before|during) wave/,
      );
    else expect(e.stderr()).toMatch(/before it changed anything: nothing was applied or recorded/);
    expect(after.lock).toBeUndefined();
  }, 120_000);

  it('the API server killed mid-wave: it says no record could be written and what history shows; --force-unlock takes the lock over', async () => {
    const slow = project(LEAN, slowMongo('20s'));
    const f = startDeploy(cluster, slow, '--yes', '--timeout', '120');
    await f.waitFor(/waiting for roomler\/statefulset\/mongodb/);
    const revision = Number(/revision (\d+): recorded as pending/.exec(f.stdout())![1]);
    await stopGroup(cluster.state.pids['kube-apiserver'], 0);
    const end = await f.done;
    expect(end.code, f.stdout() + f.stderr()).toBe(1);
    expect(f.stderr()).toMatch(
      /^deploy: lost the API server while waiting for roomler\/statefulset\/mongodb: the API server 127\.0\.0\.1:\d+ refused the connection/m,
    );
    expect(f.stderr()).toMatch(
      new RegExp(
        `no record of this outcome could be written \\(.*refused the connection.*\\): \`bin/roomler deploy history\` will list revision ${revision} as in progress until its lock expires at \\S+Z, then as unfinished \\(started \\S+Z by \\S+\\), not as failed`,
      ),
    );
    expect(f.stderr()).toMatch(
      /the deploy lock \(Lease roomler-deploy\/roomler-deploy-lock\) could not be released .*: it expires by itself at \S+Z/,
    );
    expect(f.stderr()).not.toMatch(/recorded revision \d+ as failed/);

    await restartApiServer(cluster.state, labBin());
    expect(history(cluster)).toMatchObject({
      outcomes: { [revision]: 'in progress' },
      lock: expect.stringMatching(new RegExp(`^locked: \\S+ \\(pid ${f.pid}\\), deploy of revision ${revision} since`)),
    });
    // secrets apply takes the same lock: refused while the dead run's lock lasts, then taken over with --force-unlock.
    const secrets = (...args: string[]) => roomler(['secrets', 'apply', '--yes', ...args], { project: lean, env: cluster.env });
    const locked = secrets();
    expect(locked.code, locked.stderr).toBe(75);
    expect(locked.stderr).toMatch(
      new RegExp(`^secrets: the cluster is locked by \\S+ \\(pid ${f.pid}\\), deploy of revision ${revision} since`, 'm'),
    );
    const forced = secrets('--force-unlock');
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(
      new RegExp(`lock: --force-unlock: took the deploy lock from \\S+ \\(pid ${f.pid}\\), deploy of revision ${revision} since`),
    );
    expect(history(cluster)).toMatchObject({
      outcomes: { [revision]: 'unfinished: no outcome was recorded (the run lost the API server or was killed)' },
      lock: undefined,
    });
  }, 120_000);
});
