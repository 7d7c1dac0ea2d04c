import { isIPv4, isIPv6 } from 'node:net';

import { z } from 'zod';

import { cronJobScheduleProblem } from './cron';

// Every kind of string a config value can be, checked for what the value becomes: a host name in an nginx
// `proxy_pass`, a path in a PersistentVolume or an ssh command, a URL in the app's ConfigMap, a header of a
// request, a line of a crontab. A value that passes can never carry a character that changes the structure of
// its target (a space or `;` in nginx, a line break in a ConfigMap or crontab, CR/LF in an HTTP header).
// Each kind is one check with one message naming the rule, so a bad value is exactly one located line; the
// registry below lets the property test and the docs find the kind of every string field of the schema.

/** What a kind of value must be: `rule` is the sentence docs/validate.md shows. */
export interface ValueKind {
  readonly kind: string;
  readonly rule: string;
  /** URL kinds: the schemes accepted. */
  readonly schemes?: readonly string[];
  /** Text kinds: the fewest characters (not counting surrounding spaces). */
  readonly minLength?: number;
}

/** The kind of every string field of the schema (see `kindOf`). */
export const VALUE_KINDS = z.registry<ValueKind>();

/** `character 9 is " " (U+0020)`: the first offending character, without echoing the whole value. */
export function describeChar(value: string, index: number): string {
  const cp = value.codePointAt(index)!;
  return `character ${index + 1} is ${JSON.stringify(String.fromCodePoint(cp))} (U+${cp.toString(16).toUpperCase().padStart(4, '0')})`;
}

/** Whitespace, control characters and invisible format characters (zero-width space, BOM, bidi overrides). */
const INVISIBLE = /[\s\p{Cc}\p{Cf}]/u;
/** Anything but printable ASCII without the space. */
const NOT_PRINTABLE_ASCII = /[^\x21-\x7e]/;
/** Control characters, line breaks and format characters; spaces allowed. */
const NOT_ONE_LINE = /[\p{Cc}\p{Cf}\u2028\u2029]/u;

const firstMatch = (value: string, re: RegExp): number => {
  const m = new RegExp(re.source, re.flags.replace('g', '')).exec(value);
  return m ? m.index : -1;
};

/** `rule` followed by the first character `re` finds in `value`, or undefined. */
function badChar(value: string, re: RegExp, rule: string): string | undefined {
  const i = firstMatch(value, re);
  return i < 0 ? undefined : `${rule}: ${describeChar(value, i)}`;
}

/** A value or part of one, quoted and escaped on one line, cut at 40 characters. */
export const quote = (v: string) => JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);

const tooLong = (value: string, max: number, rule: string) =>
  value.length > max ? `${rule}: ${value.length} characters, at most ${max}` : undefined;

type Check = (value: string) => string | undefined;

