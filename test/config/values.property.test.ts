import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';

import { ConfigError, loadConfig } from '../../lib/config';
import { ENV_PATHS } from '../../lib/config/env';
import { MAX_DATA_BYTES } from '../../lib/config/limits';
import { rootSchema } from '../../lib/config/schema';
import { secretSizeProblems, secretValueProblems } from '../../lib/config/secret-values';
import { INT32_MAX, VALUE_KINDS, type ValueKind } from '../../lib/config/values';
import { apiServerRules } from '../../lib/validate/api-rules';
import { cleanupDirs, emptyDir, seedDist, treeBytes } from '../support/files';
import { ROOMLER, ROOT } from '../support/roomler';
import { synthIn } from '../support/synth';

// Property tests of the config schema, pure logic (no daemons, no network): every field of the zod schema is
// found by walking it, and for each one fast-check generates bad values of every kind (wrong type, out of range,
// a character that would change the structure of the value's target, too long, semantically wrong) and good
// ones. Bad values are refused by the loader with exactly one located line naming the field; a sample is also
// refused by the real commands (synth, validate, cutover plan) with exit 1, no stack trace and nothing written.
// Good values load back unchanged, and random combinations synthesize into dist/ byte-stable.
afterAll(cleanupDirs);

const SEED = 20240611;
type Path = (string | number)[];
type Plain = Record<string, any>;

// ---- the schema's fields --------------------------------------------------------------------------------

interface Field {
  readonly path: Path;
  readonly type: 'string' | 'number' | 'boolean' | 'enum';
  readonly kind?: ValueKind;
  readonly entries?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  readonly int?: boolean;
  /** The key of a record (cutover.routes[].expect), not a value. */
  readonly recordKey?: boolean;
}

const RECORD_KEY = 'site.conf';

/** Every leaf of the schema: arrays as their first element, records as one key (the key itself is a field too). */
function fields(schema: any, path: Path = []): Field[] {
  const def = schema._zod.def;
  switch (def.type) {
    case 'default':
    case 'prefault':
    case 'optional':
    case 'nullable':
      return fields(def.innerType, path);
    case 'object':
      return Object.entries(def.shape).flatMap(([k, v]) => (k === 'instances' || k === '$schema' ? [] : fields(v, [...path, k])));
    case 'array':
      return fields(def.element, [...path, 0]);
    case 'record':
      return [{ ...fields(def.keyType, [...path, RECORD_KEY])[0], recordKey: true }, ...fields(def.valueType, [...path, RECORD_KEY])];
    case 'string':
      return [{ path, type: 'string', kind: VALUE_KINDS.get(schema) }];
    case 'number':
      return [{ path, type: 'number', min: schema.minValue ?? -Infinity, max: schema.maxValue ?? Infinity, int: schema.isInt }];
    case 'boolean':
      return [{ path, type: 'boolean' }];
    case 'enum':
      return [{ path, type: 'enum', entries: Object.values(def.entries) as string[] }];
    default:
      throw new Error(`${path.join('.')}: schema type ${def.type} is not covered by this test`);
  }
}

const FIELDS = fields(rootSchema);
/** As the loader prints a path: `app.env.URL`, `cutover.routes[0].expect["site.conf"]`. */
const show = (p: Path) =>
  p.reduce<string>(
    (s, k) => (typeof k === 'number' ? `${s}[${k}]` : !/^[A-Za-z0-9_$-]+$/.test(k) ? `${s}[${JSON.stringify(k)}]` : s ? `${s}.${k}` : k),
    '',
  );
const fieldAt = (display: string) => FIELDS.find((f) => !f.recordKey && show(f.path) === display)!;

// ---- a config with every optional structure present, so that every field has a place to be set -----------

const SCAFFOLD: Plain = {
  app: { command: ['npx', 'pm2-runtime', 'start', '/roomler/pm2.config.js'] },
  janus: { admin: { allowFrom: ['127.0.0.1'] } },
  coturn: {
    workers: [
      { name: 'worker1', node: 'k8s-worker1', publicIp: '203.0.113.10', nodeIp: '10.0.0.11', host: 'turn1.roomler.live' },
      { name: 'worker2', node: 'k8s-worker2' },
    ],
    deniedPeers: ['192.0.2.0/24'],
    allowedPeers: ['10.0.0.12'],
  },
  cutover: {
    nginx: { exec: ['docker', 'exec', 'nginx'] },
    routes: [
      {
        from: 'r00mler2:3000',
        to: 'roomler/http',
        expect: { [RECORD_KEY]: 1 },
        health: { path: '/api/ping', status: 200 },
        verify: [
          {
            path: '/',
            status: 200,
            host: 'roomler.live',
            websocket: false,
            protocol: 'janus-protocol',
            address: '127.0.0.1:443',
            tls: true,
          },
        ],
      },
    ],
    kept: [{ target: 'legacy-static:8081', reason: 'serves the old static files' }],
    oldHosts: ['legacy-static'],
  },
  validation: { external: { secrets: ['extra'], configMaps: ['extra'], persistentVolumeClaims: ['extra'] } },
};

const clone = <T>(x: T): T => structuredClone(x);

/** The least config that has a place for `path`: the scaffold's section when the path goes through a list, else nothing. */
const around = (path: Path): Plain =>
  path.some((k) => typeof k === 'number') || path.includes(RECORD_KEY) ? { [path[0]]: clone(SCAFFOLD[path[0]]) } : {};

