import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { TestProject } from 'vitest/node';

import { stopPool } from './lab-pool';

// Once per `vitest run` of the full tier: a directory for the run (the toolchain pieces checked once, the lab pool of
// test/support/lab-pool.ts), given to every test file, and removed with every lab in it at the end. The labs' daemons
// outlive any one test file by design, so a small guard process stops them if this run is killed before its teardown.

const GUARD = `
const { execFileSync } = require('node:child_process');
const [run, parent, script] = process.argv.slice(1);
const watch = setInterval(() => {
  try { process.kill(Number(parent), 0); } catch {
    clearInterval(watch);
    try { execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', script, run], { stdio: 'ignore', timeout: 60000 }); } catch {}
  }
}, 2000);`;

const STOP = `require('./test/support/lab-pool').stopPool(process.argv[1]).finally(() => require('node:fs').rmSync(process.argv[1], { recursive: true, force: true }));`;

export default function setup(project: TestProject) {
  const run = mkdtempSync(join(tmpdir(), 'roomler-test-run-'));
  project.provide('runDir', run);
  const root = join(__dirname, '..', '..');
  const guard = spawn(process.execPath, ['-e', GUARD, run, String(process.pid), STOP], { cwd: root, detached: true, stdio: 'ignore' });
  guard.unref();
  return async () => {
    guard.kill();
    await stopPool(run);
    rmSync(run, { recursive: true, force: true });
  };
}