/** A string schema with one check and one message, registered as `kind`; `json` adds JSON Schema hints for editors. */
export function stringKind(kind: ValueKind, check: Check, json: Record<string, unknown> = {}) {
  return z
    .string()
    .superRefine((v, ctx) => {
      const problem = check(v);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .meta(json)
    .register(VALUE_KINDS, kind);
}

// ---- names -------------------------------------------------------------------------------------------------

export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const HOST_LABEL = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$/;

export const dnsLabelProblem = (what: string) => (v: string) =>
  v.length > 63
    ? `${what} must be at most 63 characters`
    : DNS1123_LABEL.test(v)
      ? undefined
      : `${what} must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending alphanumeric)`;

export const dnsSubdomainProblem = (what: string) => (v: string) =>
  v.length > 253
    ? `${what} must be at most 253 characters`
    : DNS1123_SUBDOMAIN.test(v)
      ? undefined
      : `${what} must be a DNS-1123 subdomain`;

/** RFC 1123 host name: dot-separated labels of letters, digits and '-' (1-63 each, not starting or ending with '-'). */
export function hostNameProblem(v: string, lowercase = false): string | undefined {
  const rule = lowercase
    ? 'must be a lowercase host name (RFC 1123: letters, digits and "-" in dot-separated labels of at most 63)'
    : 'must be a host name (RFC 1123: letters, digits and "-" in dot-separated labels of at most 63)';
  if (v === '') return `${rule}, not empty`;
  const long = tooLong(v, 253, rule);
  if (long) return long;
  const bad = badChar(v, lowercase ? /[^a-z0-9.-]/ : /[^A-Za-z0-9.-]/, rule);
  if (bad) return bad;
  const labels = v.split('.');
  const wrong = labels.find((l) => l.length > 63 || !HOST_LABEL.test(l));
  return wrong === undefined
    ? undefined
    : `${rule}: label ${quote(wrong)} is ${wrong === '' ? 'empty' : wrong.length > 63 ? 'longer than 63' : 'starting or ending with "-"'}`;
}

/** An IPv6 address without a zone (a `%eth0` zone would need escaping in nginx and in URLs). */
const ipv6 = (v: string) => isIPv6(v) && !v.includes('%');

const HOST_OR_IP = 'must be a host name (RFC 1123) or an IP address';

export function hostOrIpProblem(v: string): string | undefined {
  if (isIPv4(v) || ipv6(v)) return undefined;
  if (/^[0-9.]+$/.test(v)) return `${HOST_OR_IP}: ${quote(v)} is not a valid IPv4 address`;
  if (v.includes(':')) return `${HOST_OR_IP}: ${quote(v)} is not a valid IPv6 address`;
  const p = hostNameProblem(v);
  return p && `${HOST_OR_IP}${p.slice(p.indexOf(')') + 1)}`;
}

export const ipv4Problem = (v: string) =>
  isIPv4(v) ? undefined : `must be an IPv4 address such as 10.0.0.7${badChar(v, /[^0-9.]/, '') ?? ''}`;

/** A Docker container name, also the host an nginx upstream names on the old Docker host (`janus_r`). */
export const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
export const containerNameProblem = (v: string) => {
  const rule = 'must be a container or host name (letters, digits, "_", "." and "-", starting alphanumeric)';
  return (
    tooLong(v, 253, rule) ??
    (CONTAINER_NAME.test(v)
      ? undefined
      : v === ''
        ? `${rule}, not empty`
        : (badChar(v, /[^A-Za-z0-9_.-]/, rule) ?? `${rule}: ${quote(v)} starts with ${quote(v[0])}`))
  );
};

export function portNumberProblem(digits: string): string | undefined {
  const n = Number(digits);
  return /^\d{1,5}$/.test(digits) && n >= 1 && n <= 65535 ? undefined : `port ${quote(digits)} is not within 1-65535`;
}

// ---- kinds -------------------------------------------------------------------------------------------------

export const dnsLabel = (what: string) =>
  stringKind(
    {
      kind: 'dnsLabel',
      rule:
        'a DNS-1123 label: lowercase letters, digits and "-", starting and ending alphanumeric, at most 63 characters (so also a ' +
        'valid label value)',
    },
    dnsLabelProblem(what),
    { maxLength: 63, pattern: DNS1123_LABEL.source },
  );

export const dnsSubdomain = (what: string) =>
  stringKind(
    {
      kind: 'dnsSubdomain',
      rule: 'a DNS-1123 subdomain (a Kubernetes object name): dot-separated DNS-1123 labels, at most 253 characters',
    },
    dnsSubdomainProblem(what),
    { maxLength: 253, pattern: DNS1123_SUBDOMAIN.source },
  );

/** A public DNS name: lowercase, as it appears in URLs, TLS names and nginx server_name. */
export const domainName = stringKind(
  {
    kind: 'domainName',
    rule: 'a lowercase host name (RFC 1123): dot-separated labels of letters, digits and "-", 1-63 characters each, at most 253 in all',
  },
  (v) => hostNameProblem(v, true),
  { maxLength: 253, pattern: DNS1123_SUBDOMAIN.source },
);

/** Where a command connects, or nginx proxies: a host name or an IPv4/IPv6 address (K8S_WORKER1_IP). */
export const hostOrIp = stringKind(
  { kind: 'hostOrIp', rule: 'a host name (RFC 1123) or an IPv4 or IPv6 address; nothing else (no port, no spaces)' },
  hostOrIpProblem,
  {
    minLength: 1,
    maxLength: 253,
    pattern: '^[A-Za-z0-9.:-]+$',
  },
);

export const ipv4 = stringKind({ kind: 'ipv4', rule: 'an IPv4 address (four decimal octets 0-255)' }, ipv4Problem);

/** A prefix Janus's admin_acl matches: "10.0.0.5", "10.0." or "10.". */
export const ipv4Prefix = stringKind(
  { kind: 'ipv4Prefix', rule: 'an IPv4 address or a prefix of one ending in "." (10.0.0.5, 10.0.)' },
  (v) => {
    const parts = v.split('.');
    const ok =
      /^[0-9.]+$/.test(v) &&
      parts.length <= 4 &&
      (parts.length === 4 ? isIPv4(v) : parts.at(-1) === '' && parts.slice(0, -1).every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255));
    return ok ? undefined : 'must be an IPv4 address or prefix such as 10.0.0.5 or 10.0. (octets 0-255)';
  },
);

export const ipv4Cidr = stringKind({ kind: 'ipv4Cidr', rule: 'an IPv4 CIDR: an IPv4 address, "/" and a prefix length 0-32' }, (v) => {
  const [ip, bits, extra] = v.split('/');
  return extra === undefined && isIPv4(ip) && /^([0-9]|[12]\d|3[0-2])$/.test(bits ?? '')
    ? undefined
    : 'must be an IPv4 CIDR such as 10.244.0.0/16';
});

export const containerName = stringKind(
  {
    kind: 'containerName',
    rule: 'a container or host name as Docker and the old nginx config use it: letters, digits, "_", "." and "-", starting alphanumeric',
  },
  containerNameProblem,
  { maxLength: 253, pattern: CONTAINER_NAME.source },
);

/** `host:port` where host is a container name (an nginx upstream on the old host); `optionalPort` allows a bare host. */
export const containerHostPort = (optionalPort: boolean) =>
  stringKind(
    optionalPort
      ? { kind: 'containerHostOptionalPort', rule: 'a container or host name, optionally with ":port" (1-65535)' }
      : { kind: 'containerHostPort', rule: 'a container or host name, ":" and a port 1-65535 (e.g. r00mler2:3000)' },
    (v) => {
      const example = optionalPort ? 'must be host or host:port, e.g. legacy-static:8081' : 'must be host:port, e.g. r00mler2:3000';
      const colon = v.lastIndexOf(':');
      if (colon < 0)
        return optionalPort
          ? containerNameProblem(v) && `${example}: ${containerNameProblem(v)!.replace(/^must be /, 'the host must be ')}`
          : example;
      const host = v.slice(0, colon);
      const problem = containerNameProblem(host) ?? portNumberProblem(v.slice(colon + 1));
      return problem && `${example}: ${problem.replace(/^must be /, 'the host must be ')}`;
    },
  );

/** `host:port` or `[ipv6]:port`, where host is a host name or an address. */
export const hostPort = stringKind(
  { kind: 'hostPort', rule: 'host:port or [IPv6]:port, the host a host name (RFC 1123) or an IP address, the port 1-65535' },
  (v) => {
    const m = /^(?:\[([^\]]*)\]|([^:]*)):([^:]*)$/.exec(v);
    const example = 'must be host:port, e.g. 127.0.0.1:443 or [::1]:443';
    if (!m) return example;
    const hostProblem = m[1] !== undefined ? (ipv6(m[1]) ? undefined : `[${quote(m[1])}] is not an IPv6 address`) : hostOrIpProblem(m[2]);
    const problem = hostProblem ?? portNumberProblem(m[3]);
    return problem && `${example}: ${problem}`;
  },
);