function setPath(obj: Plain, path: Path, value: unknown, asKey = false): Plain {
  let cur: any = obj;
  for (const [n, key] of path.slice(0, -1).entries()) {
    if (cur[key] === undefined) cur[key] = typeof path[n + 1] === 'number' ? [] : {};
    cur = cur[key];
  }
  const last = path[path.length - 1];
  if (asKey) {
    const v = cur[last];
    delete cur[last];
    cur[value as string] = v;
  } else cur[last] = value;
  return obj;
}

function getPath(obj: any, path: Path): unknown {
  return path.reduce((o, k) => (o === undefined ? undefined : o[k]), obj);
}

const project = (config: Plain, files: Record<string, string> = {}) => {
  const dir = emptyDir('roomler-values-');
  writeFileSync(join(dir, 'roomler.yaml'), stringify(config, { lineWidth: 0 }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
};

/** The problems the loader reports, or the loaded config. */
function load(config: Plain, env: NodeJS.ProcessEnv = {}, files: Record<string, string> = {}) {
  const dir = project(config, files);
  try {
    return { dir, loaded: loadConfig({ cwd: dir, env }), problems: [] as string[] };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return { dir, problems: [...e.problems] };
  }
}

// ---- values -------------------------------------------------------------------------------------------

const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?$/);
const hostName = fc
  .array(fc.stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9]{0,10}[A-Za-z0-9])?$/), { minLength: 1, maxLength: 4 })
  .map((l) => l.join('.'))
  .filter((h) => !/^[0-9.]+$/.test(h));
const domain = fc
  .array(label, { minLength: 1, maxLength: 4 })
  .map((l) => l.join('.'))
  .filter((h) => !/^[0-9.]+$/.test(h));
const portNumber = fc.integer({ min: 1, max: 65535 });
const ipv6 = fc.ipV6().filter((a) => !a.includes('.'));
const hostOrIp = fc.oneof(hostName, fc.ipV4(), ipv6);
const segment = fc.stringMatching(/^[A-Za-z0-9_.é-]{1,12}$/).filter((s) => s !== '..' && s !== '.');
const absPath = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => `/${s.join('/')}`);
const relPath = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join('/'));
const printable = fc.stringMatching(/^[\x21-\x7e]{0,30}$/);
/** Text with the characters that matter to nginx, YAML and shells: all of them safe in a one-line value. */
const text = (min: number) =>
  fc
    .string({ unit: fc.constantFrom(...'abc XYZ 019 ;{}#"\'$`\\|&<>:*é…'.split('')), minLength: min, maxLength: 60 })
    .filter((s) => s.trim().length >= min && s === s.replace(/^\s+/, ''));
const ascending = (lo: number, hi: number, width = 500) =>
  fc.integer({ min: lo, max: hi }).chain((a) => fc.integer({ min: a, max: Math.min(hi, a + width) }).map((b) => `${a}-${b}`));

/** Good values of each kind of string. */
const GOOD: Record<string, (k: ValueKind) => fc.Arbitrary<string>> = {
  dnsLabel: () => label,
  dnsSubdomain: () => domain,
  domainName: () => domain,
  hostOrIp: () => hostOrIp,
  ipv4: () => fc.ipV4(),
  ipv4Prefix: () =>
    fc.oneof(
      fc.ipV4(),
      fc.ipV4().map((a) => a.split('.').slice(0, 2).join('.') + '.'),
    ),
  ipv4Cidr: () => fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([a, b]) => `${a}/${b}`),
  containerName: () => fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,20}$/),
  containerHostPort: () => fc.tuple(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,20}$/), portNumber).map(([h, p]) => `${h}:${p}`),
  containerHostOptionalPort: () =>
    fc.oneof(
      fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,20}$/),
      fc.tuple(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,20}$/), portNumber).map(([h, p]) => `${h}:${p}`),
    ),
  hostPort: () => fc.tuple(hostOrIp, portNumber).map(([h, p]) => (h.includes(':') ? `[${h}]:${p}` : `${h}:${p}`)),
  resolverAddress: () =>
    fc.oneof(
      hostOrIp,
      fc.tuple(fc.ipV4(), portNumber).map(([h, p]) => `${h}:${p}`),
    ),
  portRange: () => ascending(1024, 65535),
  url: (k) =>
    fc
      .tuple(fc.constantFrom(...k.schemes!), hostOrIp, fc.option(portNumber), fc.stringMatching(/^(\/[A-Za-z0-9._~-]{0,10}){0,3}$/))
      .map(([s, h, p, path]) => `${s}://${h.includes(':') ? `[${h}]` : h}${p ? `:${p}` : ''}${path}`),
  // TURN_URL must name a configured coturn endpoint (coturn.host and ports, their defaults here).
  turnUrl: () =>
    fc
      .tuple(
        fc.constantFrom('turn', 'turns'),
        fc.constant('turn.roomler.live'),
        fc.constantFrom('', ':3478', ':5349', ':443'),
        fc.constantFrom('', '?transport=udp', '?transport=tcp'),
      )
      .map(([s, h, p, t]) => `${s}:${h}${p}${t}`),
  vapidSubject: () =>
    fc.oneof(
      fc.constant(''),
      fc.stringMatching(/^[a-z0-9._+-]{1,10}@[a-z0-9-]{1,10}\.[a-z]{2,4}$/).map((e) => `mailto:${e}`),
      domain.map((d) => `https://${d}/contact`),
    ),
  gitRepoUrl: () =>
    fc.oneof(
      domain.map((d) => `https://${d}/org/repo.git`),
      domain.map((d) => `git@${d}:org/repo.git`),
    ),
  absolutePath: () => absPath,
  relativePath: () => relPath,
  requestPath: () => fc.stringMatching(/^\/[\x21-\x7e]{0,30}$/),
  quantity: () =>
    fc.tuple(fc.integer({ min: 1, max: 4096 }), fc.constantFrom('', 'm', 'Ki', 'Mi', 'Gi', 'k', 'M', 'e3')).map(([n, s]) => `${n}${s}`),
  image: () =>
    fc
      .tuple(fc.stringMatching(/^[a-z0-9]{1,10}(\/[a-z0-9]{1,10})?$/), fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 99 }))
      .map(([n, a, b]) => `${n}:${a}.${b}.1`),
  cronJobSchedule: () =>
    fc
      .tuple(fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 23 }), fc.constantFrom('*', '1-5', 'mon', '0'))
      .map(([m, h, d]) => `${m} ${h} * * ${d}`),
  crontabSchedule: () => fc.tuple(fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 23 })).map(([m, h]) => `${m} ${h} * * *`),
  timeZone: () => fc.constantFrom('Etc/UTC', 'UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Tokyo'),
  oneLine: () => text(10),
  token: () => printable,
  argument: () => text(1),
  kubeContext: () => fc.stringMatching(/^[A-Za-z0-9_@:./][\x21-\x7e]{0,30}$/),
  posixUser: () => fc.stringMatching(/^[a-z_][a-z0-9_-]{0,20}$/),
  mongoDatabase: () => fc.stringMatching(/^[A-Za-z0-9_-]{1,30}$/),
  turnUser: () => fc.stringMatching(/^[A-Za-z0-9._-]{1,30}$/),
  httpToken: () => fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}$/),
  mailto: () =>
    fc.array(fc.stringMatching(/^[a-z0-9._+-]{1,10}(@[a-z0-9.-]{1,10})?$/), { minLength: 1, maxLength: 3 }).map((a) => a.join(',')),
  emailList: () =>
    fc
      .array(
        fc.emailAddress().filter((e) => !/\s/.test(e)),
        { maxLength: 3 },
      )
      .map((a) => JSON.stringify(a)),
  gitRevision: () => fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_./-]{0,20}$/).filter((r) => !r.includes('..')),
  routeTarget: () =>
    fc.oneof(
      fc.tuple(label, label).map(([a, b]) => `${a}/${b}`),
      fc.constant('retired'),
      fc.integer({ min: 400, max: 499 }).map((n) => `retired/${n}`),
    ),
};

