import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../lib/config';
import { cronJobScheduleProblem, parseStandard } from '../../lib/config/cron';
import { ConfigError } from '../../lib/config/load';
import { emptyDir } from '../support/files';

// robfig/cron v3.0.1's own parser_test.go cases (TestRange, TestField, TestParseScheduleErrors, TestParseSchedule,
// TestStandardSpecSchedule), as ParseStandard sees them: its range tests use made-up bounds (0-7, 1-3, 3-5), so each
// is placed in a standard field with the same outcome. Expected messages are the library's (substring, as there).
describe('parseStandard: robfig/cron v3 parser_test.go cases', () => {
  it.each([
    // TestRange (valid), in the minute field (0-59) or day of week (0-6)
    ['5 * * * *'],
    ['0 * * * *'],
    ['* * * * 6'],
    ['5-5 * * * *'],
    ['5-6 * * * *'],
    ['5-7 * * * *'],
    ['5-6/2 * * * *'],
    ['5-7/2 * * * *'],
    ['5-7/1 * * * *'],
    ['* * * * *'],
    ['* * * */2 *'],
    // TestField
    ['5,6 * * * *'],
    ['5,6,7 * * * *'],
    ['1,5-7/2,3 * * * *'],
    // TestParseSchedule / TestStandardSpecSchedule (standard parser only: five fields)
    ['CRON_TZ=UTC  5 * * * *'],
    ['@every 5m'],
    ['@midnight'],
    ['TZ=UTC  @midnight'],
    ['TZ=Asia/Tokyo @midnight'],
    ['@yearly'],
    ['@annually'],
    // Names, any case; ? as *
    ['0 3 ? JAN-mar Mon-FRI'],
  ])('%j is accepted', (schedule) => {
    expect(parseStandard(schedule)).toBeUndefined();
  });

  it.each([
    // TestRange (errors)
    ['5--5 * * * *', 'too many hyphens: 5--5'],
    ['* * * jan-x *', 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'],
    ['* * 2-x * *', 'failed to parse int from x'],
    ['*/-12 * * * *', 'negative number (-12) not allowed: -12'],
    ['*//2 * * * *', 'too many slashes: *//2'],
    ['* * 0 * *', 'beginning of range (0) below minimum (1): 0'],
    ['* * * * 7', 'end of range (7) above maximum (6): 7'],
    ['* * * * 5-3', 'beginning of range (5) beyond end of range (3): 5-3'],
    ['*/0 * * * *', 'step of range should be a positive number: */0'],
    // TestParseScheduleErrors / TestStandardSpecSchedule
    ['5 j * * *', 'failed to parse int from j'],
    ['@every Xm', 'failed to parse duration @every Xm'],
    ['@unrecognized', 'unrecognized descriptor: @unrecognized'],
    ['* * * *', 'expected exactly 5 fields, found 4: [* * * *]'],
    ['', 'empty spec string'],
  ])('%j is refused: %s', (schedule, message) => {
    expect(parseStandard(schedule)).toContain(message);
  });
});

describe('CronJob schedules as the API server validates them on create', () => {
  it('refuses TZ and CRON_TZ even where ParseStandard accepts them (use timeZone), and day-of-week 7', () => {
    expect(cronJobScheduleProblem('CRON_TZ=UTC 0 3 * * *')).toBe('cannot use TZ or CRON_TZ in schedule, use timeZone field instead');
    expect(cronJobScheduleProblem('0 3 * * 7')).toBe('end of range (7) above maximum (6): 7');
    expect(cronJobScheduleProblem('0 3 * * 0')).toBeUndefined();
  });

  it('roomler.yaml: a backup schedule the API server would refuse is a config error naming file, line and field', () => {
    const dir = emptyDir();
    writeFileSync(join(dir, 'roomler.yaml'), 'backups:\n  schedule: "0 3 * * 7"\n  verifySchedule: "@daily"\n');
    expect(() => loadConfig({ cwd: dir, env: {} })).toThrow(ConfigError);
    try {
      loadConfig({ cwd: dir, env: {} });
    } catch (e) {
      expect((e as ConfigError).problems).toEqual([
        `${join(dir, 'roomler.yaml')}:2:13: backups.schedule: must be a CronJob schedule such as "0 3 * * *" (the API server's cron parser says: end of range (7) above maximum (6): 7)`,
      ]);
    }
  });
});
