import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

import { describe, expect, it } from 'vitest';

import { FAST } from '../tiers';

// The fast tier stays pure: none of its files (nor the helpers they import) reaches a daemon, the lab cluster, the
// network or a bin/roomler process, and every test file belongs to exactly one tier.
const ROOT = join(__dirname, '..', '..');
const TEST = join(ROOT, 'test');

const testFiles = (dir: string): string[] =>
  readdirSync(dir).flatMap((n) => {
    if (statSync(join(dir, n)).isDirectory()) return testFiles(join(dir, n));
    return n.endsWith('.test.ts') ? [relative(ROOT, join(dir, n))] : [];
  });

/** The local modules a file imports, and theirs, as paths from the root. */
function imports(file: string, seen = new Set<string>()): Set<string> {
  for (const [, spec] of readFileSync(join(ROOT, file), 'utf8').matchAll(/^import .* from '(\.[^']+)';$/gm)) {
    const base = join(ROOT, file, '..', spec);
    const target = ['', '.ts', '/index.ts'].map((ext) => `${base}${ext}`).find((p) => existsSync(p) && statSync(p).isFile());
    if (!target || seen.has(relative(ROOT, target))) continue;
    seen.add(relative(ROOT, target));
    if (target.startsWith(TEST)) imports(relative(ROOT, target), seen);
  }
  return seen;
}

/** Test helpers that start daemons, the lab cluster or bin/roomler, or reach the network. */
const IMPURE = new RegExp(
  [
    '^test/support/(cluster|cli|git-project|mongo|kubectl-spy|argv-watch)',
    '^test/rsync/(sshd|world)',
    '^test/cutover/support/(lab|hooks|backends|load)',
    '^test/(janus|migration/support)/',
    '^hack/lib/(lab|process)/',
  ].join('|'),
);

describe('test tiers', () => {
  it('every fast file exists, and every test file is in one tier', () => {
    const all = testFiles(TEST);
    for (const f of FAST) expect(all, f).toContain(f);
    expect(new Set(FAST).size).toBe(FAST.length);
    expect(all.length).toBeGreaterThan(FAST.length);
  });

  it.each(FAST)('%s imports no daemon, cluster, network or process helper', (file) => {
    expect([...imports(file)].filter((m) => IMPURE.test(m))).toEqual([]);
  });
});
