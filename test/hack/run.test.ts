import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { run } from '../../hack/lib/process/run';

/** 'gone', or the process state letter (Z = a zombie: no longer runs). */
const stateOf = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0];
  } catch {
    return 'gone';
  }
};

describe('hack/lib/run', () => {
  it('runs without a shell: metacharacters are plain arguments', async () => {
    const r = await run('printf', ['%s|', 'a b', '$(id)', ';rm']);
    expect(r.stdout).toBe('a b|$(id)|;rm|');
    expect(r.exitCode).toBe(0);
  });

  it('reports the exit code instead of throwing', async () => {
    const r = await run('bash', ['-c', 'echo oops >&2; exit 23']);
    expect(r).toMatchObject({ exitCode: 23, stderr: 'oops\n', timedOut: false });
  });

  it('a timeout kills the whole process group, grandchildren holding the pipes included', async () => {
    const t = Date.now();
    // 3 s: time enough for bash to start the grandchild and say its pid on a loaded machine (300 ms once was not).
    const r = await run('bash', ['-c', 'sleep 30 & echo $! ; wait'], { timeoutMs: 3000 });
    expect(r.timedOut).toBe(true);
    expect(Date.now() - t).toBeLessThan(10_000);
    const grandchild = Number(r.stdout.trim());
    expect(grandchild).toBeGreaterThan(0);
    // Gone, or a zombie waiting for init to reap it: either way it no longer runs.
    expect(['gone', 'Z']).toContain(stateOf(grandchild));
  });

  it('a child and its whole group die with the parent, even when the parent is killed with SIGKILL', async () => {
    // A Node process that starts `sh` (which starts `sleep`) through run(), with a timeout far away, and says
    // the grandchild's pid; then it is killed with no chance to clean up.
    const runTs = join(__dirname, '..', '..', 'hack', 'lib', 'process', 'run.ts');
    const script = `require(${JSON.stringify(runTs)}).start('sh', ['-c', 'sleep 300 & echo $!; wait'], { timeoutMs: 600000 }).child.stdout.on('data', (d) => process.stdout.write(d)); setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const sleeper = await new Promise<number>((res) => parent.stdout!.once('data', (d) => res(Number(String(d).trim()))));
    expect(stateOf(sleeper)).not.toBe('gone');
    parent.kill('SIGKILL');
    const deadline = Date.now() + 10_000;
    while (!['gone', 'Z'].includes(stateOf(sleeper)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(['gone', 'Z']).toContain(stateOf(sleeper));
  });

  it('feeds input on stdin', async () => {
    expect((await run('wc', ['-c'], { input: 'twelve bytes' })).stdout.trim()).toBe('12');
  });

  it('reports a program that does not exist', async () => {
    const r = await run('/nonexistent/tool', []);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/ENOENT/);
  });
});