/** A DNS resolver, `host` or `host:port`. */
export const resolverAddress = stringKind(
  { kind: 'resolverAddress', rule: 'an IP address or host name, optionally with ":port" (IPv6 with a port in brackets)' },
  (v) => {
    if (hostOrIpProblem(v) === undefined) return undefined;
    const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d*)$/.exec(v);
    const problem = !m
      ? hostOrIpProblem(v)
      : ((m[1] !== undefined ? (ipv6(m[1]) ? undefined : `[${quote(m[1])}] is not an IPv6 address`) : hostOrIpProblem(m[2])) ??
        portNumberProblem(m[3]));
    return problem && `must be host or host:port: ${problem}`;
  },
);

/** Two ports `a-b`, ascending; `min` is the lowest first port. */
export const portRange = (min = 1) =>
  stringKind(
    { kind: 'portRange', rule: `two ports "first-last", ascending, within ${min}-65535` },
    (v) => {
      const m = /^(\d{1,5})-(\d{1,5})$/.exec(v);
      if (!m) return 'must be a port range such as 10000-10200';
      const [a, b] = [Number(m[1]), Number(m[2])];
      return a >= min && b <= 65535 && a <= b ? undefined : `must be an ascending range within ${min}-65535`;
    },
    { pattern: '^\\d{1,5}-\\d{1,5}$' },
  );