/** Characters that end a line or are invisible: no kind of value may carry one, anywhere. */
const LINE_BREAKERS = ['\n', '\r', '\t', '\0', '\x1b', '\x7f', '\u0085', '\u2028', '\u200b', '\ufeff'];
const SHELL_AND_NGINX = [' ', ';', '{', '}', '#', '"', "'", '$', '`', '\\', '|', '&', '<', '>', '(', ')'];

/** Per kind: characters that change the structure of its target, and values that are wrong in its own way. */
const BAD: Record<string, { chars: string[]; values: string[] }> = {
  dnsLabel: { chars: [...SHELL_AND_NGINX, '.', '_', 'A'], values: ['', '-a', 'a-', 'a'.repeat(64), 'Ab'] },
  dnsSubdomain: { chars: [...SHELL_AND_NGINX, '_', 'A'], values: ['', 'a..b', '-a.b', 'a'.repeat(254)] },
  domainName: { chars: [...SHELL_AND_NGINX, '_', 'A', '/', ':'], values: ['', 'a..b', 'a.', '-a.b', `${'a'.repeat(64)}.live`] },
  hostOrIp: {
    chars: [...SHELL_AND_NGINX, '_', '/', ','],
    values: ['', '10.0.0.1 ; rm -rf /', '999.1.1.1', '10.0.0', 'fe80::1%eth0', 'a..b', `${'a'.repeat(64)}.x`, 'k8s_worker1'],
  },
  ipv4: { chars: [...SHELL_AND_NGINX, 'a', ':'], values: ['', '256.0.0.1', '10.0.0', '::1'] },
  ipv4Prefix: { chars: [...SHELL_AND_NGINX, 'a'], values: ['', '300.', '10.0', '1.2.3.4.5'] },
  ipv4Cidr: { chars: [...SHELL_AND_NGINX, 'a'], values: ['', '10.0.0.0/33', '999.0.0.0/8', '10.0.0.0'] },
  containerName: { chars: [...SHELL_AND_NGINX, ':', '/'], values: ['', '-x', '_x'] },
  containerHostPort: { chars: [...SHELL_AND_NGINX, '/'], values: ['', 'r00mler2', 'r00mler2:99999', 'r00mler2:0', ':3000'] },
  containerHostOptionalPort: { chars: [...SHELL_AND_NGINX, '/'], values: ['', 'x:99999', '-x'] },
  hostPort: { chars: [...SHELL_AND_NGINX, '/'], values: ['', '127.0.0.1', '127.0.0.1:70000', '[::1', 'a_b:1'] },
  resolverAddress: { chars: [...SHELL_AND_NGINX, '/'], values: ['', '1.1.1.1:0', 'a_b'] },
  portRange: { chars: [...SHELL_AND_NGINX, ','], values: ['', '200-100', '0-10', '1000-70000', '10000'] },
  url: {
    chars: [' ', '"', '<', '>', '`', '{', '}', '|', '\\', '^', 'é'],
    values: ['', 'roomler dot live', 'ftp://roomler.live', 'https://', 'https://user:pw@roomler.live', 'https://a_b.live'],
  },
  turnUrl: {
    chars: [' ', '"', '<', '>', '{', '}', '|', '\\', 'é'],
    values: ['', 'https://turn.roomler.live', 'turn:', 'turn:turn.roomler.live:0', 'turn:turn.roomler.live?transport=sctp'],
  },
  vapidSubject: { chars: [' ', '"', '<', '>', 'é'], values: ['admin@roomler.live', 'http://roomler.live', 'mailto:nobody'] },
  gitRepoUrl: { chars: [' ', '"', '<', '>', 'é'], values: ['', 'roomler', 'ftp://x/y', 'https://a_b/x'] },
  absolutePath: { chars: [' ', '\u00a0'], values: ['', 'data/roomler', '/', '//', '/a/../b', `/${'a'.repeat(4096)}`] },
  relativePath: { chars: [' '], values: ['', '/abs', '../up', 'a/../../b'] },
  requestPath: { chars: [' ', 'é'], values: ['', 'api/ping', `/${'a'.repeat(8192)}`] },
  quantity: { chars: [...SHELL_AND_NGINX, 'x'], values: ['', '5GB', '0', '-1', '1.2.3', 'Gi', '1e400'] },
  image: { chars: [...SHELL_AND_NGINX, 'é'], values: ['', 'Mongo:7', '-x', `a:${'1'.repeat(260)}`] },
  cronJobSchedule: { chars: ['#'], values: ['', '61 3 * * *', '0 3 * *', 'TZ=UTC 0 3 * * *', '@often'] },
  crontabSchedule: { chars: [';', '%', '"', '#', '$', '\\'], values: ['', '30 3 * *', '30 3 * * * *', '@daily'] },
  timeZone: { chars: [...SHELL_AND_NGINX, 'é'], values: ['', 'Local', 'Mars/Olympus', '../etc/passwd', 'Etc/UTC/'] },
  oneLine: { chars: [], values: ['', '   ', `${'x'.repeat(1025)}`] },
  token: { chars: [' ', 'é'], values: ['a b', 'tab\there'] },
  argument: { chars: [], values: ['', 'x'.repeat(4097)] },
  kubeContext: { chars: [' '], values: ['', '-x', '--kubeconfig=/tmp/x', `${'c'.repeat(254)}`] },
  posixUser: { chars: [...SHELL_AND_NGINX, '@', 'A'], values: ['', '-root', '1user', 'a'.repeat(33)] },
  mongoDatabase: { chars: [...SHELL_AND_NGINX, '.', '/', '@', ':'], values: ['', 'a'.repeat(64), 'db.name'] },
  turnUser: { chars: [...SHELL_AND_NGINX, ':', '@'], values: ['', 'a'.repeat(129)] },
  httpToken: { chars: [' ', '"', ';', ',', '{', '(', '/', ':'], values: [''] },
  mailto: { chars: [' ', ';', '"', '$'], values: ['a,,b', 'a b'] },
  emailList: { chars: [], values: ['', 'admin@roomler.live', '["not an address"]', '{"a":1}'] },
  gitRevision: { chars: [' ', '~', '^', ':', '?', '*', '[', '\\'], values: ['', 'a..b', '-x'] },
  routeTarget: { chars: [...SHELL_AND_NGINX, ':'], values: ['', 'roomler', 'Roomler/Http', 'retired/500', 'retired/abc'] },
};

