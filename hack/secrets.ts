import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { config, main, PROJECT_ROOT, UserError } from './lib/cli';
import { run } from './lib/run';
import { buildSecrets, redact, sealFingerprint, sealValue, secretSource, type SecretManifest } from './lib/secrets';

const usage = 'usage: npm run secrets -- apply [--dry-run] [--context NAME] | seal --cert <controller-cert.pem>';

// `npm run secrets -- <apply|seal>`: Secrets from the operator's .env, never on disk in plain text, never in argv.
main('secrets', async (argv) => {
  const [command, ...rest] = argv;
  const option = (name: string) => {
    const n = rest.indexOf(name);
    if (n < 0) return undefined;
    if (!rest[n + 1] || rest[n + 1].startsWith('--')) throw new UserError(`${name} needs a value; ${usage}`, 2);
    return rest[n + 1];
  };
  const projectDir = process.env.ROOMLER_PROJECT_DIR ?? PROJECT_ROOT;
  const cfg = config();
  const secrets = buildSecrets(cfg, secretSource(projectDir));
  const yaml = (list: SecretManifest[]) => list.map((s) => stringify(s, { version: '1.1', lineWidth: 0 })).join('---\n');

  if (command === 'apply') {
    if (rest.includes('--dry-run')) {
      process.stdout.write(yaml(secrets.map(redact)));
      return 0;
    }
    const context = option('--context');
    // Secrets live in namespaces that may not exist before the first deploy: create those first.
    const namespaces = [...new Set(secrets.map((x) => x.metadata.namespace))].map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
    // The manifests go to kubectl on stdin: nothing on disk, nothing in any argv.
    const r = await run('kubectl', [...(context ? ['--context', context] : []), 'apply', '-f', '-'], { input: [...namespaces.map((n) => stringify(n)), yaml(secrets)].join('---\n'), timeoutMs: 120_000 });
    if (r.exitCode !== 0) throw new UserError(`kubectl apply failed (exit ${r.exitCode ?? r.signal}): ${r.stderr.trim().split('\n').pop()}`);
    process.stdout.write(r.stdout);
    return 0;
  }

  if (command === 'seal') {
    const certFile = option('--cert');
    if (!certFile) throw new UserError(`seal needs --cert; ${usage}`, 2);
    const cert = readFileSync(resolve(certFile), 'utf8');
    const outDir = join(projectDir, 'sealed');
    const cacheFile = join(projectDir, '.sealed-cache.json');
    const cache: Record<string, string> = existsSync(cacheFile) ? JSON.parse(readFileSync(cacheFile, 'utf8')) : {};
    mkdirSync(outDir, { recursive: true });
    let written = 0;
    for (const s of secrets) {
      const { name, namespace, labels } = s.metadata;
      const file = join(outDir, `${namespace}-${name}.yaml`);
      const previous = existsSync(file) ? parse(readFileSync(file, 'utf8'))?.spec?.encryptedData ?? {} : {};
      const encryptedData: Record<string, string> = {};
      for (const [key, value] of Object.entries(s.stringData).sort(([a], [b]) => (a < b ? -1 : 1))) {
        const id = `${namespace}/${name}/${key}`;
        const fingerprint = sealFingerprint(cert, namespace, name, key, value);
        // kubeseal's output is random: reuse the committed ciphertext while the value and certificate are unchanged.
        encryptedData[key] = cache[id] === fingerprint && previous[key] ? previous[key] : sealValue(cert, namespace, name, value);
        cache[id] = fingerprint;
      }
      const text = stringify(
        { apiVersion: 'bitnami.com/v1alpha1', kind: 'SealedSecret', metadata: { name, namespace, labels }, spec: { encryptedData, template: { metadata: { name, namespace, labels }, type: 'Opaque' } } },
        { version: '1.1', lineWidth: 0 },
      );
      if (existsSync(file) && readFileSync(file, 'utf8') === text) continue;
      writeFileSync(`${file}.tmp`, text);
      renameSync(`${file}.tmp`, file);
      written++;
      process.stdout.write(`secrets: sealed ${namespace}/${name} -> ${file}\n`);
    }
    writeFileSync(cacheFile, JSON.stringify(cache, null, 2) + '\n', { mode: 0o600 });
    process.stdout.write(`secrets: ${written} file(s) written, ${secrets.length - written} unchanged; run npm run synth to include them in dist/\n`);
    return 0;
  }
  throw new UserError(usage, 2);
});