// ---- URLs and paths ------------------------------------------------------------------------------------------

const URL_CHARS = 'of the characters RFC 3986 allows (percent-encode anything else)';
/** Anything RFC 3986 never allows raw in a URI: spaces, controls, non-ASCII, and " < > \\ ^ ` { | }. */
const NOT_URI = /[^A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]/;

function urlHostProblem(u: URL): string | undefined {
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  if (host === '') return 'has no host';
  if (isIPv4(host) || ipv6(host)) return undefined;
  const p = hostNameProblem(host);
  return p && `its host ${p.replace(/^must be /, 'must be ')}`;
}

/** An absolute URL with one of `schemes` and a host: no credentials (a ConfigMap is not secret), no whitespace. */
export const url = (schemes: string[]) => {
  const rule = `must be a valid URL with scheme ${schemes.join(' or ')}`;
  return stringKind(
    {
      kind: 'url',
      rule:
        `an absolute URL with scheme ${schemes.join(', ')} and a host name or IP address, of the characters RFC 3986 allows (no ` +
        `spaces, line breaks, quotes, backslashes or non-ASCII), no user:password@`,
      schemes,
    },
    (v) => {
      const bad = badChar(v, NOT_URI, `${rule}, ${URL_CHARS}`);
      if (bad) return bad;
      let u: URL;
      try {
        u = new URL(v);
      } catch {
        return rule;
      }
      if (!schemes.includes(u.protocol.replace(/:$/, ''))) return `${rule}, not ${u.protocol.replace(/:$/, '')}`;
      if (u.username || u.password) return `${rule}, without user:password@ (a ConfigMap is not secret; credentials belong in .env)`;
      const host = urlHostProblem(u);
      return host && `${rule}: ${host}`;
    },
    { format: 'uri' },
  );
};

/** RFC 7065: `turn:host[:port][?transport=udp|tcp]` (turns: for TLS). */
export const turnUrl = stringKind(
  {
    kind: 'turnUrl',
    rule: 'a TURN URI (RFC 7065): turn: or turns:, a host name or IP address, optionally ":port" and "?transport=udp" or "tcp"',
  },
  (v) => {
    const rule = 'must be a valid URL with scheme turn or turns';
    const bad = badChar(v, NOT_URI, `${rule}, ${URL_CHARS}`);
    if (bad) return bad;
    const m = /^turns?:(?:\[([^\]]*)\]|([^:?]*))(?::([^?]*))?(?:\?transport=(udp|tcp))?$/.exec(v);
    if (!m) return `${rule} (turn:host[:port][?transport=udp|tcp])`;
    const problem =
      (m[1] !== undefined ? (ipv6(m[1]) ? undefined : `[${quote(m[1])}] is not an IPv6 address`) : hostOrIpProblem(m[2])) ??
      (m[3] === undefined ? undefined : portNumberProblem(m[3]));
    return problem && `${rule}: ${problem}`;
  },
);