/** Good values that must agree with the rest of the scaffold (the loader checks these across fields). */
const GOOD_FOR: Record<string, fc.Arbitrary<unknown>> = {
  imagePullPolicy: fc.constant('Always'), // IfNotPresent and Never need exact tags everywhere (test/config/config.test.ts)
  'app.nodePort': fc.integer({ min: 30000, max: 32767 }).filter((p) => ![30808, 30818].includes(p)),
  'janus.nodePorts.http': fc.integer({ min: 30000, max: 32767 }).filter((p) => ![30030, 30818].includes(p)),
  'janus.nodePorts.websocket': fc.integer({ min: 30000, max: 32767 }).filter((p) => ![30030, 30808].includes(p)),
  // Janus and coturn share a node: TCP ports and UDP ranges must not collide.
  'janus.rtpPortRange': ascending(4000, 49151).filter((r) => Number(r.split('-')[1]) < 49152),
  'coturn.relayRange': ascending(10201, 65535),
  'turn.expiry': fc.integer({ min: Math.floor(Date.now() / 1000) + 86_400, max: 2147483647 }),
  'turn.port': fc.constantFrom(3478, 5349, 443),
  'turn.host': fc.constant('turn.roomler.live'), // TURN_URL must name a coturn endpoint: coturn.host's default
  'coturn.host': fc.constant('turn.roomler.live'),
  'app.shutdown.preStopSeconds': fc.integer({ min: 0, max: 59 }),
  'app.shutdown.gracePeriodSeconds': fc.integer({ min: 11, max: INT32_MAX }),
  'janus.shutdown.preStopSeconds': fc.integer({ min: 0, max: 119 }),
  'janus.shutdown.gracePeriodSeconds': fc.integer({ min: 31, max: INT32_MAX }),
  'security.networkPolicies': fc.constant(true),
  'argocd.enabled': fc.constant(false),
  // Secrets are made outside dist/: the validator needs renamed ones declared (validation.external.secrets of the scaffold).
  'coturn.authSecretName': fc.constant('extra'),
  'coturn.tlsSecretName': fc.constant('extra'),
  'backups.volume.existingClaim': fc.constant('extra'), // validation.external.persistentVolumeClaims of the scaffold
};
const JANUS_AND_COTURN_TCP = [8088, 8188, 7088, 7188, 3478, 5349, 443];
for (const p of [
  'janus.ports.http',
  'janus.ports.websocket',
  'janus.ports.adminHttp',
  'janus.ports.adminWebsocket',
  'coturn.ports.tls',
  'coturn.ports.altTls',
]) {
  GOOD_FOR[p] = fc.integer({ min: 1, max: 65535 }).filter((n) => !JANUS_AND_COTURN_TCP.includes(n) && !(n >= 10000 && n <= 10200));
}
GOOD_FOR['coturn.ports.listening'] = fc.constant(3478);

