import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import {
  COTURN_SECRET_KEY,
  type InstanceConfig,
  JANUS_ADMIN_SECRET_KEY,
  type LoadedConfig,
  OAUTH_PROVIDERS,
  turnUsername,
} from '../../../lib/config';
import { SECRET_KEY_SOURCES, secretSizeProblems, secretValueProblems } from '../../../lib/config/secret-values';
import { recommendedLabels } from '../../../lib/constructs/metadata';
import { type K8sObject, toYaml } from '../../../lib/manifest';
import { OUTSIDE_GIT_ANNOTATIONS } from '../../../lib/sync-waves';
import { turnPassword } from '../../../lib/turn';
import { operatorEnv } from '../cli/dotenv';
import { UserError } from '../cli/errors';
import type { IO } from '../cli/io';
import { logIO } from '../cli/legacy';
import { explainKubectlError } from './causes';
import { readDist } from './dist';
import { clusterTargets, Kubectl } from './kubectl';
import { type LockOptions, withClusterLock } from './lock';
import { ensureHistoryNamespace } from './releases';
import { planRotation, restartReaders, rotationLines } from './rotation';

// The Secrets of the stack, built from the operator's .env and environment: applied to a cluster (`secrets apply`,
// `secrets tls`) through kubectl's stdin, or sealed for GitOps (sealing.ts). Values are never on disk in plain text,
// never in any argv, never printed.

export interface SecretManifest {
  readonly apiVersion: 'v1';
  readonly kind: 'Secret';
  readonly metadata: { name: string; namespace: string; labels: Record<string, string>; annotations: Record<string, string> };
  readonly type: 'Opaque';
  readonly stringData: Record<string, string>;
}

/** The labels of the coturn namespace's Secrets (its `app.kubernetes.io/instance` is coturn, never an Application's name). */
const coturnSecretLabels = {
  'app.kubernetes.io/name': 'coturn',
  'app.kubernetes.io/instance': 'coturn',
  'app.kubernetes.io/component': 'secret',
  'app.kubernetes.io/part-of': 'roomler',
  'app.kubernetes.io/managed-by': 'cdk8s',
};

/**
 * The operator's `.env` names (docs/reference-topology.md), from the environment first, then `.env`.
 * @deprecated the one reader is operatorEnv (hack/lib/cli/dotenv.ts); this name stays for the migration day's steps.
 */
export const secretSource = (projectDir: string) => operatorEnv(projectDir);

/** The values a Secret is built from: a required one (missing: reported), or an optional one ('' when unset). */
interface Values {
  need(name: string): string;
  optional(name: string): string;
}

/** An instance's Secrets: MongoDB's root credentials, the app's, and Janus's admin secret when its admin API is on. */
function instanceSecrets(i: InstanceConfig, v: Values): SecretManifest[] {
  const user = v.need('MONGO_ROOT_USERNAME');
  const pass = v.need('MONGO_ROOT_PASSWORD');
  const turnSecret = v.need('COTURN_AUTH_SECRET');
  // Made outside Git: Argo CD must never adopt or prune them (OUTSIDE_GIT_ANNOTATIONS).
  const secret = (name: string, app: string, stringData: Record<string, string>): SecretManifest => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: i.namespace, labels: recommendedLabels(i, app, 'secret'), annotations: { ...OUTSIDE_GIT_ANNOTATIONS } },
    type: 'Opaque',
    stringData,
  });
  const mongodb = secret(i.mongodb.secretName, 'mongodb', { MONGO_INITDB_ROOT_USERNAME: user, MONGO_INITDB_ROOT_PASSWORD: pass });
  const oauth = Object.fromEntries(
    OAUTH_PROVIDERS.map((p) => [`${p}_SECRET`, i.app.env[`${p}_ID`] ? v.need(`${p}_SECRET`) : v.optional(`${p}_SECRET`)]),
  );
  const app = secret(i.app.secretName, 'roomler', {
    DB_CONN: dbConn(i, user, pass),
    SENDGRID_API_KEY: v.optional('SENDGRID_API_KEY'),
    ...oauth,
    TURN_PASSWORD: turnSecret ? turnPassword(turnSecret, turnUsername(i)) : '',
    WEB_PUSH_PRIVATE_KEY: i.app.env.WEB_PUSH_PUBLISH_KEY ? v.need('WEB_PUSH_PRIVATE_KEY') : v.optional('WEB_PUSH_PRIVATE_KEY'),
  });
  // Only when the Janus admin API is enabled (janus.admin): its admin_secret, joined to janus.jcfg at start.
  const janus = i.janus.admin.enabled
    ? [secret(i.janus.admin.secretName, 'janus', { [JANUS_ADMIN_SECRET_KEY]: v.need('JANUS_ADMIN_SECRET') })]
    : [];
  return [mongodb, app, ...janus];
}

