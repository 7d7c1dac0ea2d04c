import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { parseStandard } from '../../lib/config/cron';
import { prng } from '../cutover/support/nginx-fuzz';

// lib/config/cron.ts against the real parser: github.com/robfig/cron/v3 v3.0.1's ParseStandard (what the API server
// runs on a CronJob's schedule), built from the Go module proxy into the toolchain cache, fed generated schedules.
const ROOT = join(__dirname, '..', '..');
const COUNT = 3000;

const NUMBERS = [
  '0',
  '1',
  '5',
  '6',
  '7',
  '12',
  '13',
  '23',
  '24',
  '31',
  '32',
  '59',
  '60',
  '007',
  '+5',
  '-1',
  '-0',
  '99999999999999999999',
  '3x',
  '',
];
const NAMES = ['jan', 'DEC', 'Feb', 'sun', 'MON', 'sat', 'thu', 'foo', 'j', 'sunday'];
const SPACES = [' ', ' ', ' ', '  ', '\t', '\n', '\u00a0', '\u2028', '\ufeff', '\u3000'];
const DURATIONS = ['5m', '1h30m', '1.5h', '.5s', '5.', '0', '-1h', '+2m', '5', '1x', '', '9999999999h', '1µs', '1μs', 'h', '.s', '1h-5m'];
const ZONES = ['UTC', '', 'Bad/Zone', 'Europe/Berlin', 'utc'];

function atom(r: ReturnType<typeof prng>): string {
  switch (r.int(6)) {
    case 0:
      return r.pick(['*', '?']);
    case 1:
      return r.pick(NAMES);
    default:
      return r.pick(NUMBERS);
  }
}

function part(r: ReturnType<typeof prng>): string {
  let p = atom(r);
  if (r.chance(0.3)) p += `-${atom(r)}`;
  if (r.chance(0.05)) p += `-${atom(r)}`;
  if (r.chance(0.3)) p += `/${r.pick(NUMBERS)}`;
  if (r.chance(0.03)) p += `/${r.pick(NUMBERS)}`;
  return p;
}

const BOUNDS: [number, number, string[]][] = [
  [0, 59, []],
  [0, 23, []],
  [1, 31, []],
  [1, 12, ['jan', 'Feb', 'MAR', 'dec']],
  [0, 6, ['sun', 'Mon', 'FRI', 'sat']],
];

/** A schedule that is mostly right for each field, so acceptance is well covered; edges one past each bound. */
function plausible(r: ReturnType<typeof prng>): string {
  return BOUNDS.map(([min, max, names]) => {
    const value = () => (names.length && r.chance(0.3) ? r.pick(names) : String(min + r.int(max - min + 1 + (r.chance(0.1) ? 1 : 0))));
    const parts = Array.from({ length: 1 + (r.chance(0.2) ? r.int(3) : 0) }, () => {
      const kind = r.int(5);
      if (kind === 0) return r.pick(['*', '?']) + (r.chance(0.5) ? `/${1 + r.int(10)}` : '');
      if (kind === 1) return `${value()}-${value()}${r.chance(0.3) ? `/${r.int(6)}` : ''}`;
      return value();
    });
    return parts.join(',');
  }).join(' ');
}

function schedule(r: ReturnType<typeof prng>): string {
  if (r.chance(0.5)) return plausible(r);
  let prefix = '';
  if (r.chance(0.08)) prefix = `${r.pick(['TZ=', 'CRON_TZ='])}${r.pick(ZONES)}${r.chance(0.9) ? r.pick([' ', '  ']) : ''}`;
  if (r.chance(0.12))
    return `${prefix}${r.pick(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly', '@every ', '@every', '@Daily', '@daily ', '@foo'])}${r.chance(0.5) ? r.pick(DURATIONS) : ''}`;
  const count = r.chance(0.85) ? 5 : r.pick([0, 3, 4, 6, 7]);
  const fields = Array.from({ length: count }, () =>
    Array.from({ length: 1 + (r.chance(0.25) ? r.int(3) : 0) }, () => (r.chance(0.03) ? '' : part(r))).join(','),
  );
  const sep = () => (r.chance(0.9) ? ' ' : r.pick(SPACES));
  return `${prefix}${r.chance(0.05) ? sep() : ''}${fields.join(' ').replace(/ /g, sep)}${r.chance(0.05) ? sep() : ''}`;
}

let parser: string;
beforeAll(() => {
  parser = execFileSync('bash', [join(ROOT, 'hack/toolchain/robfig-cron.sh')], { encoding: 'utf8' }).trim();
}, 300_000);

describe('CronJob schedules: lib/config/cron.ts and robfig/cron v3 agree', () => {
  it(`on ${COUNT} generated schedules: the same verdict and the same message`, () => {
    const r = prng(42);
    const schedules = [...new Set(Array.from({ length: COUNT }, () => schedule(r)))];
    const answers = execFileSync(parser, {
      input: schedules.map((s) => JSON.stringify(s)).join('\n') + '\n',
      encoding: 'utf8',
      maxBuffer: 16 << 20,
    })
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { ok: boolean; error?: string });
    expect(answers).toHaveLength(schedules.length);
    const differ = schedules.flatMap((s, i) => {
      const ours = parseStandard(s);
      const theirs = answers[i].ok ? undefined : answers[i].error;
      return ours === theirs ? [] : [`${JSON.stringify(s)}: robfig ${JSON.stringify(theirs)}, ours ${JSON.stringify(ours)}`];
    });
    expect(differ.slice(0, 5).join('\n'), `${differ.length} of ${schedules.length} differ`).toBe('');
    const accepted = answers.filter((a) => a.ok).length;
    // Both verdicts are well represented.
    expect(accepted).toBeGreaterThan(schedules.length * 0.15);
    expect(schedules.length - accepted).toBeGreaterThan(schedules.length * 0.3);
    console.log(`cron: ${schedules.length} distinct schedules, ${accepted} accepted; every verdict and message as robfig/cron v3.0.1's`);
  }, 60_000);
});
