import { Lab, startBackends, startLoad } from '../test/cutover/support/lab';

// The cutover on the test lab (real nginx, loopback): apply and rollback from start to verified, against the
// bare reload it wraps (`nginx -s reload` until the new workers have taken over), and requests lost under load.
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const verifiedMs = (stdout: string) => Number(/verified in (\d+) ms/.exec(stdout)?.[1]);

export async function bench(): Promise<{ name: string; value: string; target?: string }[]> {
  const backends = await startBackends();
  const lab = await Lab.create(backends);
  try {
    const nginx = lab.control();
    const apply: number[] = [];
    const rollback: number[] = [];
    const wall: number[] = [];
    const reload: number[] = [];
    for (let run = 0; run < 6; run++) {
      const t = performance.now();
      const a = await lab.cli(['apply']);
      wall.push(performance.now() - t);
      const b = await lab.cli(['rollback']);
      if (a.code !== 0 || b.code !== 0) throw new Error(`cutover failed:\n${a.stderr}${b.stderr}`);
      const r = performance.now();
      const before = await nginx.workers();
      await nginx.reload();
      if (!(await nginx.awaitReload(before))) throw new Error('bare reload did not take effect');
      const bare = performance.now() - r;
      if (run === 0) continue; // warm-up
      apply.push(verifiedMs(a.stdout));
      rollback.push(verifiedMs(b.stdout));
      reload.push(bare);
    }
    // Under load: connection-per-request clients must lose nothing; keep-alive resets are counted apart.
    const load = await startLoad(lab);
    await load.until(1500);
    const during = await lab.cli(['apply']);
    load.mark();
    await load.until(Math.max(10_000, load.requests() + 1500));
    const stats = await load.stop();
    if (during.code !== 0) throw new Error(`apply under load failed:\n${during.stderr}`);
    const ms = (x: number) => `${Math.round(x)} ms`;
    return [
      {
        name: 'cutover apply, start to verified (5 routes, 7 verification requests) / rollback',
        value: `${ms(median(apply))} / ${ms(median(rollback))}`,
      },
      { name: 'cutover apply wall time, including Node start', value: ms(median(wall)) },
      {
        name: 'bare nginx -s reload until new workers took over / ratio apply to it',
        value: `${ms(median(reload))} / ${(median(apply) / median(reload)).toFixed(1)}`,
      },
      {
        name: 'requests failed during apply under load: connection-per-request / keep-alive resets',
        value: `${stats.failed} of ${stats.requests} / ${stats.keepAlive.resets} of ${stats.keepAlive.requests}`,
        target: '0 connection-per-request failures',
      },
    ];
  } finally {
    await lab.stop();
    await backends.stop();
  }
}