/** coturn's Secret: one source of truth, the TURN servers verify with the secret TURN_PASSWORD was derived from. */
function coturnSecret(cfg: LoadedConfig, v: Values): SecretManifest[] {
  const c = cfg.root.coturn;
  if (!c.enabled) return [];
  const metadata = {
    name: c.authSecretName,
    namespace: c.namespace,
    labels: coturnSecretLabels,
    annotations: { ...OUTSIDE_GIT_ANNOTATIONS },
  };
  return [
    { apiVersion: 'v1', kind: 'Secret', metadata, type: 'Opaque', stringData: { [COTURN_SECRET_KEY]: v.need('COTURN_AUTH_SECRET') } },
  ];
}

/**
 * Secrets `roomler-secret` and `mongodb-secret` for every instance (and `janus-admin` where janus.admin is enabled:
 * JANUS_ADMIN_SECRET). Required: the Mongo root credentials and
 * COTURN_AUTH_SECRET; an OAuth `*_SECRET` when its `*_ID` is configured; WEB_PUSH_PRIVATE_KEY when the public
 * key is. All missing values are reported at once.
 */
export function buildSecrets(cfg: LoadedConfig, value: (name: string) => string | undefined): SecretManifest[] {
  const missing = new Set<string>();
  const values: Values = {
    need: (name) => {
      const v = value(name);
      if (v === undefined) missing.add(name);
      return v ?? '';
    },
    optional: (name) => value(name) ?? '',
  };
  const out = [...cfg.instances.flatMap((i) => instanceSecrets(i, values)), ...coturnSecret(cfg, values)];
  if (missing.size)
    throw new UserError(`missing required values (set them in .env or the environment): ${[...missing].join(', ')}; nothing was applied`);
  const envFrom = new Set(cfg.instances.map((i) => `${i.namespace}/${i.app.secretName}`));
  const invalid = [...secretValueProblems(value), ...secretSizeProblems(out, envFrom, (key) => SECRET_KEY_SOURCES[key] ?? key)];
  if (invalid.length) {
    throw new UserError(`invalid secret values:\n${invalid.map((p) => `  - ${p}`).join('\n')}\nnothing was applied or sealed`);
  }
  return out;
}

/** The app's connection string to the in-cluster `mongodb` Service, credentials URL-encoded. */
export const dbConn = (i: InstanceConfig, user: string, pass: string) =>
  `mongodb://${encodeURIComponent(user)}:${encodeURIComponent(pass)}@mongodb.${i.namespace}.svc:${i.mongodb.port}/${i.mongodb.database}?authSource=admin`;

/** The same Secrets with every value replaced by its length, for `--dry-run`. */
export const redact = (s: SecretManifest): SecretManifest => ({
  ...s,
  stringData: Object.fromEntries(Object.entries(s.stringData).map(([k, v]) => [k, v ? `<redacted: ${v.length} characters>` : '<empty>'])),
});