function good(f: Field): fc.Arbitrary<unknown> {
  const special = GOOD_FOR[show(f.path)];
  if (special) return special;
  switch (f.type) {
    case 'boolean':
      return fc.boolean();
    case 'enum':
      return fc.constantFrom(...f.entries!);
    case 'number':
      return f.int
        ? fc.integer({ min: Math.max(f.min!, -1e15), max: Math.min(f.max!, 1e15) })
        : fc.double({ min: f.min!, max: Math.min(f.max!, 1e9), noNaN: true, noDefaultInfinity: true });
    case 'string':
      return GOOD[f.kind!.kind](f.kind!);
  }
}

/**
 * Bad values of every kind for one field, deterministic for a seed: a wrong type, two generated good values with a
 * structure-breaking character injected, and the kind's own wrong values (all of them for the first field of a
 * kind, one in turn for the others, to keep the test fast).
 */
function bad(f: Field, n: number, firstOfKind: boolean): unknown[] {
  const pick = <T>(list: readonly T[], count = 1) =>
    Array.from({ length: Math.min(count, list.length) }, (_, i) => list[(n + i) % list.length]);
  switch (f.type) {
    case 'boolean':
      return pick(['yes', 1, null, []], 2);
    case 'enum':
      return [
        `${f.entries![0]} `,
        ...pick([f.entries![0].toUpperCase() === f.entries![0] ? f.entries![0].toLowerCase() : f.entries![0].toUpperCase(), 7, null]),
      ];
    case 'number': {
      const out: unknown[] = pick(['1', true, null, NaN, Infinity]);
      if (f.min! > -Infinity) out.push(f.min! - (f.int ? 1 : 0.01));
      if (f.max! < Infinity) out.push(f.max! + 1);
      if (f.int) out.push(Math.max(f.min!, 0) + 0.5);
      return out;
    }
    case 'string': {
      const k = f.kind!;
      const injected = fc
        .tuple(
          GOOD[k.kind](k).filter((v) => v.length > 0),
          fc.constantFrom(...LINE_BREAKERS, ...BAD[k.kind].chars),
          fc.nat(),
        )
        .map(([v, c, at]) => v.slice(0, at % (v.length + 1)) + c + v.slice(at % (v.length + 1)));
      const own = [...BAD[k.kind].values, ...(k.minLength && k.minLength > 1 ? ['x'.repeat(k.minLength - 1)] : [])];
      return [
        ...pick([42, true, ['x'], { a: 1 }, null]),
        ...fc.sample(injected, { numRuns: 2, seed: SEED + n }),
        ...(firstOfKind ? own : pick(own)),
      ];
    }
  }
}

const BASE_PROBLEMS = load(SCAFFOLD).problems;

describe('the schema: every field has a kind of value, checked for what it becomes', () => {
  it('walks every field (instance defaults and host-side sections)', () => {
    expect(BASE_PROBLEMS).toEqual([]);
    expect(FIELDS.length).toBeGreaterThan(200);
    for (const p of [
      'nodeAddress',
      'ssh.host',
      'app.env.URL',
      'cutover.routes[0].verify[0].host',
      'backup.schedule',
      'coturn.workers[0].publicIp',
    ]) {
      expect(FIELDS.map((f) => show(f.path))).toContain(p);
    }
  });

  it('every string field has a registered kind, and this test knows good and bad values of each kind', () => {
    const strings = FIELDS.filter((f) => f.type === 'string');
    expect(strings.filter((f) => !f.kind).map((f) => show(f.path))).toEqual([]);
    const kinds = new Set(strings.map((f) => f.kind!.kind));
    expect([...kinds].filter((k) => !GOOD[k] || !BAD[k])).toEqual([]);
    const docs = readFileSync(join(ROOT, 'docs', 'validate.md'), 'utf8');
    expect(
      [...kinds].filter((k) => !docs.includes(`\`${k}\``)),
      'kinds docs/validate.md does not describe',
    ).toEqual([]);
  });
});