/** The subject web-push sends with VAPID: a mailto: or https: URL; empty when web push is not used. */
export const vapidSubject = stringKind(
  { kind: 'vapidSubject', rule: 'empty, or the VAPID subject: a mailto: address or an https: URL, of the characters RFC 3986 allows' },
  (v) => {
    if (v === '') return undefined;
    const rule = 'must be a mailto: or https: URL (the VAPID subject web-push requires), or empty';
    const bad = badChar(v, NOT_URI, `${rule}, ${URL_CHARS}`);
    if (bad) return bad;
    if (/^mailto:[^@\s]+@[^@\s]+$/.test(v)) return undefined;
    try {
      const u = new URL(v);
      return u.protocol === 'https:' && !urlHostProblem(u) ? undefined : rule;
    } catch {
      return rule;
    }
  },
);

/** A Git repository URL Argo CD can clone: https://, ssh://, git:// or scp-like git@host:path. */
export const gitRepoUrl = stringKind(
  { kind: 'gitRepoUrl', rule: 'a Git URL: https://, ssh:// or git:// with a host, or git@host:path, of the characters RFC 3986 allows' },
  (v) => {
    const rule = 'must be a Git URL (https://, ssh://, git:// or git@host:path)';
    const bad = badChar(v, NOT_URI, `${rule}, ${URL_CHARS}`);
    if (bad) return bad;
    const scp = /^[A-Za-z0-9._-]+@([^:/]+):(.+)$/.exec(v);
    if (scp) return hostOrIpProblem(scp[1]) && `${rule}: the host ${hostOrIpProblem(scp[1])!.replace(/^must be /, 'must be ')}`;
    try {
      const u = new URL(v);
      if (!['https:', 'http:', 'ssh:', 'git:'].includes(u.protocol)) return rule;
      const host = urlHostProblem(u);
      return host && `${rule}: ${host}`;
    } catch {
      return rule;
    }
  },
);

const PATH_RULE = 'must be an absolute path';

/**
 * A file or directory path: absolute, no whitespace (an ssh `-o` option, an rsync remote path and a crontab line
 * all split on it) and no control characters, no ".." segment (the API server refuses one in a hostPath).
 */
export const absolutePath = stringKind(
  {
    kind: 'absolutePath',
    rule: 'an absolute path other than "/": starts with "/", no whitespace or control characters, no ".." segment, at most 4096 characters',
  },
  (v) => {
    if (!v.startsWith('/')) return PATH_RULE;
    if (v.replace(/\/+$/, '') === '') return 'must not be /';
    return (
      tooLong(v, 4096, PATH_RULE) ??
      badChar(v, INVISIBLE, `${PATH_RULE} without whitespace or control characters`) ??
      (v.split('/').includes('..') ? `${PATH_RULE} without ".." segments` : undefined)
    );
  },
  { pattern: '^/\\S*$' },
);

/** A path below a directory (a file name relative to nginx's confDir, a directory in a Git repository). */
export const relativePath = stringKind(
  { kind: 'relativePath', rule: 'a relative path: not starting with "/", no whitespace or control characters, no ".." segment' },
  (v) => {
    const rule = 'must be a relative path';
    if (v === '') return `${rule}, not empty`;
    if (v.startsWith('/')) return `${rule}, not starting with /`;
    return (
      tooLong(v, 4096, rule) ??
      badChar(v, INVISIBLE, `${rule} without whitespace or control characters`) ??
      (v.split('/').includes('..') ? `${rule} without ".." segments` : undefined)
    );
  },
);

/** What goes on an HTTP request line: a path (and query) of printable ASCII, so no space or CR/LF can split the request. */
export const requestPath = stringKind(
  { kind: 'requestPath', rule: 'an HTTP path (and query): starts with "/", printable ASCII without spaces' },
  (v) =>
    v.startsWith('/')
      ? (tooLong(v, 8192, 'must be an HTTP path') ??
        badChar(v, NOT_PRINTABLE_ASCII, 'must be an HTTP path of printable ASCII without spaces (percent-encode anything else)'))
      : 'must start with /',
  { pattern: '^/[\\x21-\\x7e]*$' },
);