/** `secrets apply --dry-run`: the YAML that would be applied, every value replaced by its length. */
export function redactedSecrets(cfg: LoadedConfig, projectDir: string): string {
  return toYaml(buildSecrets(cfg, operatorEnv(projectDir)).map(redact));
}

export interface ApplySecretsOptions extends LockOptions {
  /** Where roomler.yaml, .env and dist/ are. */
  readonly projectDir: string;
  /** `--context`: every Secret to this context, whatever the instances say. */
  readonly context?: string;
  readonly yes: boolean;
}

/** The Namespaces of `secrets`, which may not exist before the first deploy: applied first. */
const namespacesOf = (secrets: readonly SecretManifest[]): K8sObject[] =>
  [...new Set(secrets.map((x) => x.metadata.namespace))].map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));

/**
 * Applies namespaces and Secrets on kubectl's stdin, under the cluster lock.
 */
async function applyOnStdin(kubectl: Kubectl, objects: readonly K8sObject[], io: IO): Promise<void> {
  const r = await kubectl.run(['apply', '-f', '-'], { input: toYaml(objects), timeoutMs: 120_000 });
  if (r.exitCode !== 0) throw new UserError(`kubectl apply failed (exit ${r.exitCode ?? r.signal}): ${explainKubectlError(r.stderr)}`);
  io.out(r.stdout.replace(/\n$/, ''));
}

/**
 * One cluster's Secrets: says where, which workloads it restarts (those in dist/ reading a Secret whose value changes
 * there) and asks; then, under the same cluster lock as deploy and rollback (a deploy never reads Secrets half-applied
 * by another run), applies them and restarts those workloads.
 */
async function applyToCluster(
  cfg: LoadedConfig,
  kubectl: Kubectl,
  secrets: readonly SecretManifest[],
  o: ApplySecretsOptions,
  io: IO,
): Promise<void> {
  const historyNs = cfg.root.deploy.historyNamespace;
  const namespaces = namespacesOf(secrets);
  const target = await kubectl.connect();
  const dist = join(o.projectDir, 'dist');
  const rotation = await planRotation(kubectl, secrets, existsSync(dist) ? readDist(dist) : undefined, dist);
  const names = namespaces.map((n) => n.metadata.name);
  const lines = [
    `Secrets:         ${secrets.map((s) => `${s.metadata.namespace}/${s.metadata.name}`).join(', ')}`,
    ...rotationLines(rotation),
    `lock:            the deploy lock in namespace ${historyNs} while it applies`,
  ];
  await kubectl.confirmChange('secrets apply', names, o.yes, lines, target);
  await ensureHistoryNamespace(kubectl, historyNs);
  const lock = { operation: 'secrets apply', waitSeconds: o.waitLockSeconds, forceUnlock: o.forceUnlock, io };
  await withClusterLock(kubectl, historyNs, lock, async () => {
    await applyOnStdin(kubectl, [...namespaces, ...secrets], io);
    await restartReaders(kubectl, rotation, io);
  });
}

/** `secrets apply`: each cluster's namespaces and Secrets (deploy's targets), then the restarts a rotation needs. */
export function applySecrets(cfg: LoadedConfig, o: ApplySecretsOptions, io: IO): Promise<number>;
/** @deprecated the migration day's call until its steps pass an IO (hack/lib/cli/legacy.ts). */
export function applySecrets(
  cfg: LoadedConfig,
  projectDir: string,
  context: string | undefined,
  yes: boolean,
  log: (line: string) => void,
  lock?: LockOptions,
): Promise<number>;
export async function applySecrets(
  cfg: LoadedConfig,
  options: ApplySecretsOptions | string,
  ioOrContext?: IO | string,
  yes?: boolean,
  log?: (line: string) => void,
  lock: LockOptions = {},
): Promise<number> {
  const legacy = typeof options === 'string';
  const o: ApplySecretsOptions = legacy ? { projectDir: options, context: ioOrContext as string | undefined, yes: yes!, ...lock } : options;
  const io = legacy ? logIO(log!) : (ioOrContext as IO);
  const all = buildSecrets(cfg, operatorEnv(o.projectDir));
  // Each instance's Secrets go where deploy sends the instance (its context:, or --context for everything).
  for (const { context, objects } of clusterTargets(cfg, all, o.context)) await applyToCluster(cfg, new Kubectl(context), objects, o, io);
  return 0;
}

