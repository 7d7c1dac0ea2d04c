import { afterAll, describe, expect, it } from 'vitest';
import { restartApiServer } from '../../hack/lib/lab/cluster';
import { LAB_ANNOTATIONS } from '../../hack/lib/lab/stages';
import { stopGroup } from '../../hack/lib/process/run';
import { roomler } from '../support/cli';
import { labBin, useCluster, type TestCluster } from '../support/cluster';
import { cleanupDirs } from '../support/synth';
import { annotate, createSecrets, deploy, exists, project, startDeploy } from './support';

afterAll(cleanupDirs);

// One run at a time, and one honest record per run, against a real API server, scheduler and controllers (kwok plays
// the kubelet). The scenarios run in order on one lab; each leaves the history the next one builds on.

const BASE = 'coturn: { enabled: false }\n';
const LEAN = `${BASE}backups: { enabled: false }\n`;
/** MongoDB's template with a Pod that becomes Ready only after `after`: a deploy that waits in wave 1. */
const slowMongo = (after: string) => annotate('StatefulSet', 'mongodb', LAB_ANNOTATIONS.readyAfter, after);

const history = (cluster: TestCluster) => roomler(['deploy', 'history'], { env: cluster.env });
/** Revision -> outcome, from `deploy history`. */
const outcomes = (cluster: TestCluster) => {
  const h = history(cluster);
  expect(h.status, h.stderr).toBe(0);
  return Object.fromEntries([...h.stdout.matchAll(/^(\d+) +\S+ +(.+?) {2,}[0-9a-f]{12} /gm)].map((m) => [Number(m[1]), m[2]]));
};
const lockLine = (cluster: TestCluster) => /^locked: .*$/m.exec(history(cluster).stdout)?.[0];