// ---- Kubernetes values -----------------------------------------------------------------------------------------

/** apimachinery's resource.Quantity grammar: a number, then a binary-SI, decimal-SI or exponent suffix. */
export const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$/;
const SUFFIX: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** The number a quantity stands for (NaN when it is not one): 512Mi is 536870912, 250m is 0.25, 1e3 is 1000. */
export function quantityValue(q: string | number | undefined): number {
  if (typeof q === 'number') return q;
  if (q === undefined || q.length > 64 || !QUANTITY.test(q)) return NaN;
  const m = /^([+-]?[\d.]+)(.*)$/.exec(q)!;
  return parseFloat(m[1]) * (/^[eE]/.test(m[2]) ? 10 ** Number(m[2].slice(1)) : (SUFFIX[m[2]] ?? 1));
}

export const quantity = stringKind(
  {
    kind: 'quantity',
    rule:
      'a positive Kubernetes quantity: a number with an optional suffix Ki Mi Gi Ti Pi Ei, m k M G T P E or an exponent (250m, 1, ' +
      '512Mi, 5Gi)',
  },
  (v) => {
    const n = quantityValue(v);
    if (Number.isNaN(n)) return 'must be a Kubernetes quantity such as 250m, 1, 512Mi or 5Gi';
    if (!(n > 0)) return 'must be a positive quantity';
    return n < 2 ** 63 ? undefined : 'must be a quantity below 2^63 (the API server refuses larger ones)';
  },
  { pattern: QUANTITY.source },
);

/** A container image reference: `[registry[:port]/]name[:tag][@digest]`. */
export const IMAGE = /^[a-z0-9]+([._/:@-][a-zA-Z0-9_.-]+)*$/;
export const image = stringKind(
  { kind: 'image', rule: 'a container image reference such as mongo:7.0.16 or registry:5000/name@sha256:…, at most 255 characters' },
  (v) => (v.length <= 255 && IMAGE.test(v) ? undefined : 'must be a container image reference such as mongo:7'),
  { pattern: IMAGE.source },
);

/** A CronJob schedule the API server accepts (lib/config/cron.ts: robfig/cron v3's ParseStandard, no TZ). */
export const cronJobSchedule = stringKind(
  {
    kind: 'cronJobSchedule',
    rule: 'a CronJob schedule the API server accepts: five fields (robfig/cron v3 ParseStandard) or @daily etc., no TZ=',
  },
  (v) => {
    const oneLine = badChar(v, NOT_ONE_LINE, 'must be a CronJob schedule on one line');
    if (oneLine) return oneLine;
    const problem = cronJobScheduleProblem(v);
    return problem && `must be a CronJob schedule such as "0 3 * * *" (the API server's cron parser says: ${problem})`;
  },
);

/** The five time fields of a host crontab line: no line break, no `%` (cron's newline), nothing but field characters. */
export const crontabSchedule = stringKind(
  {
    kind: 'crontabSchedule',
    rule: 'the five time fields of a crontab line, separated by spaces: digits, names, "*", "/", "," and "-" only',
  },
  (v) =>
    /^[0-9A-Za-z*/,-]+([ \t]+[0-9A-Za-z*/,-]+){4}$/.test(v) ? undefined : 'must be a cron schedule of five fields such as "30 3 * * *"',
  { pattern: '^[0-9A-Za-z*/,-]+([ \\t]+[0-9A-Za-z*/,-]+){4}$' },
);

/** An IANA time zone name (CronJob spec.timeZone): what the API server's time.LoadLocation finds. */
export const timeZone = stringKind(
  { kind: 'timeZone', rule: 'an IANA time zone name such as Etc/UTC or Europe/Berlin (not Local)' },
  (v) => {
    const rule = 'must be an IANA time zone name such as Etc/UTC or Europe/Berlin';
    if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(v) || v.length > 64 || v === 'Local') return rule;
    try {
      new Intl.DateTimeFormat('en', { timeZone: v });
      return undefined;
    } catch {
      return `${rule}: ${v} is not in the time zone database`;
    }
  },
);

