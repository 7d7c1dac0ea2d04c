import { spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

import { waves } from '../../hack/lib/cluster/deploy';
import { badCredentialsKubeconfig } from '../../hack/lib/lab/cluster';
import { LAB_ANNOTATIONS } from '../../hack/lib/lab/stages';
import { turnPassword } from '../../lib/turn';
import { freeNodePort } from '../cutover/support/lab';
import { eventually, useCluster } from '../support/cluster';
import { type Dns, startDnsmasq } from '../support/dnsmasq';
import { cleanupDirs, emptyDir, projectWith } from '../support/files';
import { ROOMLER } from '../support/roomler';
import { startSshd } from '../support/sshd';
import { synthIn } from '../support/synth';

/** A PATH with node and nothing else (machines like this one have a kubectl next to node in /usr/bin). */
const NO_KUBECTL = mkdtempSync(join(tmpdir(), 'roomler-path-'));
symlinkSync(process.execPath, join(NO_KUBECTL, 'node'));

// A DNS server whose answers the test controls (test/support/dnsmasq.ts).
const ROOT = join(__dirname, '..', '..');
const IP = '198.51.100.7';
let dns: Dns;
beforeAll(async () => {
  dns = await startDnsmasq({
    'roomler.live': IP, // explicit
    'janus.roomler.live': IP, // explicit
    '/wild.example/': IP, // a wildcard: every name under wild.example
    'turn.roomler.live': '203.0.113.9', // the wrong address
  });
});
afterAll(() => {
  dns?.stop();
  rmSync(NO_KUBECTL, { recursive: true, force: true });
  cleanupDirs();
});

/** doctor on a "host" with no kubectl on PATH and no nginx: those parts say "skipped". */
function doctor(yaml: string, dotenv = '', confDir = '/nonexistent/conf.d', env: NodeJS.ProcessEnv = {}, withDist = false) {
  const project = projectWith({
    'roomler.yaml': `doctor: { publicIp: ${IP}, dnsServer: "${dns.server}" }\ncutover: { nginx: { confDir: ${confDir}, command: [/nonexistent/nginx] } }\n${yaml}`,
    '.env': dotenv,
  });
  if (withDist) expect(synthIn(project, {}).code).toBe(0);
  const r = spawnSync(ROOMLER, ['doctor'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ROOMLER_PROJECT_DIR: project, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr, project };
}

describe('npm run doctor: DNS (real dnsmasq)', () => {
  it('an explicit record is ok, a wildcard-only answer warns naming the record to add, a wrong address fails', () => {
    const r = doctor('domains: { janus: janus.wild.example }\n');
    expect(r.out).toMatch(/^ok\s+dns roomler\.live\s+resolves to 198\.51\.100\.7$/m);
    expect(r.out).toMatch(
      /^warn\s+dns janus\.wild\.example\s+answered only by the wildcard \*\.wild\.example .*add an explicit A record janus\.wild\.example -> 198\.51\.100\.7$/m,
    );
    expect(r.out).toMatch(/^fail\s+dns turn\.roomler\.live\s+resolves to 203\.0\.113\.9, expected 198\.51\.100\.7$/m);
    expect(r.code).toBe(1);
  });

  it('exits 0 when every name resolves explicitly and nothing fails; what cannot be reached from here says skipped', () => {
    const r = doctor('coturn: { host: roomler.live }\nturn: { host: roomler.live }\n', '', undefined, { PATH: NO_KUBECTL });
    expect(r.out, r.err).toMatch(/doctor: \d+ ok, 0 warn, 0 fail, \d+ skipped/);
    expect(r.out).toMatch(/^skipped\s+cluster\s+kubectl is not installed \(not found on PATH\)/m);
    expect(r.out).toMatch(/^skipped\s+nginx\s+\/nonexistent\/nginx is not on this host/m);
    expect(r.code).toBe(0);
  });

  it("checks the hosts browsers use (the app's URLs), and TURN for a coturn this project does not deploy", () => {
    const r = doctor(
      'coturn: { enabled: false }\napp: { env: { JANUS_URL: "wss://rtc.wild.example/janus_ws", TURN_URL: "turn:turn.roomler.live:3478" } }\n',
    );
    expect(r.out).toMatch(/^warn\s+dns rtc\.wild\.example\s+answered only by the wildcard \*\.wild\.example/m);
    expect(r.out).toMatch(/^fail\s+dns turn\.roomler\.live\s+resolves to 203\.0\.113\.9, expected 198\.51\.100\.7$/m);
    expect(r.out).toMatch(/^skipped\s+turn mode\s+coturn\.enabled is false: the TURN server at TURN_URL is not deployed from here/m);
    expect(r.out).toMatch(/^ok\s+turn expiry roomler\s+/m);
  });

  it('a name that does not resolve fails', () => {
    const r = doctor('domains: { app: missing.roomler.test }\n');
    expect(r.out).toMatch(
      /^fail\s+dns missing\.roomler\.test\s+does not resolve at 127\.0\.0\.1:\d+; add an A record for missing\.roomler\.test -> 198\.51\.100\.7$/m,
    );
  });
});

describe('npm run doctor: nginx routes on this host (as cutover status sees them)', () => {
  it('ok for a route cut over, warn for one still on the old backend, fail for a half-done one', () => {
    const conf = emptyDir('roomler-doctor-nginx-');
    writeFileSync(join(conf, 'roomler.live.conf'), 'server { location / { proxy_pass http://127.0.0.1:30030; } }\n');
    writeFileSync(
      join(conf, 'janus.conf'),
      'server { location /janus_http { proxy_pass http://janus_r:8088/janus; } location /ws { proxy_pass http://janus_r:8188; } location /ws2 { proxy_pass http://127.0.0.1:30818; } location /stats { proxy_pass http://janus_r:9999; } }\n',
    );
    const r = doctor(`nodeAddress: 127.0.0.1\ncoturn: { host: roomler.live }\nturn: { host: roomler.live }\n`, '', conf);
    expect(r.out).toMatch(/^ok\s+nginx route\s+new: r00mler2:3000 -> roomler\/http \(127\.0\.0\.1:30030\): 0 old, 1 new$/m);
    expect(r.out).toMatch(/^warn\s+nginx route\s+old: janus_r:8088 -> janus-nodeport\/http .*\(not cut over yet\)$/m);
    expect(r.out).toMatch(/^fail\s+nginx route\s+MIXED: janus_r:8188 -> janus-nodeport\/websocket .*1 old, 1 new \(half cut over/m);
    // An address on an old host that no route moves and nothing keeps: nginx -t fails once the container stops.
    expect(r.out).toMatch(
      /^fail\s+nginx old backend\s+\S+\/janus\.conf:1: proxy_pass janus_r:9999 is neither routed nor kept \(cutover\.routes \/ cutover\.kept\): nginx -t fails once janus_r is gone$/m,
    );
    expect(r.code).toBe(1);
  });
});

describe('npm run doctor: TURN and probes', () => {
  const base = 'coturn: { host: roomler.live }\nturn: { host: roomler.live }\n';

  it('checks the app credential against the coturn secret', () => {
    const user = '2145830400:roomler';
    const good = doctor(base, `COTURN_AUTH_SECRET=s3cret\nTURN_PASSWORD=${turnPassword('s3cret', user)}\n`);
    expect(good.out).toMatch(/^ok\s+turn credential roomler\s+TURN_PASSWORD verifies against COTURN_AUTH_SECRET for 2145830400:roomler$/m);
    const bad = doctor(base, `COTURN_AUTH_SECRET=s3cret\nTURN_PASSWORD=${turnPassword('other', user)}\n`);
    expect(bad.out).toMatch(/^fail\s+turn credential roomler\s+TURN_PASSWORD does not verify/m);
    expect(bad.code).toBe(1);
  });

  it('warns before the TURN credential lapses', () => {
    const soon = Math.floor(Date.now() / 1000) + 30 * 86400;
    const r = doctor(`${base}turn: { host: roomler.live, expiry: ${soon} }\n`.replace(`turn: { host: roomler.live }\n`, ''));
    expect(r.out).toMatch(/^warn\s+turn expiry roomler\s+\d+:roomler expires in 2\d days: raise turn\.expiry/m);
  });

  it('fails a startup budget that a liveness probe could cut short', () => {
    const r = doctor(`${base}app: { startupProbe: { failureThreshold: 5 } }\n`);
    expect(r.out).toMatch(/^fail\s+probes roomler\s+startup budget 35 s \(10 \+ 5 x 5\) is less than 120 s for 12 PM2 workers/m);
    expect(r.code).toBe(1);
  });
});

describe('bin/roomler doctor: the cluster checks against a real API server', () => {
  const cluster = useCluster();
  const base = 'coturn: { host: roomler.live }\nturn: { host: roomler.live }\n';

  it('says precisely why it skips: kubectl missing, no context set, credentials refused', async () => {
    const lab = { ...cluster.env };
    const missing = doctor(base, '', undefined, { PATH: NO_KUBECTL });
    expect(missing.out).toMatch(
      /^skipped\s+cluster\s+kubectl is not installed \(not found on PATH\); install kubectl v1\.28 to use a cluster$/m,
    );
    const noContext = join(emptyDir(), 'config');
    writeFileSync(noContext, readFileSync(cluster.state.kubeconfig, 'utf8').replace(/^current-context: .*$/m, ''));
    const unset = doctor(base, '', undefined, { ...lab, KUBECONFIG: noContext });
    expect(unset.out).toMatch(
      /^skipped\s+cluster\s+no kubectl context is set (in \S+ )?\((kubectl config )?current-context is empty\): pass --context NAME or run kubectl config use-context NAME$/m,
    );
    const refused = doctor(base, '', undefined, { ...lab, KUBECONFIG: badCredentialsKubeconfig(cluster.state, join(emptyDir(), 'bad')) });
    expect(refused.out).toMatch(
      /^skipped\s+cluster\s+the API server https:\/\/127\.0\.0\.1:\d+ \(context roomler-lab\) refused the credentials of user "roomler-lab-admin" \(401 Unauthorized\)/m,
    );
  });

  let config = '';
  it("reads what the cluster holds: pods on their nodes, NodePorts from this host, the backup CronJobs' last runs", async () => {
    const [app, ...janus] = await Promise.all([freeNodePort(), freeNodePort(), freeNodePort()]);
    config = `${base}nodeAddress: 127.0.0.1\napp: { nodePort: ${app} }\njanus: { nodePorts: { http: ${janus[0]}, websocket: ${janus[1]} } }\n`;
    const project = projectWith({ 'roomler.yaml': config });
    const s = synthIn(project, {});
    expect(s.code, s.stderr).toBe(0);
    for (const [, objs] of waves(s.outdir)) {
      // The app's Pods report a failing readiness probe: doctor must name that, not just "not ready".
      for (const o of objs)
        if (o.kind === 'Deployment' && o.metadata.name === 'roomler')
          o.spec.template.metadata.annotations = { [LAB_ANNOTATIONS.neverReady]: 'true' };
      const r = await cluster.kubectl(
        ['apply', '--server-side', '-f', '-'],
        objs.map((o) => stringify(o, { version: '1.1' })).join('---\n'),
      );
      expect(r.exitCode, r.stderr).toBe(0);
    }
    // One backup run succeeded; a later verify run failed (the lab's kwok fails Pods annotated so).
    const cronjob = await cluster.json(['get', 'cronjob', 'mongodb-backup-verify', '-n', 'roomler']);
    expect((await cluster.kubectl(['-n', 'roomler', 'create', 'job', 'backup-manual', '--from=cronjob/mongodb-backup'])).exitCode).toBe(0);
    const failing = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: 'verify-manual',
        namespace: 'roomler',
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'mongodb-backup-verify', uid: cronjob.metadata.uid }],
      },
      spec: {
        ...cronjob.spec.jobTemplate.spec,
        backoffLimit: 0,
        template: { ...cronjob.spec.jobTemplate.spec.template, metadata: { annotations: { [LAB_ANNOTATIONS.fail]: 'true' } } },
      },
    };
    expect((await cluster.kubectl(['create', '-f', '-'], JSON.stringify(failing))).exitCode).toBe(0);
    await eventually(
      async () =>
        (await cluster.json(['get', 'cronjob', 'mongodb-backup', '-n', 'roomler'])).status?.lastSuccessfulTime ? true : undefined,
      30_000,
      'the backup run to succeed',
    );
    await eventually(
      async () =>
        (await cluster.json(['get', 'job', 'verify-manual', '-n', 'roomler'])).status?.conditions?.some((c: any) => c.type === 'Failed')
          ? true
          : undefined,
      30_000,
      'the verify run to fail',
    );
    await eventually(
      async () =>
        (await cluster.json(['get', 'pods', '-n', 'roomler', '-l', 'app.kubernetes.io/name=mongodb'])).items[0]?.status?.phase === 'Running'
          ? true
          : undefined,
      30_000,
      'mongodb-0 running',
    );

    let listener: Server | undefined;
    await new Promise<void>((res) => (listener = createServer((c) => c.end()).listen(app, '127.0.0.1', res)));
    try {
      const r = doctor(config, '', undefined, cluster.env);
      expect(r.out).toMatch(/^ok\s+pod roomler\/mongodb-0\s+ready on k8s-worker1, 0 restart\(s\)$/m);
      expect(r.out).toMatch(
        /^fail\s+pod roomler\/roomler-\S+\s+roomler-\S+ Running on k8s-worker1: container roomler running but not Ready \(its readiness probe fails\)$/m,
      );
      expect(r.out).toMatch(new RegExp(`^ok\\s+nodeport roomler\\s+127\\.0\\.0\\.1:${app} answers$`, 'm'));
      expect(r.out).toMatch(new RegExp(`^fail\\s+nodeport janus http\\s+127\\.0\\.0\\.1:${janus[0]} does not answer from this host$`, 'm'));
      expect(r.out).toMatch(/^ok\s+cronjob roomler\/mongodb-backup\s+last success \S+ \(0 h ago\)$/m);
      expect(r.out).toMatch(
        /^fail\s+cronjob roomler\/mongodb-backup-verify\s+job verify-manual failed at \S+ .*never succeeded: kubectl -n roomler logs job\/verify-manual$/m,
      );
      expect(r.out).not.toMatch(/backup-manual-/); // a Job's Pod is not a workload Pod
      // Every workload of every namespace the config deploys: coturn's too.
      expect(r.out).toMatch(/^ok\s+pod coturn\/coturn-worker1-\S+\s+ready on k8s-worker1, 0 restart\(s\)$/m);
      expect(r.out).toMatch(/^ok\s+pod coturn\/coturn-worker2-\S+\s+ready on k8s-worker2, 0 restart\(s\)$/m);
      expect(r.code).toBe(1);
    } finally {
      listener?.close();
    }
  });
  it('a node that stopped reporting: its Pods count as not ready whatever they last said, and doctor says why', async () => {
    // kwok stops playing this node's kubelet; its last status turns Unknown, as the node controller writes it.
    expect((await cluster.kubectl(['annotate', 'node', 'k8s-worker2', 'kwok.x-k8s.io/node=gone', '--overwrite'])).exitCode).toBe(0);
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const unknown = {
      type: 'Ready',
      status: 'Unknown',
      reason: 'NodeStatusUnknown',
      message: 'Kubelet stopped posting node status.',
      lastHeartbeatTime: now,
      lastTransitionTime: now,
    };
    const p = await cluster.kubectl([
      'patch',
      'node',
      'k8s-worker2',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { conditions: [unknown] } }),
    ]);
    expect(p.exitCode, p.stderr).toBe(0);
    const r = doctor(config, '', undefined, cluster.env);
    expect(r.out).toMatch(
      /^fail\s+pod coturn\/coturn-worker2-\S+\s+coturn-worker2-\S+ Running on k8s-worker2: node k8s-worker2 is unreachable \(Ready=Unknown\) since \S+ \(Kubelet stopped posting node status\.\): what its Pods report is stale$/m,
    );
    expect(r.out).toMatch(/^ok\s+pod coturn\/coturn-worker1-\S+\s+ready on k8s-worker1/m);
  });
});

