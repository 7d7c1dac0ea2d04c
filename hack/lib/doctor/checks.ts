import { randomBytes } from 'node:crypto';
import { promises as dns } from 'node:dns';
import { existsSync } from 'node:fs';

import { type InstanceConfig, type LoadedConfig, MONGODB_CREDENTIALS, TURN_EXPIRY_MAX, turnUsername } from '../../../lib/config';
import { coturnIssues } from '../../../lib/config/coturn-checks';
import { turnserverConf } from '../../../lib/constructs/turnserver-conf';
import type { K8sObject } from '../../../lib/manifest';
import { type Manifest, synthesizeManifests } from '../../../lib/synth';
import { turnPassword } from '../../../lib/turn';
import { backupSets, verifySet } from '../backups/snapshots';
import { describePod, explainKubectlError, nodeProblems, podReady } from '../cluster/causes';
import { readDist } from '../cluster/dist';
import { clusterTargets, ClusterUnavailable, Kubectl } from '../cluster/kubectl';
import { NginxControl } from '../cutover/nginx';
import { inventory, readTree, resolveRoutes, routeStatus } from '../cutover/plan';
import { accepts } from '../process/ports';
import { run } from '../process/run';
import { checkDirs, hostDirs } from '../runbook/node';

export type Status = 'ok' | 'warn' | 'fail' | 'skipped';
export interface Line {
  readonly status: Status;
  readonly check: string;
  readonly detail: string;
}

const line = (status: Status, check: string, detail: string): Line => ({ status, check, detail });

/** Public names resolve to the public IP; a name answered only by a wildcard is a warning naming the record to add. */
export async function dnsChecks(cfg: LoadedConfig): Promise<Line[]> {
  const d = cfg.root.doctor;
  const resolver = new dns.Resolver({ timeout: 2000, tries: 1 });
  if (d.dnsServer) resolver.setServers([d.dnsServer]);
  // Browsers use the hosts in the app's URLs (URL, API_URL, JANUS_URL, TURN_URL), which need not be domains.*.
  const urlHosts = (i: LoadedConfig['instances'][number]) =>
    [i.app.env.URL, i.app.env.API_URL, i.app.env.JANUS_URL, i.app.env.TURN_URL].flatMap((u) => {
      const m = /^[a-z]+:(?:\/\/)?(?:[^@/]*@)?\[?([^\]:/?]+)/i.exec(u ?? '');
      return m && !/^\d+\.\d+\.\d+\.\d+$/.test(m[1]) ? [m[1]] : [];
    });
  const names = [
    ...new Set([
      ...cfg.instances.flatMap((i) => [i.domains.app, i.domains.janus, ...urlHosts(i)]),
      ...(cfg.root.coturn.enabled ? [cfg.root.coturn.host] : []),
    ]),
  ];
  const lookup = (n: string) =>
    resolver.resolve4(n).then(
      (a) => a.sort(),
      () => [] as string[],
    );
  return Promise.all(
    names.map(async (name) => {
      const check = `dns ${name}`;
      const addrs = await lookup(name);
      if (!addrs.length)
        return line(
          'fail',
          check,
          `does not resolve${d.dnsServer ? ` at ${d.dnsServer}` : ''}; add an A record for ${name}${d.publicIp ? ` -> ${d.publicIp}` : ''}`,
        );
      if (d.publicIp && !addrs.includes(d.publicIp)) return line('fail', check, `resolves to ${addrs.join(', ')}, expected ${d.publicIp}`);
      const parent = name.split('.').slice(1).join('.');
      const probe = await lookup(`doctor-${randomBytes(6).toString('hex')}.${parent}`);
      if (probe.length && probe.join() === addrs.join()) {
        return line(
          'warn',
          check,
          `answered only by the wildcard *.${parent} (a random label resolves to ${probe.join(', ')} too); add an explicit A record ${name} -> ${d.publicIp ?? addrs[0]}`,
        );
      }
      return line('ok', check, `resolves to ${addrs.join(', ')}${d.publicIp ? '' : ' (doctor.publicIp not set: address not compared)'}`);
    }),
  );
}