describe('bin/roomler deploy: one run at a time, one honest record', () => {
  const cluster = useCluster();
  const lean = project(LEAN);

  it('two deploys at once: the second exits 75 naming the holder, a third waits (--wait-lock), plans again, and no revision collides', async () => {
    await createSecrets(cluster, lean);
    expect(deploy(cluster, lean, '--yes').status).toBe(0);

    // A: the full config (backup CronJobs, the ConfigMap they mount), slow in wave 1 so it holds the lock a while.
    const full = project(BASE, slowMongo('6s'));
    const a = startDeploy(cluster, full, '--yes', '--timeout', '60');
    await a.waitFor(/revision 2: recorded as pending/);
    const b = deploy(cluster, lean, '--yes');
    expect(b.status, b.stderr).toBe(75);
    expect(b.stderr).toMatch(
      new RegExp(`^deploy: the cluster is locked by \\S+@\\S+ \\(pid ${a.pid}\\), deploy of revision 2 since \\S+Z, last renewed \\d+ s ago \\(Lease roomler-deploy/roomler-deploy-lock\\); nothing was changed\\. Wait for it with --wait-lock SECONDS`, 'm'),
    );
    expect(b.stdout).not.toMatch(/wave/);

    const c = startDeploy(cluster, lean, '--yes', '--wait-lock', '120');
    await c.waitFor(/lock: waiting up to 1\d\d s for the deploy lock held by \S+ \(pid \d+\), deploy of revision 2/);
    expect((await a.done).code, a.stderr()).toBe(0);
    expect((await c.done).code, c.stderr()).toBe(0);
    expect(a.stdout()).toMatch(/recorded revision 2: succeeded/);
    // C confirmed a plan made from revision 1; it plans again from A's revision 2, so it prunes A's CronJobs with
    // the ConfigMap they mount, never one without the other.
    expect(c.stdout()).toMatch(/lock: another run recorded revision 2 while this one waited: planned again from it/);
    expect(c.stdout()).toMatch(/prune: deleting CronJob\/roomler\/mongodb-backup\n[\s\S]*prune: deleting ConfigMap\/roomler\/mongodb-backup-scripts/);
    expect(c.stdout()).toMatch(/recorded revision 3: succeeded/);
    expect(await exists(cluster, 'configmap', 'mongodb-backup-scripts', '-n', 'roomler')).toBe(false);
    expect(await exists(cluster, 'cronjob', 'mongodb-backup', '-n', 'roomler')).toBe(false);
    expect(outcomes(cluster)).toEqual({ 1: 'succeeded', 2: 'succeeded', 3: 'succeeded' });
    expect(lockLine(cluster)).toBeUndefined();
  });

  it('Ctrl-C in a wave: exit 130, said and recorded once as interrupted, the lock given back', async () => {
    const slow = project(LEAN, slowMongo('30s'));
    const d = startDeploy(cluster, slow, '--yes', '--timeout', '120');
    await d.waitFor(/waiting for roomler\/statefulset\/mongodb/);
    process.kill(d.pid, 'SIGINT');
    const end = await d.done;
    expect(end.code, d.stderr()).toBe(130);
    expect(d.stderr()).toMatch(/^deploy: deploy interrupted by SIGINT during wave 1 \(waiting for roomler\/statefulset\/mongodb\): recorded revision 4 as interrupted; \d+ object\(s\) were applied before it stopped, nothing was pruned$/m);
    expect(outcomes(cluster)[4]).toBe('interrupted by SIGINT during wave 1 (waiting for roomler/statefulset/mongodb)');
    expect(lockLine(cluster)).toBeUndefined();
  });

  it('`deploy --yes | head`: the closed pipe interrupts it (exit 141), never a silent exit 0', async () => {
    const e = startDeploy(cluster, lean, '--yes', '--timeout', '120');
    await e.waitFor(/deploy will change:\n(.*\n){2}/);
    e.closeStdout();
    const end = await e.done;
    expect(end.code, e.stderr()).toBe(141);
    expect(e.stderr()).toMatch(/^deploy: deploy interrupted by SIGPIPE \(the reader of its output went away\)/m);
    // Either before it changed anything, or recorded as interrupted: never a run without a word about it.
    const recorded = /recorded revision (\d+) as interrupted/.exec(e.stderr());
    if (recorded) expect(outcomes(cluster)[Number(recorded[1])]).toMatch(/^interrupted by SIGPIPE/);
    else expect(e.stderr()).toMatch(/before it changed anything: nothing was applied or recorded/);
    expect(lockLine(cluster)).toBeUndefined();
  });

  it('the API server killed mid-wave: it says no record could be written and what history shows; --force-unlock takes over', async () => {
    const slow = project(LEAN, slowMongo('20s'));
    const f = startDeploy(cluster, slow, '--yes', '--timeout', '120');
    await f.waitFor(/waiting for roomler\/statefulset\/mongodb/);
    const revision = Number(/revision (\d+): recorded as pending/.exec(f.stdout())![1]);
    await stopGroup(cluster.state.pids['kube-apiserver'], 0);
    const end = await f.done;
    expect(end.code, f.stdout() + f.stderr()).toBe(1);
    expect(f.stderr()).toMatch(/^deploy: lost the API server while waiting for roomler\/statefulset\/mongodb: the API server 127\.0\.0\.1:\d+ refused the connection/m);
    expect(f.stderr()).toMatch(
      new RegExp(`no record of this outcome could be written \\(.*refused the connection.*\\): \`bin/roomler deploy history\` will list revision ${revision} as in progress until its lock expires at \\S+Z, then as unfinished \\(started \\S+Z by \\S+\\), not as failed`),
    );
    expect(f.stderr()).toMatch(/the deploy lock \(Lease roomler-deploy\/roomler-deploy-lock\) could not be released .*: it expires by itself at \S+Z/);
    expect(f.stderr()).not.toMatch(/recorded revision \d+ as failed/);

    await restartApiServer(cluster.state, labBin());
    expect(outcomes(cluster)[revision]).toBe('in progress');
    const locked = deploy(cluster, lean, '--yes');
    expect(locked.status).toBe(75);
    const g = deploy(cluster, lean, '--yes', '--force-unlock', '--timeout', '120');
    expect(g.status, g.stderr).toBe(0);
    expect(g.stdout).toMatch(new RegExp(`lock: --force-unlock: took the deploy lock from \\S+ \\(pid ${f.pid}\\), deploy of revision ${revision} since`));
    const after = outcomes(cluster);
    expect(after[revision]).toBe('unfinished: no outcome was recorded (the run lost the API server or was killed)');
    expect(after[revision + 1]).toBe('succeeded');
  });
});
