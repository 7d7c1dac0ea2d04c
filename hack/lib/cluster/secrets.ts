import {
  constants,
  createCipheriv,
  createHash,
  createPrivateKey,
  type KeyObject,
  publicEncrypt,
  randomBytes,
  X509Certificate,
} from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

import { parse as parseDotenv } from 'dotenv';
import { parse, parseAllDocuments, stringify } from 'yaml';

import { SealedSecret } from '../../../imports/bitnami.com';
import { type InstanceConfig, type LoadedConfig, OAUTH_PROVIDERS, turnUsername } from '../../../lib/config';
import { exists, FileProblem, readBytes, readUtf8 } from '../../../lib/config/files';
import { SECRET_KEY_SOURCES, secretSizeProblems, secretValueProblems } from '../../../lib/config/secret-values';
import { JANUS_ADMIN_SECRET_KEY } from '../../../lib/constructs/janus-conf';
import { recommendedLabels } from '../../../lib/constructs/metadata';
import { OUTSIDE_GIT_ANNOTATIONS } from '../../../lib/sync-waves';
import { turnPassword } from '../../../lib/turn';
import { UserError } from '../cli/errors';
import { explainKubectlError } from './causes';
import { clusterTargets, Kubectl } from './kubectl';
import { ClusterLock, type LockOptions } from './lock';
import { ensureHistoryNamespace } from './releases';

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

/** The operator's `.env` names (FIELD-NOTES), from the environment first, then `.env`. */
export function secretSource(projectDir: string): (name: string) => string | undefined {
  const file = join(projectDir, '.env');
  let dotenv: Record<string, string> = {};
  try {
    // A .env that exists in any form is read or refused (a dangling symlink is no "no .env"); UTF-8 only, so a
    // secret value never silently gains U+FFFD.
    if (exists(file)) dotenv = parseDotenv(readUtf8(file));
  } catch (e) {
    if (e instanceof FileProblem) throw new UserError(`.env: ${e.message}`);
    throw e;
  }
  return (name) => process.env[name] || dotenv[name] || undefined;
}

/**
 * Secrets `roomler-secret` and `mongodb-secret` for every instance (and `janus-admin` where janus.admin is enabled:
 * JANUS_ADMIN_SECRET). Required: the Mongo root credentials and
 * COTURN_AUTH_SECRET; an OAuth `*_SECRET` when its `*_ID` is configured; WEB_PUSH_PRIVATE_KEY when the public
 * key is. All missing values are reported at once.
 */