/** coturn's auth mode and every TURN_URL against its endpoints; skipped when coturn is not deployed from here. */
function turnConfigChecks(cfg: LoadedConfig): Line[] {
  const c = cfg.root.coturn;
  if (!c.enabled) {
    // A TURN server this project does not deploy (an earlier setup): its config is not ours to read, but the
    // credential the app hands out and a real allocation at TURN_URL are still checked.
    return [
      line(
        'skipped',
        'turn mode',
        'coturn.enabled is false: the TURN server at TURN_URL is not deployed from here; its credential and an allocation are still checked',
      ),
    ];
  }
  const modes = c.workers.map((w) => turnserverConf(c, w));
  const locate = (_: number, p: readonly (string | number)[]) => p.join('.');
  const endpoint = coturnIssues(c, cfg.instances, locate, (p) => p);
  return [
    modes.every((m) => /^use-auth-secret$/m.test(m) && !/^lt-cred-mech$/m.test(m))
      ? line('ok', 'turn mode', 'coturn runs use-auth-secret, the mode of the credentials Roomler hands out')
      : line('fail', 'turn mode', 'coturn is not in use-auth-secret mode: every call would fail to allocate'),
    endpoint.length
      ? line('fail', 'turn url', endpoint.join('; '))
      : line('ok', 'turn url', 'every TURN_URL points at a configured coturn endpoint'),
  ];
}

/** How long an instance's TURN username stays valid: within coturn's window, and not about to expire. */
function turnExpiryCheck(cfg: LoadedConfig, i: InstanceConfig): Line {
  const user = turnUsername(i);
  const days = (i.turn.expiry - Date.now() / 1000) / 86400;
  if (i.turn.expiry > TURN_EXPIRY_MAX || days <= 0)
    return line('fail', `turn expiry ${i.name}`, `${user} is outside coturn's window (future, at most ${TURN_EXPIRY_MAX})`);
  if (days < cfg.root.doctor.turnExpiryWarnDays)
    return line(
      'warn',
      `turn expiry ${i.name}`,
      `${user} expires in ${Math.floor(days)} days: raise turn.expiry and re-run bin/roomler secrets apply`,
    );
  return line('ok', `turn expiry ${i.name}`, `${user} expires in ${Math.floor(days)} days`);
}

/** A given TURN_PASSWORD must verify against COTURN_AUTH_SECRET (by default it is derived from it). */
function turnCredentialCheck(i: InstanceConfig, given: string | undefined, derived: string): Line {
  const check = `turn credential ${i.name}`;
  if (given === undefined) return line('ok', check, 'TURN_PASSWORD is derived from COTURN_AUTH_SECRET by bin/roomler secrets');
  return given === derived
    ? line('ok', check, `TURN_PASSWORD verifies against COTURN_AUTH_SECRET for ${turnUsername(i)}`)
    : line(
        'fail',
        check,
        `TURN_PASSWORD does not verify against COTURN_AUTH_SECRET for ${turnUsername(i)}: coturn would reject every allocation`,
      );
}

/** A real allocation at the instance's TURN_URL with the credential the app hands out; skipped when STUN does not answer. */
async function turnAllocationCheck(cfg: LoadedConfig, i: InstanceConfig, password: string): Promise<Line> {
  const check = `turn allocation ${i.name}`;
  const m = /^turns?:([^:?]+)(?::(\d+))?/.exec(i.app.env.TURN_URL);
  const host = m?.[1] ?? cfg.root.coturn.host;
  const port = m?.[2] ?? String(cfg.root.coturn.ports.listening);
  const stun = await run('turnutils_stunclient', ['-p', port, host], { timeoutMs: 3000 });
  if (stun.exitCode !== 0) {
    const why = stun.stderr.includes('ENOENT') ? ' (turnutils_stunclient not installed)' : '';
    return line('skipped', check, `${host}:${port} does not answer STUN from here${why}`);
  }
  const user = turnUsername(i);
  const alloc = await run('turnutils_uclient', ['-p', port, '-u', user, '-w', password, '-n', '1', '-m', '1', '-y', '-c', host], {
    timeoutMs: 20_000,
  });
  return alloc.exitCode === 0
    ? line('ok', check, `allocated a relay at ${host}:${port} as ${user}`)
    : line('fail', check, `${host}:${port} refused the allocation: ${(alloc.stdout + alloc.stderr).trim().split('\n').pop()}`);
}

/** coturn's auth mode, the app's credential against the coturn secret, its expiry, the TURN URL, a real allocation. */
export async function turnChecks(cfg: LoadedConfig, secret: (name: string) => string | undefined): Promise<Line[]> {
  const out = turnConfigChecks(cfg);
  const authSecret = secret('COTURN_AUTH_SECRET');
  for (const i of cfg.instances) {
    out.push(turnExpiryCheck(cfg, i));
    if (!authSecret) {
      out.push(line('skipped', `turn credential ${i.name}`, 'COTURN_AUTH_SECRET is not in the environment or .env'));
      continue;
    }
    const derived = turnPassword(authSecret, turnUsername(i));
    out.push(turnCredentialCheck(i, secret('TURN_PASSWORD'), derived));
    out.push(await turnAllocationCheck(cfg, i, derived));
  }
  return out;
}