/** A problem for exactly `field`, located in the config file, on one line. */
function expectOneLocatedProblem(problems: string[], file: string, display: string, what: string) {
  expect(problems, what).toHaveLength(1);
  expect(problems[0], what).not.toMatch(/[\n\r]/);
  expect(problems[0].startsWith(`${file}:`), `${what}: ${problems[0]}`).toBe(true);
  expect(problems[0], what).toMatch(
    new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+: ${display.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: \\S`),
  );
}

describe('bad values are refused by the loader: one problem, located at the field, on one line', () => {
  const groups = new Map<string, Field[]>();
  for (const f of FIELDS) groups.set(String(f.path[0]), [...(groups.get(String(f.path[0])) ?? []), f]);
  for (const [section, list] of groups) {
    it(`${section} (${list.length} field${list.length > 1 ? 's' : ''})`, () => {
      list.forEach((f) => {
        const n = FIELDS.indexOf(f);
        const firstOfKind = f.type === 'string' && FIELDS.find((g) => g.kind === f.kind) === f;
        for (const value of bad(f, n, firstOfKind)) {
          const config = setPath(around(f.path), f.path, value, f.recordKey);
          const { dir, problems } = load(config);
          const display = f.recordKey ? show([...f.path.slice(0, -1), String(value)]) : show(f.path);
          if (f.recordKey && typeof value !== 'string') continue; // a YAML key is always a string
          expectOneLocatedProblem(problems, join(dir, 'roomler.yaml'), display, `${show(f.path)} = ${JSON.stringify(value)?.slice(0, 80)}`);
        }
      });
    });
  }

  it('an instance override is refused the same way, under instances[n]', () => {
    const instanceFields = FIELDS.filter(
      (f) =>
        f.type === 'string' && ['nodeAddress', 'domains', 'app', 'janus', 'mongodb'].includes(String(f.path[0])) && !f.path.includes(0),
    );
    fc.assert(
      fc.property(fc.constantFrom(...instanceFields), fc.constantFrom(...LINE_BREAKERS, ' ', ';'), (f, c) => {
        const config = {
          ...clone(SCAFFOLD),
          instances: [{ name: 'roomler' }, setPath({ name: 'staging', namespace: 'staging' }, f.path, `bad${c}value`)],
        };
        const { dir, problems } = load(config);
        expectOneLocatedProblem(problems, join(dir, 'roomler.yaml'), show(['instances', 1, ...f.path]), show(f.path));
      }),
      { seed: SEED, numRuns: 20 },
    );
  });
});

describe('.env keys: a bad value is refused naming the file and the key (or the environment variable)', () => {
  const hostile = ['10.0.0.1 ; rm -rf /', 'https://roomler.live\nevil: 1', '/srv/a b', 'x\u2028y'];
  for (const [name, path] of Object.entries(ENV_PATHS)) {
    it(name, () => {
      for (const value of hostile) {
        const f = fieldAt(show(path as Path));
        const { dir, problems } = load({}, {}, { '.env': `${name}=${JSON.stringify(value)}\n` });
        expect(problems, `${name}=${JSON.stringify(value)} (${f.kind?.kind})`).toHaveLength(1);
        expect(problems[0]).not.toMatch(/[\n\r]/);
        expect(problems[0].startsWith(`${join(dir, '.env')}: ${name} (${show(path as Path)}`), problems[0]).toBe(true);
        const viaEnv = load({}, { [name]: value });
        expect(viaEnv.problems).toHaveLength(1);
        expect(viaEnv.problems[0].startsWith(`environment variable ${name} (${show(path as Path)}`), viaEnv.problems[0]).toBe(true);
      }
    });
  }

  it('K8S_WORKER1_IP sets nodeAddress and ssh.host: one problem naming both', () => {
    const { dir, problems } = load({}, {}, { '.env': 'K8S_WORKER1_IP="10.0.0.1 ; rm -rf /"\n' });
    expect(problems).toEqual([
      `${join(dir, '.env')}: K8S_WORKER1_IP (nodeAddress, ssh.host): must be a host name (RFC 1123) or an IP address: character 9 is " " ` +
        `(U+0020)`,
    ]);
  });
});

describe('good values load back unchanged', () => {
  it('every field, several generated values each', () => {
    FIELDS.forEach((f, n) => {
      for (const value of fc.sample(good(f), { numRuns: 2, seed: SEED + n })) {
        const config = setPath(around(f.path), f.path, value, f.recordKey);
        const { loaded, problems } = load(config);
        expect(problems, `${show(f.path)} = ${JSON.stringify(value)}`).toEqual([]);
        const path = f.recordKey ? [...f.path.slice(0, -1)] : f.path;
        const got = getPath(loaded!.root, path);
        if (f.recordKey) expect(Object.keys(got as Plain)).toEqual([value]);
        else expect(got, show(f.path)).toEqual(value);
      }
    });
  });
});

// ---- dist/ ------------------------------------------------------------------------------------------------

/** Fields synth turns into dist/ (the instance and coturn): random good values of several at once. */
const DIST_FIELDS = FIELDS.filter(
  (f) => !['ssh', 'migrate', 'backup', 'cutover', 'validation', 'deploy', 'doctor', 'argocd'].includes(String(f.path[0])),
)
  // requests must not exceed limits (a policy check of the validator): amounts keep their defaults here.
  .filter((f) => !f.path.includes('resources'));

describe('good values round-trip into dist/ byte-stable', () => {
  it('random combinations: synth twice gives identical bytes, every string value lands in dist/', () => {
    const distOf = (dir: string, out: string) => {
      const r = synthIn(dir, {}, join(dir, out));
      expect(r.code, r.stderr).toBe(0);
      return treeBytes(join(dir, out));
    };
    fc.assert(
      fc.property(
        fc
          .uniqueArray(fc.constantFrom(...DIST_FIELDS), { minLength: 4, maxLength: 8, selector: (f) => show(f.path) })
          .chain((fs) => fc.tuple(fc.constant(fs), fc.tuple(...fs.map(good)))),
        ([fs, values]) => {
          const config = clone(SCAFFOLD);
          fs.forEach((f, n) => setPath(config, f.path, values[n], f.recordKey));
          const dir = project(config);
          const first = distOf(dir, 'dist-a');
          expect(distOf(dir, 'dist-b')).toEqual(first);
          const scalars = new Set<string>();
          const walk = (v: unknown): void => {
            if (typeof v === 'string') scalars.add(v);
            else if (v && typeof v === 'object') Object.values(v).forEach(walk);
          };
          for (const bytes of Object.values(first))
            parseAllDocuments(Buffer.from(bytes, 'base64').toString()).forEach((d) => walk(d.toJS()));
          const all = [...scalars].join('\n');
          fs.forEach((f, n) => {
            const v = values[n];
            if (typeof v !== 'string' || v === '' || !reachesDist(config, f)) return;
            expect(all.includes(v), `${show(f.path)} = ${JSON.stringify(v)} is not in dist/`).toBe(true);
          });
        },
      ),
      { seed: SEED, numRuns: 6 },
    );
  });
});

/** Whether a string field's value is written into dist/ verbatim, in this config. */
function reachesDist(config: Plain, f: Field): boolean {
  const p = show(f.path);
  if (['nodeAddress', 'context', 'cutover.instance'].includes(p) || (p.startsWith('coturn.') && config.coturn?.enabled === false))
    return false;
  if (p.startsWith('janus.admin.') && !config.janus?.admin?.enabled) return false;
  if (p.startsWith('backups.') && config.backups?.enabled === false) return false;
  if (p === 'backups.restoreTest.schedule' && !config.backups?.restoreTest?.enabled) return false;
  if (['backups.volume.hostPath', 'backups.volume.storage'].includes(p) && config.backups?.volume?.existingClaim) return false;
  if (p === 'security.networkPoliciesOffReason' && config.security?.networkPolicies !== false) return false;
  if (p.endsWith('latestTagReason')) return false; // only with a :latest image; generated images have exact tags
  // turnserver.conf lists denied CIDRs as address ranges (first-last); a worker's host name only checks TURN_URL.
  return !['coturn.deniedPeers[0]', 'coturn.podCidr', 'coturn.serviceCidr', 'coturn.workers[0].host'].includes(p);
}

// ---- the real commands ------------------------------------------------------------------------------------

/** `bin/roomler ...args` in the background, in project `dir`. */
function roomlerIn(
  dir: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(ROOMLER, [...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ROOMLER_PROJECT_DIR: dir, ...env },
    });
    let [stdout, stderr] = ['', ''];
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}

describe('the commands that read the config refuse a bad value: exit 1, one located line, no trace, nothing written', () => {
  const COMMANDS = [['synth'], ['validate'], ['cutover', 'plan']];
  const strings = FIELDS.filter((f) => f.type === 'string' && !f.recordKey);
  const cases = fc
    .sample(
      fc
        .tuple(fc.constantFrom(...strings), fc.constantFrom(...LINE_BREAKERS, ' ; rm -rf /', '{ }'))
        .map(([f, c]) => ({ f, value: `${fc.sample(GOOD[f.kind!.kind](f.kind!), { numRuns: 1, seed: SEED })[0]}${c}` })),
      { numRuns: 3, seed: SEED },
    )
    .map((c, n) => ({ ...c, commands: [COMMANDS[n % COMMANDS.length]] }));
  cases.push(
    { f: fieldAt('nodeAddress'), value: '10.0.0.1 ; rm -rf /', commands: COMMANDS },
    { f: fieldAt('app.env.URL'), value: 'https://roomler.live\nevil: 1', commands: COMMANDS },
  );
  for (const { f, value, commands } of cases) {
    it(`${commands.map((c) => c.join(' ')).join(', ')}: ${show(f.path)} = ${JSON.stringify(value)}`, async () => {
      const runs = commands.map(async (args) => {
        const dir = project(setPath(clone(SCAFFOLD), f.path, value));
        mkdirSync(join(dir, 'conf.d'));
        seedDist(dir);
        const before = treeBytes(dir);
        const r = await roomlerIn(dir, args, { NGINX_CONF_DIR: join(dir, 'conf.d') });
        const what = `${args.join(' ')}: ${r.stderr}`;
        expect([1, 2], what).toContain(r.status);
        expect(r.stderr, what).not.toMatch(/unexpected error|^\s+at .*:\d+:\d+\)?$/m);
        const located = r.stderr.split('\n').filter((l) => l.startsWith('  - '));
        expect(located, what).toHaveLength(1);
        expect(located[0].startsWith(`  - ${join(dir, 'roomler.yaml')}:`) && located[0].includes(` ${show(f.path)}: `), what).toBe(true);
        expect(treeBytes(dir), `${args.join(' ')} wrote something`).toEqual(before);
      });
      await Promise.all(runs);
    });
  }
});

// ---- sizes ------------------------------------------------------------------------------------------------

describe('sizes: what the API server and the kernel refuse is refused at synth, naming the field', () => {
  it('a 50 MB app.env value: one problem at the field, dist/ untouched', () => {
    const dir = project({ app: { env: { GOOGLE_ID: 'g'.repeat(50_000_000) } } });
    const dist = seedDist(dir);
    const before = treeBytes(dist);
    const r = synthIn(dir, {}, dist);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^  - ${join(dir, 'roomler.yaml')}:3:16: app\\.env\\.GOOGLE_ID: the environment variable GOOGLE_ID would be 50000011 bytes ` +
          `\\(47\\.68 MiB\\); Linux refuses one over 131072 bytes`,
        'm',
      ),
    );
    expect(r.stderr.split('\n').filter((l) => l.startsWith('  - '))).toHaveLength(1);
    expect(treeBytes(dist)).toEqual(before);
  });

  it('values each fit an environment string, but together exceed the 1 MiB of a ConfigMap: the largest is named', () => {
    const ids = [
      'FACEBOOK_ID',
      'GOOGLE_ID',
      'GITHUB_ID',
      'LINKEDIN_ID',
      'MICROSOFT_ID',
      'GIPHY_API_KEY',
      'GOOGLE_ANALYTICS_ID',
      'WEB_PUSH_PUBLISH_KEY',
    ];
    const env = Object.fromEntries(ids.map((k, n) => [k, 'v'.repeat(120_000 + n)]));
    const fits = load({ app: { env } });
    expect(fits.problems).toEqual([]); // 8 x 120 kB: under 1 MiB
    const over = load({ app: { env: { ...env, API_URL: `https://roomler.live/${'p'.repeat(125_000)}` } } });
    expect(over.problems).toHaveLength(1);
    expect(over.problems[0]).toMatch(
      /roomler\.yaml:\d+:\d+: app\.env\.API_URL: ConfigMap roomler\/roomler-config would hold 10\d{5} bytes \(1\.\d\d MiB\) of data, more than/,
    );
  });

  it('the validator counts the data of any ConfigMap or Secret as the API server does (bytes, decoded)', () => {
    const objectWith = (kind: string, field: string, value: string, key = 'k') => ({
      file: 'x.yaml',
      index: 0,
      object: { apiVersion: 'v1', kind, metadata: { name: 'big', namespace: 'roomler' }, [field]: { [key]: value } },
    });
    const rule = (o: ReturnType<typeof objectWith>) =>
      apiServerRules(o)
        .map((f) => f.message)
        .join('\n');
    expect(rule(objectWith('ConfigMap', 'data', 'x'.repeat(MAX_DATA_BYTES)))).toBe('');
    expect(rule(objectWith('ConfigMap', 'data', 'é'.repeat(MAX_DATA_BYTES / 2 + 1)))).toMatch(
      /ConfigMap roomler\/big would hold 1048578 bytes/,
    );
    expect(rule(objectWith('Secret', 'data', Buffer.alloc(MAX_DATA_BYTES).toString('base64')))).toBe('');
    expect(rule(objectWith('Secret', 'data', Buffer.alloc(MAX_DATA_BYTES + 1).toString('base64')))).toMatch(
      /Secret roomler\/big would hold 1048577 bytes/,
    );
    expect(rule(objectWith('ConfigMap', 'data', 'x', 'a/b'))).toMatch(/key "a\/b" must be/);
  });
});