export function buildSecrets(config: LoadedConfig, value: (name: string) => string | undefined): SecretManifest[] {
  const missing = new Set<string>();
  const need = (name: string) => {
    const v = value(name);
    if (v === undefined) missing.add(name);
    return v ?? '';
  };
  const optional = (name: string) => value(name) ?? '';
  const out: SecretManifest[] = [];
  for (const i of config.instances) {
    const user = need('MONGO_ROOT_USERNAME');
    const pass = need('MONGO_ROOT_PASSWORD');
    const turnSecret = need('COTURN_AUTH_SECRET');
    // Made outside Git: Argo CD must never adopt or prune them (OUTSIDE_GIT_ANNOTATIONS).
    const meta = (name: string, app: string) => ({
      name,
      namespace: i.namespace,
      labels: recommendedLabels(i, app, 'secret'),
      annotations: { ...OUTSIDE_GIT_ANNOTATIONS },
    });
    out.push({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta(i.mongodb.secretName, 'mongodb'),
      type: 'Opaque',
      stringData: { MONGO_INITDB_ROOT_USERNAME: user, MONGO_INITDB_ROOT_PASSWORD: pass },
    });
    const oauth = Object.fromEntries(
      OAUTH_PROVIDERS.map((p) => [`${p}_SECRET`, i.app.env[`${p}_ID`] ? need(`${p}_SECRET`) : optional(`${p}_SECRET`)]),
    );
    out.push({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta(i.app.secretName, 'roomler'),
      type: 'Opaque',
      stringData: {
        DB_CONN: dbConn(i, user, pass),
        SENDGRID_API_KEY: optional('SENDGRID_API_KEY'),
        ...oauth,
        TURN_PASSWORD: turnSecret ? turnPassword(turnSecret, turnUsername(i)) : '',
        WEB_PUSH_PRIVATE_KEY: i.app.env.WEB_PUSH_PUBLISH_KEY ? need('WEB_PUSH_PRIVATE_KEY') : optional('WEB_PUSH_PRIVATE_KEY'),
      },
    });
    // Only when the Janus admin API is enabled (janus.admin): its admin_secret, joined to janus.jcfg at start.
    if (i.janus.admin.enabled) {
      out.push({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: meta(i.janus.admin.secretName, 'janus'),
        type: 'Opaque',
        stringData: { [JANUS_ADMIN_SECRET_KEY]: need('JANUS_ADMIN_SECRET') },
      });
    }
  }
  const c = config.root.coturn;
  if (c.enabled) {
    // One source of truth: the TURN servers verify with the same secret TURN_PASSWORD was derived from.
    out.push({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: c.authSecretName, namespace: c.namespace, labels: coturnSecretLabels, annotations: { ...OUTSIDE_GIT_ANNOTATIONS } },
      type: 'Opaque',
      stringData: { 'static-auth-secret': need('COTURN_AUTH_SECRET') },
    });
  }
  if (missing.size)
    throw new UserError(`missing required values (set them in .env or the environment): ${[...missing].join(', ')}; nothing was applied`);
  const envFrom = new Set(config.instances.map((i) => `${i.namespace}/${i.app.secretName}`));
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

/**
 * Encrypts one value the way kubeseal does (strict scope): a random 32-byte session key, RSA-OAEP (SHA-256)
 * of that key with the label `<namespace>/<name>`, AES-256-GCM of the value with the key and an all-zero
 * nonce; stored as base64(uint16 BE length of the RSA ciphertext || RSA ciphertext || GCM ciphertext || tag).
 */
export function sealValue(certPem: string, namespace: string, name: string, value: string): string {
  const publicKey = new X509Certificate(certPem).publicKey;
  const sessionKey = randomBytes(32);
  const rsa = publicEncrypt(
    { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: Buffer.from(`${namespace}/${name}`) },
    sessionKey,
  );
  const cipher = createCipheriv('aes-256-gcm', sessionKey, Buffer.alloc(12));
  const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(rsa.length);
  return Buffer.concat([length, rsa, body]).toString('base64');
}

/** A fingerprint of what a sealed value was made from, so unchanged values keep their ciphertext (no Git churn). */
export const sealFingerprint = (certPem: string, namespace: string, name: string, key: string, value: string) =>
  createHash('sha256').update(`${certPem}\0${namespace}/${name}/${key}\0${value}`).digest('hex');

const manifests = (list: SecretManifest[]) => list.map((s) => stringify(s, { version: '1.1', lineWidth: 0 })).join('---\n');

/** `secrets apply --dry-run`: what would be applied, every value replaced by its length. */
export function printRedacted(config: LoadedConfig, projectDir: string, log: (line: string) => void): number {
  log(manifests(buildSecrets(config, secretSource(projectDir)).map(redact)).replace(/\n$/, ''));
  return 0;
}

