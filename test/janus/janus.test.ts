import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { accepts, freePorts } from '../../hack/lib/process/ports';
import { type K8sObject, podSpecOf } from '../../lib/manifest';
import { allObjects, cleanupDirs, emptyDir, find, projectWith } from '../support/files';
import { synthFiles } from '../support/synth';

// Debian's Janus (1.1, from the same upstream `make configs` samples janus-slim ships, 0.9.5) with the transport
// configs synth renders and the janus.jcfg the admin-secret init step writes from Debian's own, moved onto free
// loopback ports. It proves the admin API is really off by default, and when enabled answers only with the
// secret from the Secret: not the samples' well-known "janusoverlord".

const DEBIAN_CONFIGS = '/etc/janus';
const servers: ChildProcess[] = [];
afterAll(() => {
  for (const s of servers) s.kill('SIGKILL');
  cleanupDirs();
});

const objectsFor = (yaml: string) => allObjects(synthFiles({ cwd: projectWith({ 'roomler.yaml': yaml }), env: {} }));
const janusOf = (objects: K8sObject[]) => ({
  deployment: find(objects, 'Deployment', 'janus'),
  config: find(objects, 'ConfigMap', 'janus-config').data as Record<string, string>,
});

interface Ports {
  http: number;
  adminHttp: number;
  websocket: number;
  adminWebsocket: number;
}

/** The init container's own command from the manifest, with its three paths moved into `dir`. */
function runAdminInit(deployment: K8sObject, dir: string, secret?: string) {
  const init = podSpecOf(deployment)!.initContainers[0];
  if (secret !== undefined) writeFileSync(join(dir, 'admin-secret'), secret, { mode: 0o400 });
  const [sh, c, script, name] = init.command;
  return spawnSync(sh, [c, script, name, join(DEBIAN_CONFIGS, 'janus.jcfg'), join(dir, 'admin-secret'), join(dir, 'conf', 'janus.jcfg')], {
    encoding: 'utf8',
  });
}

async function startJanus(config: Record<string, string>, deployment: K8sObject, secret?: string) {
  const dir = emptyDir('roomler-janus-');
  const conf = join(dir, 'conf');
  spawnSync('mkdir', ['-p', conf]);
  for (const f of readdirSync(DEBIAN_CONFIGS).filter((x) => x.endsWith('.jcfg'))) copyFileSync(join(DEBIAN_CONFIGS, f), join(conf, f));
  const [http, adminHttp, websocket, adminWebsocket] = await freePorts(4);
  const ports: Ports = { http, adminHttp, websocket, adminWebsocket };
  const move = (text: string) =>
    text
      .replace(/^\tport = \d+$/m, `\tport = ${ports.http}`)
      .replace(/^\tadmin_port = \d+$/m, `\tadmin_port = ${ports.adminHttp}`)
      .replace(/^\tws_port = \d+$/m, `\tws_port = ${ports.websocket}`)
      .replace(/^\tadmin_ws_port = \d+$/m, `\tadmin_ws_port = ${ports.adminWebsocket}`);
  for (const [f, text] of Object.entries(config)) writeFileSync(join(conf, f), move(text));
  if (podSpecOf(deployment)!.initContainers) {
    const r = runAdminInit(deployment, dir, secret);
    expect(r.status, r.stderr).toBe(0);
  }
  return { ports, log: await serveJanus(conf, dir, ports.http) };
}

/**
 * Starts Janus on `conf` and waits for its HTTP API; returns a reader of its log. Janus loads every plugin before its
 * transports: on a loaded 2-core machine that has taken more than 10 s. And Debian's Janus 1.1 sometimes dies of
 * SIGILL inside libmicrohttpd right after "HTTP webserver started" while the test polls it (seen with the admin API on,
 * two libmicrohttpd daemons, in about one full suite run in three, never alone; the core dump's backtrace ends in
 * libmicrohttpd.so.12). So: 25 s, then one more start with the first attempt's log and cause printed, then a failure.
 * No core dumps (they would land in the cwd).
 */