/** A liveness probe must not be able to kill a starting app: the startup budget covers PM2's start. */
export function probeChecks(cfg: LoadedConfig): Line[] {
  const d = cfg.root.doctor;
  const expected = d.pm2Workers * d.secondsPerWorker;
  return cfg.instances.map((i) => {
    const p = i.app.startupProbe;
    const budget = p.initialDelaySeconds + p.periodSeconds * p.failureThreshold;
    return budget >= expected
      ? line(
          'ok',
          `probes ${i.name}`,
          `startup budget ${budget} s covers ${d.pm2Workers} PM2 workers x ${d.secondsPerWorker} s = ${expected} s`,
        )
      : line(
          'fail',
          `probes ${i.name}`,
          `startup budget ${budget} s (${p.initialDelaySeconds} + ${p.periodSeconds} x ${p.failureThreshold}) is less than ${expected} s for ${d.pm2Workers} PM2 workers: liveness would restart the app before it starts (CrashLoopBackOff); raise app.startupProbe.failureThreshold`,
        );
  });
}

/** Pods, NodePorts from this host, and MongoDB's version after the migration, when the cluster answers. */
export async function clusterChecks(cfg: LoadedConfig, kubectl: Kubectl, override?: string): Promise<Line[]> {
  try {
    await kubectl.connect();
  } catch (e) {
    if (e instanceof ClusterUnavailable) return [line('skipped', 'cluster', e.message)];
    throw e;
  }
  const out: Line[] = [];
  // Every workload of every namespace the config deploys (the instances' and coturn's), as synth makes them, each in
  // the cluster deploy sends it to (`override`: --context for everything).
  const workloads = [...synthesizeManifests(cfg).values()]
    .flat()
    .filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind));
  for (const target of clusterTargets(cfg, workloads, override)) {
    const k = (target.context ?? kubectl.context) === kubectl.context ? kubectl : new Kubectl(target.context);
    for (const ns of [...new Set(target.objects.map((w) => w.metadata.namespace!))])
      out.push(
        ...(await workloadChecks(
          k,
          ns,
          target.objects.filter((w) => w.metadata.namespace === ns),
        )),
      );
  }
  for (const i of cfg.instances) {
    out.push(...(await cronJobChecks(i, kubectl)));
    for (const [name, port] of [['roomler', i.app.nodePort], ...Object.entries(i.janus.nodePorts).map(([k, v]) => [`janus ${k}`, v])] as [
      string,
      number,
    ][]) {
      out.push(
        (await accepts(port, i.nodeAddress))
          ? line('ok', `nodeport ${name}`, `${i.nodeAddress}:${port} answers`)
          : line('fail', `nodeport ${name}`, `${i.nodeAddress}:${port} does not answer from this host`),
      );
    }
    // Authenticates inside the script from the credential files (MONGODB_CREDENTIALS): no password in any argv.
    const { dirEnv, username, password } = MONGODB_CREDENTIALS;
    const script =
      `const fs = require('fs'); const read = (k) => fs.readFileSync(process.env.${dirEnv} + '/' + k, 'utf8').replace(/\\n+$/, '');` +
      ` const a = db.getSiblingDB('admin'); a.auth(read('${username}'), read('${password}'));` +
      " print(db.version() + ' ' + a.adminCommand({ getParameter: 1, featureCompatibilityVersion: 1 }).featureCompatibilityVersion.version)";
    const mongo = await kubectl.run(
      ['exec', '-i', '-n', i.namespace, 'mongodb-0', '--', 'mongosh', '--quiet', '--norc', '--file', '/dev/stdin'],
      { input: script, timeoutMs: 30_000 },
    );
    const [version, fcv] = mongo.stdout.trim().split(/\s+/);
    if (mongo.exitCode !== 0)
      out.push(line('fail', `mongodb ${i.name}`, `cannot query mongodb-0: ${mongo.stderr.trim().split('\n').pop()}`));
    else
      out.push(
        version?.split('.')[0] === fcv?.split('.')[0]
          ? line('ok', `mongodb ${i.name}`, `server ${version}, featureCompatibilityVersion ${fcv}`)
          : line(
              'warn',
              `mongodb ${i.name}`,
              `server ${version} but featureCompatibilityVersion ${fcv}: finish the upgrade with setFeatureCompatibilityVersion`,
            ),
      );
  }
  return out;
}