/** `secrets apply`: namespaces and Secrets on kubectl's stdin, after saying where and asking. */
export async function applySecrets(
  config: LoadedConfig,
  projectDir: string,
  context: string | undefined,
  yes: boolean,
  log: (line: string) => void,
  lock: LockOptions = {},
): Promise<number> {
  const all = buildSecrets(config, secretSource(projectDir));
  const historyNs = config.root.deploy.historyNamespace;
  // Each instance's Secrets go where deploy sends the instance (its context:, or --context for everything).
  for (const { context: target, objects: secrets } of clusterTargets(config, all, context)) {
    const kubectl = new Kubectl(target);
    // Secrets live in namespaces that may not exist before the first deploy: create those first.
    const names = [...new Set(secrets.map((x) => x.metadata.namespace))];
    await kubectl.confirmChange('secrets apply', names, yes, [
      `Secrets:         ${secrets.map((s) => `${s.metadata.namespace}/${s.metadata.name}`).join(', ')}`,
      `lock:            the deploy lock in namespace ${historyNs} while it applies`,
    ]);
    // Under the same cluster lock as deploy and rollback: a deploy never reads Secrets half-applied by another run.
    await ensureHistoryNamespace(kubectl, historyNs);
    const held = await ClusterLock.acquire(kubectl, historyNs, {
      operation: 'secrets apply',
      waitSeconds: lock.waitLockSeconds,
      forceUnlock: lock.forceUnlock,
      log,
    });
    try {
      const namespaces = names.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
      const r = await kubectl.run(['apply', '-f', '-'], {
        input: [...namespaces.map((n) => stringify(n)), manifests(secrets)].join('---\n'),
        timeoutMs: 120_000,
      });
      if (r.exitCode !== 0) throw new UserError(`kubectl apply failed (exit ${r.exitCode ?? r.signal}): ${explainKubectlError(r.stderr)}`);
      log(r.stdout.replace(/\n$/, ''));
    } finally {
      const note = await held.release();
      if (note) log(note);
    }
  }
  return 0;
}

/** The namespaces `secrets seal` writes for: every instance's, and coturn's when it is enabled. */
const sealedNamespaces = (config: LoadedConfig) =>
  new Set([...config.instances.map((i) => i.namespace), ...(config.root.coturn.enabled ? [config.root.coturn.namespace] : [])]);

/** Files in sealed/ that hold only SealedSecrets of namespaces the config no longer renders (a removed instance). */
export function staleSealedFiles(config: LoadedConfig, projectDir: string): { file: string; secrets: string[] }[] {
  const dir = join(projectDir, 'sealed');
  if (!existsSync(dir)) return [];
  const configured = sealedNamespaces(config);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => {
      const sealed = parseAllDocuments(readFileSync(join(dir, f), 'utf8'), { version: '1.1' })
        .map((d) => d.toJS())
        .filter((o) => o?.kind === 'SealedSecret');
      const ours = sealed.length > 0 && sealed.every((o) => !configured.has(o.metadata?.namespace));
      return ours ? [{ file: join(dir, f), secrets: sealed.map((o) => `${o.metadata?.namespace}/${o.metadata?.name}`) }] : [];
    });
}

/** A certificate expiring sooner than this is sealed with a warning: rotate the controller's key first. */
export const CERT_WARN_DAYS = 30;

/**
 * The sealed-secrets controller's certificate as kubeseal needs it: PEM, an X.509 certificate (not a key), an RSA
 * public key (the controller encrypts with RSA-OAEP), within its validity. A certificate expiring within
 * CERT_WARN_DAYS days is accepted with a warning. UserError (exit 2: a bad --cert) naming the file otherwise.
 */