// ---- free text, tokens and command lines -------------------------------------------------------------------

/** One line of text, e.g. a reason that becomes an annotation value or a line of `plan`. */
export const oneLine = (min = 1, max = 1024) =>
  stringKind(
    { kind: 'oneLine', rule: `one line of text: no line breaks or control characters, ${min}-${max} characters`, minLength: min },
    (v) =>
      v.trim().length < min
        ? min >= 10
          ? `must say why (at least ${min} characters)`
          : 'must not be empty'
        : (tooLong(v, max, 'must be one line of text') ??
          badChar(v, NOT_ONE_LINE, 'must be one line of text without line breaks or control characters')),
    { minLength: min, maxLength: max },
  );

/** A value the app reads as one token (an OAuth client id, an API key): printable ASCII without spaces, or empty. */
export const token = stringKind(
  { kind: 'token', rule: 'empty or printable ASCII without spaces, tabs or line breaks' },
  (v) => badChar(v, NOT_PRINTABLE_ASCII, 'must be printable ASCII without spaces or line breaks'),
  { pattern: '^[\\x21-\\x7e]*$' },
);

/** One argument of a command line (argv, never a shell): no control characters, NUL or line breaks. */
export const argument = stringKind(
  { kind: 'argument', rule: 'one command-line argument: not empty, no control characters or line breaks' },
  (v) =>
    v === ''
      ? 'must not be empty'
      : (tooLong(v, 4096, 'must be one argument') ??
        badChar(v, NOT_ONE_LINE, 'must be one argument without control characters or line breaks')),
  { minLength: 1, maxLength: 4096 },
);

/** A kubeconfig context name, passed to kubectl as `--context NAME`. */
export const kubeContext = stringKind(
  { kind: 'kubeContext', rule: 'a kubeconfig context name: printable characters without whitespace, not starting with "-"' },
  (v) =>
    v === ''
      ? 'must not be empty'
      : v.startsWith('-')
        ? 'must be a context name, not starting with "-"'
        : (tooLong(v, 253, 'must be a context name') ??
          badChar(v, INVISIBLE, 'must be a context name without whitespace or control characters')),
  { minLength: 1, pattern: '^[^-\\s]\\S*$' },
);

/** A POSIX user name (ssh's user@host). */
export const posixUser = stringKind(
  {
    kind: 'posixUser',
    rule: 'a POSIX user name: lowercase letters, digits, "_" and "-", starting with a letter or "_", at most 32 characters',
  },
  (v) => (v.length <= 32 && /^[a-z_][a-z0-9_-]*$/.test(v) ? undefined : 'must be a POSIX user name'),
  { maxLength: 32, pattern: '^[a-z_][a-z0-9_-]*$' },
);

/** A MongoDB database name that also stays one token in a connection string, a shell script and an archive name. */
export const mongoDatabase = stringKind(
  { kind: 'mongoDatabase', rule: 'a MongoDB database name: letters, digits, "_" and "-", 1-63 characters' },
  (v) =>
    /^[A-Za-z0-9_-]{1,63}$/.test(v) ? undefined : 'must be a valid MongoDB database name (letters, digits, "_" and "-", 1-63 characters)',
  { pattern: '^[A-Za-z0-9_-]{1,63}$' },
);

/** The user part of TURN_USERNAME `<expiry>:<user>`. */
export const turnUser = stringKind(
  { kind: 'turnUser', rule: 'letters, digits, ".", "_" and "-", 1-128 characters' },
  (v) => (v.length <= 128 && /^[A-Za-z0-9._-]+$/.test(v) ? undefined : 'must be letters, digits, ".", "_" or "-"'),
  { pattern: '^[A-Za-z0-9._-]+$' },
);

/** An RFC 7230 token, e.g. a Sec-WebSocket-Protocol value. */
export const httpToken = stringKind({ kind: 'httpToken', rule: "an HTTP token (RFC 7230): letters, digits and !#$%&'*+.^_`|~-" }, (v) =>
  v.length <= 256 && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(v) ? undefined : "must be an HTTP token (letters, digits and !#$%&'*+.^_`|~-)",
);

