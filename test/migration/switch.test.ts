import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { run } from '../../hack/lib/process/run';
import { Lab } from '../cutover/support/lab';
import { cleanupDirs } from '../support/files';
import { stopServers, withDb } from '../support/mongo';
import { ROOMLER } from '../support/roomler';
import { byWindow, windows, World } from './support/world';

// The switch on its own (`migrate run --from switch --to switch`), in the world of support/world.ts without a
// cluster (the switch reaches mongodb-0 through kubectl exec only, which the stand-in runs locally): a kill -9 inside
// the write-free window, then going back after the switch (`migrate back`), each under the same traffic of reads and
// acknowledged writes through nginx.

let world: World;
beforeAll(async () => {
  world = await World.start();
  // The bulk copy is done: the new MongoDB holds what the old one holds (the test's own copy; migrate mongo's is
  // tested in test/mongo-backup/migrate.test.ts).
  await withDb({ uri: world.oldUri }, (d) => d.collection('writes').createIndex({ by: 1 }));
  await withDb({ uri: world.oldUri }, async (from) =>
    withDb(world.newDb, async (to) => {
      for (const c of await from.listCollections({}, { nameOnly: true }).toArray()) {
        const docs = await from.collection(c.name).find({}).toArray();
        if (docs.length) await to.collection(c.name).insertMany(docs);
        for (const ix of await from.collection(c.name).listIndexes().toArray()) {
          if (ix.name === '_id_') continue;
          const { key, v: _v, ns: _ns, ...options } = ix;
          await to.collection(c.name).createIndex(key, options);
        }
      }
    }),
  );
}, 180_000);
afterAll(async () => {
  await world?.stop();
  await stopServers();
  cleanupDirs();
});

const state = () => JSON.parse(readFileSync(join(world.dir, 'backups', 'migration', 'state.json'), 'utf8'));
/** `migrate status`, without blocking this process: the test's traffic runs here, and must not time out meanwhile. */
const status = async () => {
  const r = await run(ROOMLER, ['migrate', 'status'], { env: world.env(), timeoutMs: 60_000 });
  return { status: r.exitCode, stdout: r.stdout, stderr: r.stderr };
};
const storedIds = async (uri: string) =>
  new Set(
    await withDb({ uri }, async (d) =>
      (
        await d
          .collection<{ _id: number }>('writes')
          .find({}, { projection: { _id: 1 } })
          .toArray()
      ).map((x) => x._id),
    ),
  );