export function sealingCertificate(certFile: string, now = new Date()): { pem: string; warning?: string } {
  const path = resolve(certFile);
  const refuse = (why: string): never => {
    throw new UserError(`--cert ${path} ${why}`, 2);
  };
  if (certFile === '') refuse('is empty: give the file kubeseal --fetch-cert wrote');
  let bytes: Buffer;
  try {
    if (!exists(path)) refuse('does not exist');
    bytes = readBytes(path);
  } catch (e) {
    if (e instanceof FileProblem) refuse(e.reason);
    throw e;
  }
  if (bytes!.length === 0) refuse('is empty: expected a PEM certificate (-----BEGIN CERTIFICATE-----)');
  const text = bytes!.toString('latin1');
  if (bytes![0] === 0x30 && !text.includes('-----BEGIN'))
    refuse('looks like DER (binary): convert it with `openssl x509 -inform der -in FILE -out cert.pem`');
  if (/-----BEGIN (RSA |EC |ENCRYPTED |)PRIVATE KEY-----/.test(text))
    refuse("is a private key, not a certificate: give the controller's public certificate (kubeseal --fetch-cert)");
  if (/-----BEGIN PUBLIC KEY-----/.test(text) && !text.includes('-----BEGIN CERTIFICATE-----'))
    refuse('is a bare public key, not a certificate (kubeseal --fetch-cert gives the certificate)');
  const begin = text.indexOf('-----BEGIN CERTIFICATE-----');
  if (begin < 0) refuse('is not a PEM certificate (no -----BEGIN CERTIFICATE----- line)');
  if (!text.includes('-----END CERTIFICATE-----', begin)) refuse('is a truncated PEM certificate (no -----END CERTIFICATE----- line)');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(text.slice(begin));
  } catch (e) {
    refuse(`is not a valid X.509 certificate (${(e as Error).message})`);
  }
  const type = x509!.publicKey.asymmetricKeyType;
  if (type !== 'rsa')
    refuse(
      `has a ${type?.toUpperCase() ?? 'unknown'} key: the sealed-secrets controller uses RSA (RSA-OAEP), so this is not its certificate`,
    );
  const [from, to] = [new Date(x509!.validFrom), new Date(x509!.validTo)];
  if (now < from) refuse(`is not valid before ${from.toISOString()}`);
  if (now > to) refuse(`expired on ${to.toISOString()}: fetch the controller's current certificate (kubeseal --fetch-cert)`);
  const days = (to.getTime() - now.getTime()) / 86_400_000;
  const warning =
    days < CERT_WARN_DAYS
      ? `--cert ${path} expires on ${to.toISOString()} (in ${Math.floor(days)} day(s)): the controller will renew its key; fetch the new certificate and re-seal`
      : undefined;
  return { pem: text.slice(begin), warning };
}

/**
 * `secrets seal`: SealedSecrets in sealed/, reusing committed ciphertext for unchanged values (no Git churn).
 * Files of namespaces no instance renders any more are refused (nothing written) until `prune` says to delete them.
 */