/** cron's MAILTO: addresses or local users separated by commas, or "" for no mail. */
export const mailto = stringKind(
  { kind: 'mailto', rule: 'e-mail addresses or user names separated by commas (no spaces), or "" for no mail' },
  (v) =>
    v.length <= 1024 && /^$|^[\w.+-]+(@[\w.-]+)?(,[\w.+-]+(@[\w.-]+)?)*$/.test(v)
      ? undefined
      : 'must be e-mail addresses or user names separated by commas (no spaces), or "" for no mail',
);

/** SUPER_ADMIN_EMAILS: a JSON array of e-mail addresses, on one line (it is one environment variable). */
export const emailList = stringKind(
  { kind: 'emailList', rule: 'a JSON array of e-mail addresses on one line, e.g. ["admin@roomler.live"]' },
  (v) => {
    const rule = 'must be a JSON array of e-mail addresses, e.g. ["admin@roomler.live"]';
    const bad = badChar(v, /[\p{Cc}\p{Cf}\u2028\u2029]/u, `${rule}, on one line`);
    if (bad) return bad;
    try {
      const list = JSON.parse(v);
      return Array.isArray(list) && list.every((e) => typeof e === 'string' && /^[^@\s]+@[^@\s]+$/.test(e)) ? undefined : rule;
    } catch {
      return rule;
    }
  },
);

/** Git's branch, tag or commit as Argo CD's targetRevision. */
export const gitRevision = stringKind(
  {
    kind: 'gitRevision',
    rule: 'a Git branch, tag or commit: no whitespace, control characters, "..", "~", "^", ":", "?", "*", "[" or "\\"',
  },
  (v) => {
    const rule = 'must be a Git branch, tag or commit';
    if (v === '') return `${rule}, not empty`;
    return (
      tooLong(v, 255, rule) ??
      badChar(v, /[\s\p{Cc}\p{Cf}~^:?*[\\]/u, rule) ??
      (v.includes('..') || v.startsWith('-') ? `${rule}: no ".." and no leading "-"` : undefined)
    );
  },
);

// ---- numbers -----------------------------------------------------------------------------------------------

/** Kubernetes int32 fields (probe timings, backoffLimit, history limits). */
export const INT32_MAX = 2147483647;
/** Node's timers: a longer delay is taken as 1 ms (TimeoutOverflowWarning), so a huge timeout would fire at once. */
export const TIMER_MAX_MS = 2147483647;

/** Whole seconds for a Kubernetes int32 field. */
export const int32 = (min: number) =>
  z
    .number()
    .int()
    .min(min, min === 0 ? 'must not be negative' : `must be at least ${min}`)
    .max(INT32_MAX, `must be at most ${INT32_MAX} (a Kubernetes int32)`);

/** A duration or count this program waits on with a timer: within Node's timer range once converted to ms. */
export const timerDuration = (unit: 'ms' | 's' | 'min', min: number, integer = true) => {
  const perMs = { ms: 1, s: 1000, min: 60_000 }[unit];
  const max = Math.floor(TIMER_MAX_MS / perMs);
  const n = integer ? z.number().int() : z.number();
  // The lower bound keeps zod's own message ("Too small: expected number to be >=0.05"), which tests and users know.
  return n
    .min(min)
    .max(max, `must be at most ${max} ${unit} (${Math.floor(TIMER_MAX_MS / 86_400_000)} days, the longest timer Node.js runs)`);
};

/** The kind registered for a schema, looking through default/optional/prefault wrappers. */
export function kindOf(schema: z.ZodType): ValueKind | undefined {
  let s: any = schema;
  for (;;) {
    const k = VALUE_KINDS.get(s);
    if (k) return k;
    const def = s?._zod?.def;
    if (def && ['default', 'optional', 'prefault', 'nullable', 'readonly'].includes(def.type)) s = def.innerType;
    else return undefined;
  }
}