/**
 * One namespace's workloads: each must exist and have Pods, and each Pod is judged by its own Ready condition on a
 * node that still reports (a node that stopped heartbeating makes every "Running, Ready" stale), with the cause.
 */
async function workloadChecks(kubectl: Kubectl, namespace: string, workloads: readonly Manifest[]): Promise<Line[]> {
  const r = await kubectl.run(['get', 'pods,deployments,statefulsets,daemonsets', '-n', namespace, '-o', 'json'], { timeoutMs: 15_000 });
  if (r.exitCode !== 0) return [line('fail', `namespace ${namespace}`, `cannot read its workloads: ${explainKubectlError(r.stderr)}`)];
  const items: K8sObject[] = JSON.parse(r.stdout).items;
  const pods = items.filter(
    (x) =>
      x.kind === 'Pod' &&
      !x.metadata.deletionTimestamp &&
      x.status?.phase !== 'Succeeded' &&
      !x.metadata.ownerReferences?.some((o: { kind: string }) => o.kind === 'Job'),
  );
  const nodes = await nodeProblems(
    kubectl,
    pods.map((p) => p.spec?.nodeName),
  );
  const out: Line[] = [];
  for (const w of workloads) {
    const check = `workload ${namespace}/${w.kind.toLowerCase()}/${w.metadata.name}`;
    const live = items.find((x) => x.kind === w.kind && x.metadata.name === w.metadata.name);
    const selector = Object.entries<string>(w.spec?.selector?.matchLabels ?? {});
    const mine = pods.filter((p) => selector.every(([k, v]) => p.metadata.labels?.[k] === v));
    if (!live) out.push(line('fail', check, 'missing from the cluster: run bin/roomler deploy'));
    else if (!mine.length)
      out.push(
        line(
          'fail',
          check,
          `has no Pods (desired ${live.spec?.replicas ?? 1}): kubectl -n ${namespace} describe ${w.kind.toLowerCase()}/${w.metadata.name}`,
        ),
      );
    for (const p of mine) {
      const restarts = (p.status?.containerStatuses ?? []).reduce((n: number, c: { restartCount: number }) => n + c.restartCount, 0);
      const ready = podReady(p, nodes);
      out.push(
        line(
          !ready ? 'fail' : restarts > 5 ? 'warn' : 'ok',
          `pod ${namespace}/${p.metadata.name}`,
          ready ? `ready on ${p.spec.nodeName}, ${restarts} restart(s)` : describePod(p, nodes),
        ),
      );
    }
  }
  return out;
}

/**
 * The backup CronJobs of an instance as the cluster holds them: present, and their last successful run recent
 * enough for the schedule (a day plus an hour for the daily jobs); a run that failed after the last success fails.
 */
export async function cronJobChecks(i: InstanceConfig, kubectl: Kubectl, now = Date.now()): Promise<Line[]> {
  const b = i.backups;
  if (!b.enabled) return [];
  const expected = ['mongodb-backup', 'mongodb-backup-verify', ...(b.restoreTest.enabled ? ['mongodb-restore-test'] : [])];
  const r = await kubectl.run(['get', 'cronjobs,jobs', '-n', i.namespace, '-o', 'json'], { timeoutMs: 15_000 });
  if (r.exitCode !== 0) return [line('fail', `cronjobs ${i.namespace}`, `cannot list them: ${r.stderr.trim().split('\n').pop()}`)];
  const items: K8sObject[] = JSON.parse(r.stdout).items;
  const hours = (t: string) => (now - Date.parse(t)) / 3_600_000;
  return expected.map((name) => {
    const check = `cronjob ${i.namespace}/${name}`;
    const cj = items.find((x) => x.kind === 'CronJob' && x.metadata.name === name);
    if (!cj) return line('fail', check, 'missing from the cluster: run bin/roomler deploy');
    if (cj.spec.suspend) return line('warn', check, 'suspended: no backups are taken');
    const success: string | undefined = cj.status?.lastSuccessfulTime;
    const failed = items
      .filter((x) => x.kind === 'Job' && x.metadata.ownerReferences?.some((o: K8sObject) => o.kind === 'CronJob' && o.name === name))
      .filter((j) => j.status?.conditions?.some((c: K8sObject) => c.type === 'Failed' && c.status === 'True'))
      .map((j) => ({
        name: j.metadata.name,
        at: j.status.conditions.find((c: K8sObject) => c.type === 'Failed').lastTransitionTime as string,
        reason: j.status.conditions.find((c: K8sObject) => c.type === 'Failed').message as string,
      }))
      .filter((j) => !success || Date.parse(j.at) > Date.parse(success))
      .sort((a, c) => a.at.localeCompare(c.at));
    const lastFail = failed.pop();
    if (lastFail)
      return line(
        'fail',
        check,
        `job ${lastFail.name} failed at ${lastFail.at}${lastFail.reason ? ` (${lastFail.reason})` : ''}${success ? `; last success ${success}` : '; never succeeded'}: kubectl -n ${i.namespace} logs job/${lastFail.name}`,
      );
    if (!success)
      return cj.status?.lastScheduleTime
        ? line('fail', check, `scheduled at ${cj.status.lastScheduleTime} but never succeeded`)
        : line('warn', check, `has not run yet (schedule "${cj.spec.schedule}"${cj.spec.timeZone ? ` ${cj.spec.timeZone}` : ''})`);
    const age = hours(success);
    return age > 25
      ? line('fail', check, `last success ${success}, ${Math.floor(age)} h ago (schedule "${cj.spec.schedule}")`)
      : line('ok', check, `last success ${success} (${Math.floor(age)} h ago)`);
  });
}