export function sealSecrets(
  config: LoadedConfig,
  projectDir: string,
  certFile: string,
  log: (line: string) => void,
  prune = false,
): number {
  const secrets = buildSecrets(config, secretSource(projectDir));
  // Everything that can fail is checked before anything is written (sealed/ included).
  const { pem: cert, warning } = sealingCertificate(certFile);
  if (warning) log(`secrets: warning: ${warning}`);
  const outDir = join(projectDir, 'sealed');
  const cacheFile = join(projectDir, '.sealed-cache.json');
  let cache: Record<string, string> = {};
  if (existsSync(cacheFile)) {
    try {
      cache = JSON.parse(readUtf8(cacheFile));
    } catch (e) {
      // A damaged cache only costs re-encryption (new ciphertext for unchanged values); say so and go on.
      log(`secrets: warning: ${cacheFile} is unusable (${(e as Error).message}); every value is sealed anew`);
    }
  }
  const stale = staleSealedFiles(config, projectDir);
  const shown = (f: string) => relative(projectDir, f);
  if (stale.length && !prune) {
    throw new UserError(
      'sealed/ holds SealedSecrets for namespaces no configured instance renders: ' +
        `${stale.map((x) => `${shown(x.file)} (${x.secrets.join(', ')})`).join(', ')}; nothing was written. ` +
        'synth leaves them out of dist/; if those instances are gone for good, run again with --prune to delete the files ' +
        '(Git keeps their history)',
    );
  }
  for (const x of stale) {
    rmSync(x.file);
    for (const id of Object.keys(cache)) if (x.secrets.some((n) => id.startsWith(`${n}/`))) delete cache[id];
    log(`secrets: removed ${shown(x.file)} (${x.secrets.join(', ')}: namespace no longer configured)`);
  }
  mkdirSync(outDir, { recursive: true });
  let written = 0;
  for (const s of secrets) {
    const { name, namespace, labels } = s.metadata;
    const file = join(outDir, `${namespace}-${name}.yaml`);
    // Read as written: YAML 1.1, the dialect kubectl and Argo CD parse.
    const existing = existsSync(file) ? parse(readFileSync(file, 'utf8'), { version: '1.1' }) : undefined;
    const previous: Record<string, string> = existing?.spec?.encryptedData ?? {};
    const encryptedData: Record<string, string> = {};
    for (const [key, value] of Object.entries(s.stringData).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const id = `${namespace}/${name}/${key}`;
      const fingerprint = sealFingerprint(cert, namespace, name, key, value);
      // kubeseal's output is random: reuse the committed ciphertext while the value and certificate are unchanged.
      encryptedData[key] = cache[id] === fingerprint && previous[key] ? previous[key] : sealValue(cert, namespace, name, value);
      cache[id] = fingerprint;
    }
    // The class `cdk8s import` generated from the vendored CRD (imports/): a misspelt field fails `tsc`.
    const sealed = SealedSecret.manifest({
      metadata: { name, namespace, labels },
      spec: { encryptedData, template: { metadata: { name, namespace, labels }, type: 'Opaque' } },
    });
    // Compared as objects, not bytes: a file written before (other key order) or reformatted by hand is left alone
    // while it says the same thing, so re-sealing makes no Git churn.
    if (existing !== undefined && isDeepStrictEqual(existing, sealed)) continue;
    const text = stringify(sealed, { version: '1.1', lineWidth: 0 });
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
    written++;
    log(`secrets: sealed ${namespace}/${name} -> ${file}`);
  }
  writeFileSync(cacheFile, JSON.stringify(cache, null, 2) + '\n', { mode: 0o600 });
  const removed = stale.length ? `, ${stale.length} removed` : '';
  const counts = `${written} file(s) written, ${secrets.length - written} unchanged${removed}`;
  log(`secrets: ${counts}; run bin/roomler synth to include them in dist/`);
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

/**
 * `secrets tls`: coturn's TLS certificate Secret (coturn.tlsSecretName, type kubernetes.io/tls) from PEM files,
 * piped to kubectl. Like every Secret made outside Git it carries OUTSIDE_GIT_ANNOTATIONS, so Argo CD never prunes it.
 */
export async function applyTlsSecret(
  config: LoadedConfig,
  certFile: string,
  keyFile: string,
  context: string | undefined,
  yes: boolean,
  log: (line: string) => void,
  lock: LockOptions = {},
): Promise<number> {
  const c = config.root.coturn;
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
  const kubectl = new Kubectl(context ?? config.root.context);
  const historyNs = config.root.deploy.historyNamespace;
  const change = `Secret:          ${c.namespace}/${c.tlsSecretName} (kubernetes.io/tls, ${subject}, valid ${days} more days)`;
  await kubectl.confirmChange('secrets tls', [c.namespace], yes, [
    change,
    `lock:            the deploy lock in namespace ${historyNs} while it applies`,
  ]);
  // Under the same cluster lock as deploy and secrets apply.
  await ensureHistoryNamespace(kubectl, historyNs);
  const held = await ClusterLock.acquire(kubectl, historyNs, {
    operation: 'secrets tls',
    waitSeconds: lock.waitLockSeconds,
    forceUnlock: lock.forceUnlock,
    log,
  });
  try {
    const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: c.namespace } };
    const r = await kubectl.run(['apply', '-f', '-'], {
      input: [stringify(namespace), stringify(secret)].join('---\n'),
      timeoutMs: 120_000,
    });
    if (r.exitCode !== 0) throw new UserError(`kubectl apply failed (exit ${r.exitCode ?? r.signal}): ${explainKubectlError(r.stderr)}`);
    log(r.stdout.replace(/\n$/, ''));
  } finally {
    const note = await held.release();
    if (note) log(note);
  }
  return 0;
}
