import { constants, createCipheriv, createHash, publicEncrypt, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

import { parse, parseAllDocuments } from 'yaml';

import { SealedSecret } from '../../../imports/bitnami.com';
import type { LoadedConfig } from '../../../lib/config';
import { exists, FileProblem, readBytes, readUtf8 } from '../../../lib/config/files';
import { toYaml } from '../../../lib/manifest';
import { operatorEnv } from '../cli/dotenv';
import { UserError } from '../cli/errors';
import type { IO } from '../cli/io';
import { buildSecrets, type SecretManifest } from './secrets';

// `secrets seal`: the Secrets as SealedSecrets in sealed/ for GitOps, encrypted for one Sealed Secrets controller
// exactly as kubeseal does (strict scope), so synth can put them into dist/ and Git holds no plain value.

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

/** The namespaces `secrets seal` writes for: every instance's, and coturn's when it is enabled. */
const sealedNamespaces = (cfg: LoadedConfig) =>
  new Set([...cfg.instances.map((i) => i.namespace), ...(cfg.root.coturn.enabled ? [cfg.root.coturn.namespace] : [])]);

/** Files in sealed/ that hold only SealedSecrets of namespaces the config no longer renders (a removed instance). */
export function staleSealedFiles(cfg: LoadedConfig, projectDir: string): { file: string; secrets: string[] }[] {
  const dir = join(projectDir, 'sealed');
  if (!existsSync(dir)) return [];
  const configured = sealedNamespaces(cfg);
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

/** The cache of what each committed ciphertext was sealed from (fingerprints only); unusable: start anew. */
function readSealCache(cacheFile: string, io: IO): Record<string, string> {
  if (!existsSync(cacheFile)) return {};
  try {
    return JSON.parse(readUtf8(cacheFile));
  } catch (e) {
    // A damaged cache only costs re-encryption (new ciphertext for unchanged values); say so and go on.
    io.out(`secrets: warning: ${cacheFile} is unusable (${(e as Error).message}); every value is sealed anew`);
    return {};
  }
}

/**
 * One Secret's SealedSecret file, reusing the committed ciphertext of unchanged values (no Git churn); a file that
 * says the same as before is left as it is. Returns whether it was written.
 */
function sealOne(s: SecretManifest, cert: string, cache: Record<string, string>, outDir: string, io: IO): boolean {
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
  if (existing !== undefined && isDeepStrictEqual(existing, sealed)) return false;
  writeFileSync(`${file}.tmp`, toYaml([sealed]));
  renameSync(`${file}.tmp`, file);
  io.out(`secrets: sealed ${namespace}/${name} -> ${file}`);
  return true;
}

export interface SealOptions {
  /** Where roomler.yaml, .env and sealed/ are. */
  readonly projectDir: string;
  /** `--cert`: the controller's certificate (kubeseal --fetch-cert). */
  readonly certFile: string;
  /** `--prune`: delete the sealed/ files of namespaces no configured instance renders. */
  readonly prune?: boolean;
}

/**
 * `secrets seal`: SealedSecrets in sealed/, reusing committed ciphertext for unchanged values (no Git churn).
 * Files of namespaces no instance renders any more are refused (nothing written) until `prune` says to delete them.
 */
export function sealSecrets(cfg: LoadedConfig, o: SealOptions, io: IO): number {
  const secrets = buildSecrets(cfg, operatorEnv(o.projectDir));
  // Everything that can fail is checked before anything is written (sealed/ included).
  const { pem: cert, warning } = sealingCertificate(o.certFile);
  if (warning) io.out(`secrets: warning: ${warning}`);
  const cacheFile = join(o.projectDir, '.sealed-cache.json');
  const cache = readSealCache(cacheFile, io);
  const stale = staleSealedFiles(cfg, o.projectDir);
  const shown = (f: string) => relative(o.projectDir, f);
  if (stale.length && !o.prune) {
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
    io.out(`secrets: removed ${shown(x.file)} (${x.secrets.join(', ')}: namespace no longer configured)`);
  }
  const outDir = join(o.projectDir, 'sealed');
  mkdirSync(outDir, { recursive: true });
  const written = secrets.filter((s) => sealOne(s, cert, cache, outDir, io)).length;
  writeFileSync(cacheFile, JSON.stringify(cache, null, 2) + '\n', { mode: 0o600 });
  const removed = stale.length ? `, ${stale.length} removed` : '';
  io.out(
    `secrets: ${written} file(s) written, ${secrets.length - written} unchanged${removed}; run bin/roomler synth to include them in dist/`,
  );
  return 0;
}