/**
 * On the data node (over ssh): every hostPath directory the manifests use exists, owned by the uid/gid of the
 * containers that write it (a hostPath volume ignores fsGroup: a root-owned MongoDB directory crash-loops uid 999).
 */
export async function nodeChecks(cfg: LoadedConfig, dist: string): Promise<Line[]> {
  if (!existsSync(dist)) return [line('skipped', 'node dirs', `${dist} does not exist (bin/roomler synth)`)];
  const dirs = hostDirs(readDist(dist));
  if (!dirs.length) return [];
  try {
    const c = await checkDirs(cfg, dirs);
    return c.lines.map((l) => line(l.startsWith('ok ') ? 'ok' : 'fail', 'node dir', l.replace(/^ok /, '')));
  } catch (e) {
    return [line('skipped', 'node dirs', `the data node does not answer over ssh: ${(e as Error).message}`)];
  }
}

/** On the nginx host: the config test and the off-node backups. */
export async function hostChecks(cfg: LoadedConfig): Promise<Line[]> {
  const out: Line[] = [];
  const t = await new NginxControl(cfg.root.cutover.nginx).test();
  const [nginx] = [...cfg.root.cutover.nginx.exec, ...cfg.root.cutover.nginx.command];
  if (t.output.includes('ENOENT')) out.push(line('skipped', 'nginx', `${nginx} is not on this host`));
  else
    out.push(
      t.ok
        ? line('ok', 'nginx', 'configuration test passes')
        : line(
            'fail',
            'nginx',
            `nginx -t fails: ${
              t.output
                .split('\n')
                .filter((l) => /emerg|error/.test(l))
                .pop() ?? t.output
            }`,
          ),
    );
  if (!existsSync(cfg.root.cutover.nginx.confDir))
    out.push(line('skipped', 'nginx routes', `${cfg.root.cutover.nginx.confDir} is not on this host`));
  else {
    for (const r of routeStatus(cfg))
      if (r.state !== 'absent')
        out.push(
          line(
            r.state === 'new' ? 'ok' : r.state === 'MIXED' ? 'fail' : 'warn',
            `nginx route`,
            `${r.state}: ${r.line}${r.state === 'old' ? ' (not cut over yet)' : r.state === 'MIXED' ? ' (half cut over: run bin/roomler cutover plan)' : ''}`,
          ),
        );
    // Every backend address on an old host must be routed or kept: once the containers stop, any other one makes
    // nginx -t (and every reload or restart) fail.
    for (const t of inventory(readTree(cfg.root.cutover.nginx.confDir), resolveRoutes(cfg), cfg).filter(
      (x) => x.disposition === 'unaccounted',
    ))
      out.push(
        line(
          'fail',
          'nginx old backend',
          `${t.file}:${t.line}: ${t.kind} ${t.hostPort} is neither routed nor kept (cutover.routes / cutover.kept): nginx -t fails once ${t.host} is gone`,
        ),
      );
  }
  if (!existsSync(cfg.root.backup.basePath))
    out.push(line('skipped', 'backups', `no off-node backups on this host (${cfg.root.backup.basePath})`));
  else
    for (const set of backupSets(cfg))
      for (const c of await verifySet(cfg, set)) out.push(line(c.ok ? 'ok' : 'fail', `backup ${set.name}`, c.detail));
  return out;
}