describe('secret values (bin/roomler secrets): checked for what each becomes, never echoed', () => {
  const values = (v: Record<string, string>) => (name: string) => v[name];

  it('a line break in COTURN_AUTH_SECRET (a turnserver.conf line) or a quote in JANUS_ADMIN_SECRET (a libconfig string)', () => {
    const p = secretValueProblems(
      values({
        COTURN_AUTH_SECRET: 'abc\nlistening-port=1',
        JANUS_ADMIN_SECRET: 'a"b',
        MONGO_ROOT_PASSWORD: 'fine with spaces and ; "quotes"',
      }),
    );
    expect(p).toEqual([
      'COTURN_AUTH_SECRET (from the environment or .env) must be one line without control characters (it becomes a line of ' +
        'turnserver.conf): character 4 is U+000A (value not shown)',
      'JANUS_ADMIN_SECRET (from the environment or .env) must use only A-Z a-z 0-9 . _ ~ + / = - (it goes into a libconfig string in ' +
        'janus.jcfg): character 2 is U+0022 (value not shown)',
    ]);
    expect(p.join('\n')).not.toContain('listening-port');
  });

  it('generated one-line values pass; any control character anywhere is refused', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[\x20-\x7e]{1,40}$/), fc.constantFrom(...LINE_BREAKERS), fc.nat(), (v, c, at) => {
        expect(secretValueProblems(values({ MONGO_ROOT_PASSWORD: v }))).toEqual([]);
        const i = at % (v.length + 1);
        expect(secretValueProblems(values({ MONGO_ROOT_PASSWORD: v.slice(0, i) + c + v.slice(i) }))).toHaveLength(1);
      }),
      { seed: SEED, numRuns: 100 },
    );
  });

  it('a Secret over 1 MiB, and an envFrom value over an environment string, name the variable', () => {
    const secret = (name: string, data: Record<string, string>) => ({ metadata: { name, namespace: 'roomler' }, stringData: data });
    const p = secretSizeProblems(
      [
        secret('mongodb-secret', { MONGO_INITDB_ROOT_PASSWORD: 'p'.repeat(MAX_DATA_BYTES + 1) }),
        secret('roomler-secret', { SENDGRID_API_KEY: 's'.repeat(200_000) }),
      ],
      new Set(['roomler/roomler-secret']),
      (k) => (k === 'MONGO_INITDB_ROOT_PASSWORD' ? 'MONGO_ROOT_PASSWORD' : k),
    );
    expect(p).toHaveLength(2);
    expect(p[0]).toMatch(/^MONGO_ROOT_PASSWORD: Secret roomler\/mongodb-secret would hold 1048577 bytes/);
    expect(p[1]).toMatch(
      /^SENDGRID_API_KEY: Secret roomler\/roomler-secret key SENDGRID_API_KEY: the environment variable \w+ would be 200018 bytes/,
    );
  });
});
