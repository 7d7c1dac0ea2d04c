import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';

import { ConfigError, configJsonSchema, loadConfig } from '../../lib/config';
import { type K8sObject } from '../../lib/manifest';
import { allObjects, cleanupDirs, emptyDir, find, projectWith, selfSignedCert } from '../support/files';
import { kubectlSpy } from '../support/kubectl-spy';
import { roomler } from '../support/roomler';
import { synthFiles, synthIn } from '../support/synth';

// GitOps on the days after the first sync, without a cluster: what synth, validation and `secrets` decide.
// test/gitops/argocd-lab.test.ts plays the same against the real Argo CD and Sealed Secrets controller.

afterAll(cleanupDirs);
const ENV = 'MONGO_ROOT_USERNAME=root\nMONGO_ROOT_PASSWORD=pw\nCOTURN_AUTH_SECRET=turn\nJANUS_ADMIN_SECRET=janus\n';
const ARGO = 'argocd:\n  enabled: true\n  repoURL: https://git.example.com/ops/roomler-gitops.git\n';
const problems = (yaml: string) => {
  try {
    loadConfig({ cwd: projectWith({ 'roomler.yaml': yaml }), env: {} });
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.problems;
  }
};

const certFile = () => selfSignedCert('sealed-secret').cert;
const run = (project: string, ...args: string[]) => roomler(args, { env: { ROOMLER_PROJECT_DIR: project } });
/** Two instances that fit on the lab's two nodes side by side; `extra` is added to the second one's entry. */
const twoInstances = (first: string, second: string, extra = '') =>
  `instances:\n  - name: ${first}\n  - name: ${second}\n` +
  '    nodeAddress: k8s-worker2\n    dataNode: k8s-worker2\n    app: { nodePort: 30031 }\n' +
  `    janus: { nodePorts: { http: 30809, websocket: 30819 } }\n${extra}`;

