import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { run } from '../../hack/lib/process/run';

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
    const r = await run('bash', ['-c', 'sleep 30 & echo $! ; wait'], { timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(Date.now() - t).toBeLessThan(10_000);
    const grandchild = Number(r.stdout.trim());
    expect(grandchild).toBeGreaterThan(0);
    // Gone, or a zombie waiting for init to reap it: either way it no longer runs.
    let state = 'gone';
    try {
      state = readFileSync(`/proc/${grandchild}/stat`, 'utf8').split(') ')[1][0];
    } catch {
      /* gone */
    }
    expect(['gone', 'Z']).toContain(state);
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