describe('the switch survives a kill -9 inside its window, and going back copies the new writes back', () => {
  it('a kill -9 inside the window: status says first that the old app is stopped and what the site answers; the next run resumes at once, without asking', async () => {
    const load = world.traffic();
    // Run 1, killed the moment the old app has stopped (inside the window: the site answers 503 with Retry-After).
    const first = world.migrate(['run', '--from', 'switch', '--to', 'switch', '--yes'], (line, child) => {
      if (line.startsWith('stopped container r00mler2')) process.kill(child.pid!, 'SIGKILL');
    });
    const r1 = await first.done;
    expect(r1.signal, r1.out).toBe('SIGKILL');
    expect(r1.out).toMatch(/write-free window opens at \S+: roomler\.live answers 503 with Retry-After 5/);
    expect(world.running('r00mler2')).toBe('false');
    expect((await world.request('roomler.live', '/')).status).toBe(503);

    const s = await status();
    expect(s.status, s.stderr).toBe(0);
    expect(s.stdout.split('\n')[0]).toMatch(
      /^THE SWITCH WAS INTERRUPTED: its write-free window opened at \S+ \(\d+\.\d s ago\); the old app r00mler2 has been stopped since \S+ \(\d+\.\d s ago\), so nothing takes writes; roomler\.live answers 503 with Retry-After \(the maintenance answer\)\. bin\/roomler migrate run resumes the switch at once, without asking\.$/,
    );

    // Run 2, without --yes and without a terminal: nothing to ask, the window is open already.
    const r2 = await world.migrate(['run', '--to', 'switch']).done;
    await load.stop();
    expect(r2.code, r2.out).toBe(0);
    expect(r2.out.split('\n')[0]).toMatch(/^THE SWITCH WAS INTERRUPTED: /);
    expect(r2.out).not.toMatch(/step switch will now/);
    expect(r2.out).toMatch(/^step switch: done in .*: switched; write-free window \d+\.\d s/m);
    expect(await world.lab.serving()).toEqual(Lab.all('new', { retired: true }));

    // The window is one, from run 1's opening to run 2's close; no acknowledged write lost; inside it every refused
    // request was a 503 with Retry-After; outside it nothing failed.
    const w = state().steps.switch.window;
    const closed = Date.parse(/write-free window closes at (\S+) /.exec(r2.out)![1]);
    const { inside, outside } = byWindow(load.outcomes, [Date.parse(w.openedAt), closed]);
    expect(outside.map((o) => `${o.what}: ${o.got}`)).toEqual([]);
    expect(inside.filter((o) => !/^503 Retry-After \d+$/.test(o.got ?? '')).map((o) => `${o.what}: ${o.got}`)).toEqual([]);
    const stored = await storedIds(world.newDb.uri);
    expect(load.acked.length).toBeGreaterThan(20);
    expect(load.acked.filter((n) => !stored.has(n))).toEqual([]);
    expect(state().steps.switch.status).toBe('done');
  }, 180_000);

  it('going back after the switch: refused while it would lose new writes (counted), then --reverse-copy copies them back and nginx is on the old stack again', async () => {
    const load = world.traffic();
    await new Promise((r) => setTimeout(r, 1500)); // the new app takes some writes
    const refused = await world.migrate(['back', '--yes']).done;
    expect(refused.code, refused.out).toBe(1);
    // The old app had to be started to compare (asked first; it serves nothing until nginx is restored).
    expect(refused.out).toMatch(/migrate back will start:\n {2}the old containers r00mler2 \(docker start\)/);
    expect(refused.out).toMatch(
      /going back now loses what the new MongoDB took since the switch at \S+: [1-9]\d* document\(s\) added, 0 updated, 0 deleted \(in writes\)\. Nothing was changed in nginx or either database/,
    );
    expect(await world.lab.serving()).toEqual(Lab.all('new', { retired: true }));

    const back = await world.migrate(['back', '--reverse-copy', '--yes']).done;
    await load.stop();
    expect(back.code, back.out).toBe(0);
    expect(world.running('r00mler2')).toBe('true');
    expect(back.out).toMatch(/^ {2}writes +\d+ [0-9a-f]{16} +\d+ [0-9a-f]{16} +\+[1-9]\d* ~0 -0$/m);
    expect(await world.lab.serving()).toEqual(Lab.all('old'));
    // Every write any app acknowledged is in the old MongoDB, which serves again.
    const stored = await storedIds(world.oldUri);
    expect(load.acked.filter((n) => !stored.has(n))).toEqual([]);
    // Refused requests only inside the window going back opened, each a 503 with Retry-After.
    const opened = windows(back.out);
    expect(opened).toHaveLength(1);
    const { inside, outside } = byWindow(load.outcomes, opened[0]);
    expect(outside.map((o) => `${o.what}: ${o.got}`)).toEqual([]);
    expect(inside.filter((o) => !/^503 Retry-After \d+$/.test(o.got ?? '')).map((o) => `${o.what}: ${o.got}`)).toEqual([]);
    // The day resumes at the switch.
    expect(state().steps.switch.outcome).toMatch(/^gone back at \S+: copied back /);
    expect((await status()).stdout).toMatch(/^ 7\. switch +failed +.* gone back at \S+: copied back [1-9]\d* document\(s\) added/m);
  }, 180_000);
});