/** Reads a PEM file for `secrets tls`, naming the option and the file on any problem. */
function readPem<T>(option: string, file: string, parse: (pem: string) => T, what: string): { pem: string; value: T } {
  const path = resolve(file);
  if (!existsSync(path)) throw new UserError(`--${option} ${path} does not exist`, 2);
  const pem = readFileSync(path, 'utf8');
  try {
    return { pem, value: parse(pem) };
  } catch (e) {
    throw new UserError(`--${option} ${path} is not ${what}: ${(e as Error).message}`, 2);
  }
}

export interface TlsSecretOptions extends LockOptions {
  /** `--cert`: the certificate chain, e.g. fullchain.pem. */
  readonly certFile: string;
  /** `--key`: its private key. */
  readonly keyFile: string;
  readonly context?: string;
  readonly yes: boolean;
}

/**
 * `secrets tls`: coturn's TLS certificate Secret (coturn.tlsSecretName, type kubernetes.io/tls) from PEM files,
 * piped to kubectl. Like every Secret made outside Git it carries OUTSIDE_GIT_ANNOTATIONS, so Argo CD never prunes it.
 */
export async function applyTlsSecret(cfg: LoadedConfig, o: TlsSecretOptions, io: IO): Promise<number> {
  const { certFile, keyFile } = o;
  const c = cfg.root.coturn;
  if (!c.enabled) throw new UserError('coturn.enabled is false: no TLS Secret is needed; nothing was applied');
  const cert = readPem('cert', certFile, (pem) => new X509Certificate(pem), 'a PEM certificate');
  const key = readPem<KeyObject>('key', keyFile, (pem) => createPrivateKey(pem), 'a PEM private key');
  const subject = cert.value.subject.replace(/\n/g, ', ');
  if (!cert.value.checkPrivateKey(key.value)) {
    const which = `the certificate in --cert ${resolve(certFile)} (${subject})`;
    throw new UserError(`--key ${resolve(keyFile)} is not the private key of ${which}; nothing was applied`, 2);
  }
  const days = Math.floor((Date.parse(cert.value.validTo) - Date.now()) / 86_400_000);
  if (days < 0) throw new UserError(`--cert ${resolve(certFile)} expired on ${cert.value.validTo}; nothing was applied`, 2);
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: c.tlsSecretName, namespace: c.namespace, labels: coturnSecretLabels, annotations: { ...OUTSIDE_GIT_ANNOTATIONS } },
    data: { 'tls.crt': Buffer.from(cert.pem).toString('base64'), 'tls.key': Buffer.from(key.pem).toString('base64') },
  };
  const kubectl = new Kubectl(o.context ?? cfg.root.context);
  const historyNs = cfg.root.deploy.historyNamespace;
  const change = `Secret:          ${c.namespace}/${c.tlsSecretName} (kubernetes.io/tls, ${subject}, valid ${days} more days)`;
  await kubectl.confirmChange('secrets tls', [c.namespace], o.yes, [
    change,
    `lock:            the deploy lock in namespace ${historyNs} while it applies`,
  ]);
  // Under the same cluster lock as deploy and secrets apply.
  await ensureHistoryNamespace(kubectl, historyNs);
  const lock = { operation: 'secrets tls', waitSeconds: o.waitLockSeconds, forceUnlock: o.forceUnlock, io };
  const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: c.namespace } };
  await withClusterLock(kubectl, historyNs, lock, () => applyOnStdin(kubectl, [namespace, secret], io));
  return 0;
}
