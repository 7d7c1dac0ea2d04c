// CronJob schedules as the Kubernetes API server checks them (v1.28 pkg/apis/batch/validation): robfig/cron v3's
// ParseStandard, then no TZ in the schedule on create. The rules and messages below are ParseStandard's
// (github.com/robfig/cron/v3 v3.0.1 parser.go), so an error here is the one `kubectl apply` would print.

interface Bounds {
  readonly min: number;
  readonly max: number;
  readonly names?: Readonly<Record<string, number>>;
}

const FIELDS: readonly Bounds[] = [
  { min: 0, max: 59 }, // minute
  { min: 0, max: 23 }, // hour
  { min: 1, max: 31 }, // day of month
  { min: 1, max: 12, names: { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 } },
  { min: 0, max: 6, names: { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 } }, // day of week: 7 is not Sunday
];

/** Go's unicode.IsSpace, which strings.Fields splits on. */
const GO_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u;
const goFields = (s: string) => s.split(GO_SPACE).filter((f) => f !== '');

const INT64_MAX = 9223372036854775807n;

/** strconv.Atoi: an optional sign and decimal digits, within int64. */
function atoi(s: string): { value?: bigint; error?: string } {
  const m = /^([+-]?)([0-9]+)$/.exec(s);
  if (!m) return { error: `strconv.Atoi: parsing ${goQuote(s)}: invalid syntax` };
  const v = BigInt(m[2]) * (m[1] === '-' ? -1n : 1n);
  if (v > INT64_MAX || v < -INT64_MAX - 1n) return { error: `strconv.Atoi: parsing ${goQuote(s)}: value out of range` };
  return { value: v };
}

/** Go's %q of a string, for the ASCII text schedules are made of (other characters as \u escapes). */
function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (c >= 0x20 && c < 0x7f) out += ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch; // printable non-ASCII: Go prints it as it is
  }
  return `${out}"`;
}

function mustParseInt(expr: string): { value?: bigint; error?: string } {
  const n = atoi(expr);
  if (n.error) return { error: `failed to parse int from ${expr}: ${n.error}` };
  if (n.value! < 0n) return { error: `negative number (${n.value}) not allowed: ${expr}` };
  return n;
}

function parseIntOrName(expr: string, names?: Readonly<Record<string, number>>): { value?: bigint; error?: string } {
  const named = names?.[expr.toLowerCase()];
  return named !== undefined && Object.hasOwn(names!, expr.toLowerCase()) ? { value: BigInt(named) } : mustParseInt(expr);
}

function rangeProblem(expr: string, r: Bounds): string | undefined {
  const rangeAndStep = expr.split('/');
  const lowAndHigh = rangeAndStep[0].split('-');
  let start: bigint;
  let end: bigint;
  let step = 1n;
  if (lowAndHigh[0] === '*' || lowAndHigh[0] === '?') {
    [start, end] = [BigInt(r.min), BigInt(r.max)];
  } else {
    const low = parseIntOrName(lowAndHigh[0], r.names);
    if (low.error) return low.error;
    start = low.value!;
    if (lowAndHigh.length === 1) end = start;
    else if (lowAndHigh.length === 2) {
      const high = parseIntOrName(lowAndHigh[1], r.names);
      if (high.error) return high.error;
      end = high.value!;
    } else return `too many hyphens: ${expr}`;
  }
  if (rangeAndStep.length === 2) {
    const s = mustParseInt(rangeAndStep[1]);
    if (s.error) return s.error;
    step = s.value!;
    if (lowAndHigh.length === 1) end = BigInt(r.max);
  } else if (rangeAndStep.length > 2) return `too many slashes: ${expr}`;
  if (start < r.min) return `beginning of range (${start}) below minimum (${r.min}): ${expr}`;
  if (end > r.max) return `end of range (${end}) above maximum (${r.max}): ${expr}`;
  if (start > end) return `beginning of range (${start}) beyond end of range (${end}): ${expr}`;
  if (step === 0n) return `step of range should be a positive number: ${expr}`;
  return undefined;
}

const DESCRIPTORS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);
const UNITS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1000n,
  µs: 1000n,
  μs: 1000n,
  ms: 1000000n,
  s: 1000000000n,
  m: 60000000000n,
  h: 3600000000000n,
};