async function serveJanus(conf: string, dir: string, httpPort: number, attempt = 1): Promise<() => string> {
  const log = join(dir, `janus-${attempt}.log`);
  const server = spawn(
    'sh',
    ['-c', 'ulimit -c 0 && exec "$0" "$@"', 'janus', '-F', conf, '-C', join(conf, 'janus.jcfg'), '-L', log, '-N', '-o'],
    { stdio: 'ignore' },
  );
  servers.push(server);
  const text = () => (existsSync(log) ? readFileSync(log, 'utf8') : '');
  const ended = () =>
    server.signalCode ? `killed by ${server.signalCode}` : server.exitCode !== null ? `exited ${server.exitCode}` : undefined;
  for (
    let deadline = Date.now() + 25_000;
    !(await fetch(`http://127.0.0.1:${httpPort}/janus/info`)
      .then((r) => r.ok)
      .catch(() => false));
  ) {
    if (ended() || Date.now() > deadline) {
      const why = `Janus did not serve its HTTP API (${ended() ?? 'after 25 s'}):\n${text().slice(-3000)}`;
      server.kill('SIGKILL');
      if (attempt > 1) throw new Error(why);
      console.warn(`${why}\n(starting it once more)`);
      return serveJanus(conf, dir, httpPort, attempt + 1);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return text;
}

const admin = async (port: number, secret: string) =>
  (
    await fetch(`http://127.0.0.1:${port}/admin`, {
      method: 'POST',
      body: JSON.stringify({ janus: 'list_sessions', transaction: 't1', admin_secret: secret }),
    })
  ).json() as Promise<K8sObject>;

describe("Debian's Janus with the generated transport configs (real Janus on loopback)", () => {
  it('by default serves the Janus API and no admin API at all', async () => {
    const { deployment, config } = janusOf(objectsFor(''));
    const { ports, log } = await startJanus(config, deployment);
    const info = await fetch(`http://127.0.0.1:${ports.http}/janus/info`);
    expect(info.status, log()).toBe(200);
    expect(((await info.json()) as K8sObject).janus).toBe('server_info');
    expect(await accepts(ports.websocket)).toBe(true);
    expect(await accepts(ports.adminHttp)).toBe(false);
    expect(await accepts(ports.adminWebsocket)).toBe(false);
  });

  it('when enabled, answers the admin API only with the secret from the Secret, not the sample default', async () => {
    const { deployment, config } = janusOf(
      objectsFor('janus:\n  admin: { enabled: true, bindAddress: 127.0.0.1, allowFrom: [127.0.0.1] }\n'),
    );
    const secret = `admin-${process.pid}-Secret.value`;
    const { ports, log } = await startJanus(config, deployment, `${secret}\n`);
    expect(await accepts(ports.adminHttp), log()).toBe(true);
    expect(await accepts(ports.adminWebsocket)).toBe(true);
    expect(await admin(ports.adminHttp, secret)).toMatchObject({ janus: 'success', sessions: [] });
    for (const wrong of ['janusoverlord', 'not-the-secret'])
      expect(await admin(ports.adminHttp, wrong)).toMatchObject({ janus: 'error', error: { code: 403 } });
  });

  it('the admin-secret init step fails, writing nothing, on a missing, empty or unsafe secret', () => {
    const { deployment } = janusOf(objectsFor('janus:\n  admin: { enabled: true }\n'));
    for (const [value, message] of [
      [undefined, /janus-config: .*admin-secret is missing or empty: set key admin-secret/],
      ['', /is missing or empty/],
      ['ab"c', /must be non-empty and use only/],
      ['abc\ndef', /must be non-empty and use only/],
    ] as const) {
      const dir = emptyDir('roomler-janus-init-');
      spawnSync('mkdir', ['-p', join(dir, 'conf')]);
      const r = runAdminInit(deployment, dir, value);
      expect(r.status, String(value)).not.toBe(0);
      expect(r.stderr).toMatch(message);
      expect(existsSync(join(dir, 'conf', 'janus.jcfg'))).toBe(false);
    }
  });
});