describe("bin/roomler doctor: the node's hostPath directories (real sshd as the data node)", () => {
  it('fails a missing or root-owned MongoDB directory, naming the owner the pods need; ok once right', async () => {
    const dir = emptyDir('roomler-doctor-node-');
    const sshd = await startSshd(dir);
    try {
      const data = join(dir, 'data');
      const config = `ssh: { host: 127.0.0.1, port: ${sshd.port}, user: root, keyPath: "${sshd.keyPath}", knownHostsFile: "${sshd.knownHostsFile}" }\nmongodb: { hostPath: "${data}/mongodb" }\napp: { uploads: { hostPath: "${data}/uploads" } }\nbackups: { volume: { hostPath: "${data}/backup" } }\n`;
      const r1 = doctor(config, '', undefined, { PATH: NO_KUBECTL + ':/usr/bin:/bin' }, true);
      expect(r1.out).toMatch(
        new RegExp(
          `^fail\\s+node dir\\s+MISSING ${data}/mongodb \\(roomler-mongodb-data; needs owner 999:999 for StatefulSet/mongodb\\)$`,
          'm',
        ),
      );
      mkdirSync(join(data, 'mongodb'), { recursive: true });
      const r2 = doctor(config, '', undefined, { PATH: NO_KUBECTL + ':/usr/bin:/bin' }, true);
      expect(r2.out).toMatch(
        new RegExp(
          `^fail\\s+node dir\\s+WRONG OWNER ${data}/mongodb is 0:0, needs 999:999 \\(roomler-mongodb-data, written by StatefulSet/mongodb\\)$`,
          'm',
        ),
      );
      for (const d of ['mongodb', 'backup']) {
        mkdirSync(join(data, d), { recursive: true });
        chownSync(join(data, d), 999, 999);
      }
      mkdirSync(join(data, 'uploads'), { recursive: true });
      const r3 = doctor(config, '', undefined, { PATH: NO_KUBECTL + ':/usr/bin:/bin' }, true);
      expect(
        r3.out
          .split('\n')
          .filter((l) => / node dir /.test(l))
          .map((l) => l.split(/\s+/)[0]),
      ).toEqual(['ok', 'ok', 'ok']);
    } finally {
      sshd.stop();
    }
  });
});
