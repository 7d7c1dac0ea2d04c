import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parseAllDocuments } from 'yaml';

import type { K8sObject } from '../../lib/manifest';

// Files for tests: temporary directories (removed by cleanupDirs), projects with a roomler.yaml and .env, a tree's
// bytes to prove nothing changed, and the objects of YAML text. No cdk8s here: test/support/synth.ts synthesizes.

const dirs: string[] = [];
/** A fresh temporary directory, removed by `cleanupDirs`. */
export function emptyDir(prefix = 'roomler-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
export function cleanupDirs() {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** `roomler` and `staging` side by side: staging's data on k8s-worker2, its own NodePorts. */
export const TWO_INSTANCES = [
  'instances:',
  '  - name: roomler',
  '  - name: staging',
  '    dataNode: k8s-worker2',
  '    app: { nodePort: 31030 }',
  '    janus: { nodePorts: { http: 31808, websocket: 31818 } }',
  '',
].join('\n');

/** A project directory with the given `roomler.yaml` / `.env` contents. */
export function projectWith(files: { 'roomler.yaml'?: string; '.env'?: string; [name: string]: string | undefined }): string {
  const dir = emptyDir('roomler-project-');
  for (const [name, text] of Object.entries(files)) if (text !== undefined) writeFileSync(join(dir, name), text);
  return dir;
}

/** Every file under `dir` with its bytes: compare before/after to prove nothing changed. */
export function treeBytes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[p.slice(dir.length)] = readFileSync(p, 'base64');
    }
  };
  walk(dir);
  return out;
}

/** A dist/ with two earlier files in it: what a failed synth must leave as it was. */
export function seedDist(dir: string): string {
  const dist = join(dir, 'dist');
  mkdirSync(dist, { recursive: true });
  writeFileSync(join(dist, 'roomler.k8s.yaml'), '# previous good output\n');
  writeFileSync(join(dist, 'extra.k8s.yaml'), '# another previous file\n');
  return dist;
}

export function objectsOf(text: string): K8sObject[] {
  return parseAllDocuments(text).map((d) => d.toJS());
}

export function allObjects(files: ReadonlyMap<string, string>): K8sObject[] {
  return [...files.values()].flatMap(objectsOf);
}

export function find(objects: K8sObject[], kind: string, name: string, namespace?: string): K8sObject {
  const o = objects.find(
    (x) => x.kind === kind && x.metadata.name === name && (namespace === undefined || x.metadata.namespace === namespace),
  );
  if (!o) throw new Error(`no ${kind} ${name} in output`);
  return o;
}

/**
 * A self-signed certificate and its key, made by openssl (in `dir`, or a fresh directory): `{ cert, key }` are
 * the files (`name`.crt and `name`.key when named). RSA by default (what kubeseal and coturn get), `ec` for P-256.
 */
export function selfSignedCert(cn: string, o: { ec?: boolean; dir?: string; name?: string } = {}): { cert: string; key: string } {
  const dir = o.dir ?? emptyDir('roomler-cert-');
  const [cert, key] = o.name ? [`${o.name}.crt`, `${o.name}.key`].map((f) => join(dir, f)) : [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  const alg = o.ec ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] : ['-newkey', 'rsa:2048'];
  const r = spawnSync('openssl', ['req', '-x509', ...alg, '-nodes', '-keyout', key, '-out', cert, '-subj', `/CN=${cn}`, '-days', '2'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`openssl req for CN=${cn}: ${r.stderr}`);
  return { cert, key };
}