/** time.ParseDuration's grammar and int64 range; the message on failure. */
function durationProblem(s: string): string | undefined {
  const bad = `time: invalid duration ${goQuote(s)}`;
  let rest = s.replace(/^[+-]/, '');
  if (rest === '0') return undefined;
  if (rest === '') return bad;
  let total = 0n;
  while (rest !== '') {
    const m = /^([0-9]*)(?:\.([0-9]*))?/.exec(rest)!;
    if (m[0] === '' || m[0] === '.') return bad;
    rest = rest.slice(m[0].length);
    const unit = /^[^0-9.]+/.exec(rest)?.[0];
    if (!unit) return `time: missing unit in duration ${goQuote(s)}`;
    const scale = UNITS[unit];
    if (scale === undefined) return `time: unknown unit ${goQuote(unit)} in duration ${goQuote(s)}`;
    rest = rest.slice(unit.length);
    const whole = BigInt(m[1] || '0');
    if (whole > (1n << 63n) / scale) return bad;
    let ns = whole * scale;
    if (m[2]) ns += (BigInt(m[2].slice(0, 30)) * scale) / 10n ** BigInt(Math.min(m[2].length, 30));
    total += ns;
    if (total > 1n << 63n) return bad;
  }
  return total > INT64_MAX && !s.startsWith('-') ? bad : undefined;
}

/** Whether Go's time.LoadLocation finds a zone: "" and "UTC" always, "Local", or an IANA name (exact case). */
export function knownTimeZone(name: string): boolean {
  if (name === '' || name === 'UTC' || name === 'Local') return true;
  return (Intl as any).supportedValuesOf('timeZone').includes(name) || ['Etc/UTC', 'Etc/GMT', 'GMT'].includes(name);
}

/**
 * robfig/cron v3's ParseStandard: undefined when it accepts `spec`, else its error message. Five fields (minute
 * hour day-of-month month day-of-week, split on any Unicode space), each a comma list of `*`, `?`, a number or a
 * name (jan-dec, sun-sat, any case), a range `a-b`, and `/step`; or a descriptor (@yearly … @hourly, `@every
 * <duration>`); optionally after a `TZ=<zone> ` or `CRON_TZ=<zone> ` prefix.
 */
export function parseStandard(schedule: string): string | undefined {
  if (schedule.length === 0) return 'empty spec string';
  let spec = schedule;
  if (spec.startsWith('TZ=') || spec.startsWith('CRON_TZ=')) {
    const i = spec.indexOf(' ');
    // ParseStandard slices spec[eq+1:i] with i = -1 and panics; the API server answers with an internal error.
    if (i < 0) return `runtime error: slice bounds out of range [:-1]`;
    const zone = spec.slice(spec.indexOf('=') + 1, i);
    if (!knownTimeZone(zone)) return `provided bad location ${zone}: unknown time zone ${zone}`;
    spec = spec.slice(i).replace(/^[\s]+|[\s]+$/gu, '');
  }
  if (spec.startsWith('@')) {
    if (DESCRIPTORS.has(spec)) return undefined;
    if (spec.startsWith('@every ')) {
      const problem = durationProblem(spec.slice('@every '.length));
      return problem && `failed to parse duration ${spec}: ${problem}`;
    }
    return `unrecognized descriptor: ${spec}`;
  }
  const fields = goFields(spec);
  if (fields.length !== 5) return `expected exactly 5 fields, found ${fields.length}: [${fields.join(' ')}]`;
  for (const [n, field] of fields.entries()) {
    for (const expr of field.split(',').filter((x) => x !== '')) {
      const problem = rangeProblem(expr, FIELDS[n]);
      if (problem) return problem;
    }
  }
  return undefined;
}

/**
 * A CronJob's `spec.schedule` as the API server validates it on create: ParseStandard's rules, and no `TZ`
 * anywhere in it (the time zone belongs in `spec.timeZone`). Undefined when valid.
 */
export function cronJobScheduleProblem(schedule: string): string | undefined {
  const parsed = parseStandard(schedule);
  if (parsed) return parsed;
  if (schedule.includes('TZ')) return 'cannot use TZ or CRON_TZ in schedule, use timeZone field instead';
  return undefined;
}