describe('the Application and the instances', () => {
  it('is named so that no label this project writes can match it, and refuses a name that would', () => {
    const app = find(allObjects(synthFiles({ cwd: projectWith({ 'roomler.yaml': ARGO }), env: {} })), 'Application', 'roomler-gitops');
    expect(app.metadata.namespace).toBe('argocd');
    const named = (name: string, extra = '') => problems(`${ARGO}  name: ${name}\n${extra}`);
    expect(named('roomler').join('\n')).toMatch(
      new RegExp(
        'argocd\\.name: "roomler" is also the app\\.kubernetes\\.io/instance label of instance roomler\'s objects .*' +
          'Choose another name \\(the default is roomler-gitops\\)',
      ),
    );
    expect(named('coturn').join('\n')).toMatch(
      /"coturn" is also the app\.kubernetes\.io\/instance label of the coturn namespace's objects/,
    );
    expect(named('coturn', 'coturn:\n  enabled: false\n')).toEqual([]);
    expect(named('staging', twoInstances('production', 'staging'))[0]).toMatch(/label of instance staging's objects/);
    expect(named('roomler', twoInstances('production', 'staging'))).toEqual([]);
  });

  it('refuses one Application for instances that go to different clusters, naming each', () => {
    const two = twoInstances('production', 'staging', '    context: lab\n').replace(
      '- name: production\n',
      '- name: production\n    context: prod\n',
    );
    const yaml = `${ARGO}${two}`;
    expect(problems(yaml).join('\n')).toMatch(
      new RegExp(
        'one Argo CD Application syncs to one cluster \\(argocd\\.server\\), but the instances go to 2 kubectl contexts: ' +
          'production -> prod \\(.*roomler\\.yaml:\\d+:\\d+: instances\\[0\\]\\.context\\); staging -> lab',
      ),
    );
    expect(problems(yaml.replace('context: lab', 'context: prod'))).toEqual([]);
    // The same instances without Argo CD: deploy sends each to its own context.
    expect(problems(yaml.replace(ARGO, ''))).toEqual([]);
  });

  it('marks Namespaces, volumes and claims Prune=false,Delete=false, and nothing else', () => {
    const objects = allObjects(synthFiles());
    for (const o of objects) {
      const options = o.metadata.annotations?.['argocd.argoproj.io/sync-options'];
      expect(options, `${o.kind}/${o.metadata.name}`).toBe(
        ['Namespace', 'PersistentVolume', 'PersistentVolumeClaim'].includes(o.kind) ? 'Prune=false,Delete=false' : undefined,
      );
    }
    expect(
      objects
        .filter((o) => o.kind === 'Namespace')
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['coturn', 'roomler']);
  });
});

describe('what is made outside Git is never adoptable', () => {
  it('secrets apply writes its Secrets with IgnoreExtraneous and Prune=false, labelled with the instance, never the Application', () => {
    const project = projectWith({ 'roomler.yaml': `${ARGO}janus:\n  admin: { enabled: true }\n`, '.env': ENV });
    const r = run(project, 'secrets', 'apply', '--dry-run');
    expect(r.code, r.stderr).toBe(0);
    const secrets = parseAllDocuments(r.stdout, { version: '1.1' }).map((d) => d.toJS() as K8sObject);
    expect(secrets.map((s) => `${s.metadata.namespace}/${s.metadata.name}`).sort()).toEqual([
      'coturn/coturn-auth',
      'roomler/janus-admin',
      'roomler/mongodb-secret',
      'roomler/roomler-secret',
    ]);
    for (const s of secrets) {
      expect(s.metadata.annotations).toEqual({
        'argocd.argoproj.io/compare-options': 'IgnoreExtraneous',
        'argocd.argoproj.io/sync-options': 'Prune=false',
      });
      expect(s.metadata.labels['app.kubernetes.io/instance']).not.toBe('roomler-gitops');
    }
  });

  it('secrets tls checks the pair before any kubectl call: a key of another certificate changes nothing', () => {
    const dir = emptyDir();
    for (const name of ['a', 'b']) selfSignedCert('turn.roomler.live', { dir, name });
    const spy = kubectlSpy(undefined);
    const r = roomler(['secrets', 'tls', '--cert', join(dir, 'a.crt'), '--key', join(dir, 'b.key'), '--yes'], {
      env: { ROOMLER_PROJECT_DIR: projectWith({}), PATH: `${spy.dir}:${process.env.PATH}` },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /--key .*b\.key is not the private key of the certificate in --cert .*a\.crt \(CN=turn\.roomler\.live\); nothing was applied/,
    );
    expect(spy.calls()).toEqual([]);
    const swapped = roomler(['secrets', 'tls', '--cert', join(dir, 'a.key'), '--key', join(dir, 'a.crt')], {
      env: { ROOMLER_PROJECT_DIR: projectWith({}) },
    });
    expect(swapped.code).toBe(2);
    expect(swapped.stderr).toMatch(/--cert .*a\.key is not a PEM certificate/);
  });
});

describe('a dropped instance', () => {
  const TWO = twoInstances('roomler', 'staging');

  it('secrets seal refuses until --prune, then removes and names its files; synth leaves them out and says so', () => {
    const cert = certFile();
    const project = projectWith({ 'roomler.yaml': TWO, '.env': ENV });
    expect(run(project, 'secrets', 'seal', '--cert', cert).code).toBe(0);
    const all = readdirSync(join(project, 'sealed')).sort();
    expect(all).toEqual([
      'coturn-coturn-auth.yaml',
      'roomler-mongodb-secret.yaml',
      'roomler-roomler-secret.yaml',
      'staging-mongodb-secret.yaml',
      'staging-roomler-secret.yaml',
    ]);

    writeFileSync(join(project, 'roomler.yaml'), 'instances:\n  - name: roomler\n');
    const synth = synthIn(project);
    expect(synth.code, synth.stderr).toBe(0);
    expect(synth.stderr).toContain(
      'synth: left out sealed/staging-mongodb-secret.yaml: SealedSecret staging/mongodb-secret is for namespace staging, ' +
        'which no configured instance renders (bin/roomler secrets seal --prune removes such files)',
    );
    expect(synth.stderr).toContain('left out sealed/staging-roomler-secret.yaml');
    const inDist = allObjects(new Map([['s', readFileSync(join(synth.outdir, 'sealed-secrets.k8s.yaml'), 'utf8')]])).map(
      (o) => `${o.metadata.namespace}/${o.metadata.name}`,
    );
    expect(inDist.sort()).toEqual(['coturn/coturn-auth', 'roomler/mongodb-secret', 'roomler/roomler-secret']);

    const before = readdirSync(join(project, 'sealed')).map((f) => readFileSync(join(project, 'sealed', f), 'utf8'));
    const refused = run(project, 'secrets', 'seal', '--cert', cert);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(
        'sealed/ holds SealedSecrets for namespaces no configured instance renders: sealed/staging-mongodb-secret\\.yaml ' +
          '\\(staging/mongodb-secret\\), sealed/staging-roomler-secret\\.yaml \\(staging/roomler-secret\\); ' +
          'nothing was written\\. .*--prune',
      ),
    );
    expect(readdirSync(join(project, 'sealed')).map((f) => readFileSync(join(project, 'sealed', f), 'utf8'))).toEqual(before);

    const pruned = run(project, 'secrets', 'seal', '--cert', cert, '--prune');
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toContain(
      'secrets: removed sealed/staging-mongodb-secret.yaml (staging/mongodb-secret: namespace no longer configured)',
    );
    expect(pruned.stdout).toMatch(/0 file\(s\) written, 3 unchanged, 2 removed/);
    expect(readdirSync(join(project, 'sealed')).sort()).toEqual(all.slice(0, 3));
    expect(Object.keys(JSON.parse(readFileSync(join(project, '.sealed-cache.json'), 'utf8'))).some((k) => k.startsWith('staging/'))).toBe(
      false,
    );
    expect(synthIn(project).stderr).not.toContain('left out');
  });
});

describe('every configurable Secret name', () => {
  /** The schema's properties whose name says they name a Secret, as paths. */
  function secretNameFields(schema: K8sObject, path: string[] = []): string[][] {
    return Object.entries<K8sObject>(schema.properties ?? {}).flatMap(([k, sub]) => {
      if (k === 'instances') return [];
      if (/secretname$/i.test(k)) return [[...path, k]];
      return secretNameFields(sub, [...path, k]);
    });
  }

  it('is honoured by synth, validation, secrets apply and secrets seal', () => {
    const fields = secretNameFields(configJsonSchema() as K8sObject);
    expect(fields.map((f) => f.join('.')).sort()).toEqual([
      'app.secretName',
      'coturn.authSecretName',
      'coturn.tlsSecretName',
      'janus.admin.secretName',
      'mongodb.secretName',
    ]);
    const config: K8sObject = { janus: { admin: { enabled: true } }, argocd: { enabled: true, repoURL: 'https://git.example.com/x.git' } };
    const renamed = fields.map((f, n) => {
      let o = config;
      for (const k of f.slice(0, -1)) o = o[k] ??= {};
      o[f.at(-1)!] = `renamed-${n}-${f.at(-1)!.toLowerCase()}`;
      return o[f.at(-1)!] as string;
    });
    const project = projectWith({ 'roomler.yaml': JSON.stringify(config), '.env': ENV });
    const first = synthIn(project);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toBe('');
    const referenced = (dir: string) =>
      readdirSync(dir)
        .map((f) => readFileSync(join(dir, f), 'utf8'))
        .join('\n');
    for (const name of renamed) expect(referenced(first.outdir)).toContain(name);

    const applied = run(project, 'secrets', 'apply', '--dry-run');
    expect(applied.code, applied.stderr).toBe(0);
    const made = parseAllDocuments(applied.stdout, { version: '1.1' })
      .map((d) => d.toJS().metadata.name)
      .sort();
    // Every renamed Secret but the TLS certificate (secrets tls makes that one from PEM files).
    expect(made).toEqual(renamed.filter((n) => !n.includes('tlssecretname')).sort());

    expect(run(project, 'secrets', 'seal', '--cert', certFile()).code).toBe(0);
    expect(
      readdirSync(join(project, 'sealed'))
        .map((f) => parse(readFileSync(join(project, 'sealed', f), 'utf8')).metadata.name)
        .sort(),
    ).toEqual(made);
    const sealed = synthIn(project);
    expect(sealed.code, sealed.stderr).toBe(0);
    expect(existsSync(join(sealed.outdir, 'sealed-secrets.k8s.yaml'))).toBe(true);
    const validated = run(project, 'validate', sealed.outdir);
    expect(validated.code, validated.stdout + validated.stderr).toBe(0);
  });
});
