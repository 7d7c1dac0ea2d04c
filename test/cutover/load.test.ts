import { describe, expect, it } from 'vitest';

import { useBackends } from './support/hooks';
import { Lab, startLoad, withLab } from './support/lab';

// The riskiest minute of the migration, measured: continuous load through a real nginx while apply rewrites
// and reloads it.

const backends = useBackends();

describe('npm run cutover -- apply under load (real nginx, loopback)', () => {
  it('drops no request, completes in-flight slow requests and keeps open WebSockets on the old backends', async () => {
    await withLab(backends(), {}, async (lab) => {
      // Calls in progress: WebSockets on every Janus WebSocket location, and slow requests held by the old app.
      const calls = await Promise.all(['/', '/janus_ws', '/janus_admin'].map((p) => lab.ws(p)));
      const slow = [1, 2, 3].map((n) => lab.get('roomler.live', `/slow/${n}`));
      await backends().heldBy('old:app', 3);

      const load = await startLoad(lab);
      await load.until(1500);
      const before = load.requests();
      const apply = await lab.cli(['apply']);
      load.mark();
      const during = load.requests() - before;
      await load.until(Math.max(10_000, load.requests() + 1500));
      const stats = await load.stop();

      expect(apply.code, apply.stderr).toBe(0);
      // Held through the reload, answered afterwards by the old backend through the old worker.
      backends().release();
      for (const r of await Promise.all(slow)) expect(r).toEqual({ status: 200, backend: 'old:app' });
      // Open WebSockets stay connected, still on the old backends (Janus sessions are stateful: docs/reference-topology.md).
      expect(calls.every((c) => c.open)).toBe(true);
      expect(await calls[0].say('after')).toBe('old:janus-root:after');
      expect(await calls[1].say('after')).toBe('old:janus-ws:after');
      expect(await calls[2].say('after')).toBe('old:admin-ws:after');
      for (const c of calls) c.close();

      process.stdout.write(
        `cutover under load: ${stats.requests} connection-per-request requests (${during} during apply), ${stats.failed} failed ${JSON.stringify(stats.failures)}; ` +
          `by backend ${JSON.stringify(stats.byBackend)}; keep-alive clients: ${stats.keepAlive.requests} requests, ${stats.keepAlive.resets} resets, ${stats.keepAlive.other} other errors\n`,
      );
      expect(stats.requests).toBeGreaterThanOrEqual(10_000);
      expect(stats.failed).toBe(0);
      expect(stats.afterMark).toBeGreaterThan(1000);
      expect(stats.oldAfterMark).toBe(0);
      const old = Object.entries(stats.byBackend).filter(([b]) => b.startsWith('old:'));
      const fresh = Object.entries(stats.byBackend).filter(([b]) => b.startsWith('new:'));
      expect(old.length && fresh.length).toBeTruthy();
      expect(stats.keepAlive.requests).toBeGreaterThan(0);
      expect(await lab.serving()).toEqual(Lab.all('new'));
    });
    // 10,000+ real requests through nginx: slower when other test files share the two cores.
  }, 240_000);
});
