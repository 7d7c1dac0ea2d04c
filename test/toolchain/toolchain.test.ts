import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ROOT } from '../support/roomler';

// The toolchain as a fresh machine meets it: an empty cache, a busy CPU, a damaged cache, the MongoDB tools from a
// URL, and the prerequisites listed before anything is built. mongo-tools is the piece cheap enough to build cold
// many times; the Go pieces are checked warm (their check is the same code path every run takes before use).

const TOOLCHAIN = join(ROOT, 'hack', 'toolchain');
const MIRROR = join(ROOT, '..', 'shared', 'tools', 'mongo-tools');
const tmp = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}
/** A toolchain script with its own cache directory, asynchronously (several at once share the busy CPU). */
function piece(script: string, env: Record<string, string>, args: string[] = []): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn('bash', [join(TOOLCHAIN, script), ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
const binOf = (r: Result) => r.stdout.trim().split('\n').pop()!;
const version = (bin: string, tool: string) => spawnSync(join(bin, tool), ['--version'], { encoding: 'utf8' }).stdout;

/** CPU time (jiffies) of the whole machine, busy and idle, from /proc/stat. */
function cpuTimes(): { busy: number; total: number } {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const n = fields.map(Number);
  const idle = n[3] + n[4]; // idle + iowait
  const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}
/** CPU time (jiffies) a process has used. */
const cpuOf = (pid: number) => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
};

/**
 * Every core busy while `body` runs: the condition under which the SIGPIPE race failed half the cold runs. What the
 * rest of the machine does counts (the other test files of a full run keep the cores busy); busy-loop burners fill
 * whatever it leaves idle, re-measured twice a second. Returns the body's result and how busy the cores were.
 */
async function withBusyCpu<T>(body: () => Promise<T>): Promise<{ result: T; busy: number }> {
  const cores = availableParallelism();
  const burners: ChildProcess[] = [];
  let last = cpuTimes();
  let burnt = 0;
  const first = last;
  const burnerTime = () => burners.reduce((a, b) => a + cpuOf(b.pid!), 0);
  const adjust = () => {
    const now = cpuTimes();
    const spent = burnerTime();
    // Cores the rest of the machine kept busy since the last look (the burners' own time left out).
    const others = (now.busy - last.busy - (spent - burnt)) / Math.max(1, (now.total - last.total) / cores);
    [last, burnt] = [now, spent];
    // A burner per core left idle (a core busy 60 % of the time counts as busy: the burners give way to tests).
    const want = Math.max(0, Math.min(cores, Math.round(cores - others - 0.1)));
    while (burners.length < want) burners.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
    while (burners.length > want) burners.pop()!.kill('SIGKILL');
  };
  adjust();
  const timer = setInterval(adjust, 500);
  try {
    const result = await body();
    const end = cpuTimes();
    return { result, busy: (end.busy - first.busy) / Math.max(1, end.total - first.total) };
  } finally {
    clearInterval(timer);
    for (const b of burners) b.kill('SIGKILL');
  }
}

describe('a cold cache on a busy machine', () => {
  it('unpacks and checks the MongoDB tools 20 times out of 20, each into a fresh cache', async () => {
    const { result: runs, busy } = await withBusyCpu(async () => {
      const results: Result[] = [];
      // Four at a time: 20 cold builds in about the time of five.
      for (let i = 0; i < 20; i += 4)
        results.push(...(await Promise.all([0, 1, 2, 3].map(() => piece('mongo-tools.sh', { ROOMLER_CACHE: tmp('roomler-cold-') })))));
      return results;
    });
    const failed = runs.filter((r) => r.status !== 0).map((r) => r.stderr.trim());
    expect(failed).toEqual([]);
    expect(busy, 'the cores were busy while the builds ran').toBeGreaterThan(0.7);
    for (const r of runs) {
      expect(version(binOf(r), 'mongodump')).toContain('version: 100.18.0');
      rmSync(join(binOf(r), '..', '..'), { recursive: true, force: true });
    }
  }, 180_000);

  it('checks every cached Go and Python piece before use, under load, the same way every time', async () => {
    // Warm already (npm test builds them first); this is the check each test file runs before using one.
    const { result: results, busy } = await withBusyCpu(() =>
      Promise.all(['lab.sh', 'ferretdb.sh', 'kube-score.sh', 'checkov.sh'].flatMap((s) => [piece(s, {}), piece(s, {})])),
    );
    expect(results.filter((r) => r.status !== 0).map((r) => r.stderr)).toEqual([]);
    expect(busy, 'the cores were busy while the checks ran').toBeGreaterThan(0.7);
    // Nothing was rebuilt: a check that failed under load would have said "damaged" and started a build.
    expect(results.map((r) => r.stderr).join('')).not.toMatch(/damaged|building/);
  }, 120_000);
});

describe('a damaged cache is rebuilt, never used', () => {
  const cache = tmp('roomler-damaged-');
  let bin = '';
  beforeAll(async () => {
    bin = binOf(await piece('mongo-tools.sh', { ROOMLER_CACHE: cache }));
  });
  afterAll(() => rmSync(cache, { recursive: true, force: true }));

  const damage: [string, () => void][] = [
    ['a truncated binary', () => truncateSync(join(bin, 'mongodump'), 4096)],
    ['a deleted binary', () => rmSync(join(bin, 'mongorestore'))],
    ['a file added after the build', () => writeFileSync(join(bin, 'mongodump.orig'), 'x')],
    ['a build without its manifest (interrupted)', () => rmSync(join(bin, '..', '.complete'))],
    [
      'a binary replaced by one of another version',
      () => {
        writeFileSync(join(bin, 'mongodump'), '#!/bin/sh\necho "mongodump version: 100.9.0"\n');
        // The manifest updated too, as a careless hand would: only the version check can tell.
        const sums = readFileSync(join(bin, '..', '.complete'), 'utf8').replace(
          /^\w+(?=\s+\.\/bin\/mongodump$)/m,
          createHash('sha256')
            .update(readFileSync(join(bin, 'mongodump')))
            .digest('hex'),
        );
        writeFileSync(join(bin, '..', '.complete'), sums);
      },
    ],
  ];
  it.each(damage)('%s', async (_what, breakIt) => {
    breakIt();
    const r = await piece('mongo-tools.sh', { ROOMLER_CACHE: cache });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/the cached build in .* is damaged \(.+\): rebuilding it/);
    expect(binOf(r)).toBe(bin);
    expect(version(bin, 'mongodump')).toContain('version: 100.18.0');
    expect(version(bin, 'mongorestore')).toContain('version: 100.18.0');
    expect(readdirSync(bin).sort()).toEqual(['mongodump', 'mongorestore']);
    // And the next use takes it as it is.
    const again = await piece('mongo-tools.sh', { ROOMLER_CACHE: cache });
    expect(again.stderr).toBe('');
  });
});

describe('the MongoDB tools from a URL (MONGO_TOOLS_SRC + MONGO_TOOLS_SHA256)', () => {
  let server: Server;
  let base = '';
  const served = tmp('roomler-served-');
  let sha = '';
  beforeAll(async () => {
    // MongoDB's release layout: <name>/bin/mongodump, not the mirror's flat tarball.
    const name = 'mongodb-database-tools-debian12-x86_64-100.18.0';
    const stage = tmp('roomler-stage-');
    mkdirSync(join(stage, name, 'bin'), { recursive: true });
    const flat = tmp('roomler-flat-');
    spawnSync('tar', ['-xzf', join(MIRROR, 'mongo-tools-100.18.0-linux-amd64.tar.gz'), '-C', flat]);
    for (const t of ['mongodump', 'mongorestore']) copyFileSync(join(flat, t), join(stage, name, 'bin', t));
    chmodSync(join(stage, name, 'bin', 'mongodump'), 0o755);
    chmodSync(join(stage, name, 'bin', 'mongorestore'), 0o755);
    writeFileSync(join(stage, name, 'LICENSE.md'), 'Apache-2.0\n');
    expect(spawnSync('tar', ['-czf', join(served, `${name}.tgz`), '-C', stage, name]).status).toBe(0);
    sha = createHash('sha256')
      .update(readFileSync(join(served, `${name}.tgz`)))
      .digest('hex');
    server = createServer((req, res) => {
      const file = join(served, (req.url ?? '/').slice(1));
      if (!existsSync(file)) res.writeHead(404).end();
      else res.writeHead(200, { 'content-type': 'application/gzip' }).end(readFileSync(file));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/${name}.tgz`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('downloads, checks the SHA-256 before unpacking, and caches the official layout', async () => {
    const cache = tmp('roomler-url-');
    const r = await piece('mongo-tools.sh', { ROOMLER_CACHE: cache, MONGO_TOOLS_SRC: base, MONGO_TOOLS_SHA256: sha });
    expect(r.stderr).toContain(`downloading ${base}`);
    expect(r.status).toBe(0);
    expect(readdirSync(binOf(r)).sort()).toEqual(['mongodump', 'mongorestore']);
    expect(version(binOf(r), 'mongorestore')).toContain('version: 100.18.0');
    rmSync(cache, { recursive: true, force: true });
  });

  it('refuses an archive whose SHA-256 differs, and caches nothing', async () => {
    const cache = tmp('roomler-url-');
    const wrong = sha.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    const r = await piece('mongo-tools.sh', { ROOMLER_CACHE: cache, MONGO_TOOLS_SRC: base, MONGO_TOOLS_SHA256: wrong });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`has SHA-256 ${sha}, not the expected MONGO_TOOLS_SHA256 ${wrong}; nothing was cached`);
    expect(readdirSync(cache).filter((f) => !f.startsWith('.'))).toEqual([]);
    rmSync(cache, { recursive: true, force: true });
  });

  it('refuses a URL without a checksum before downloading anything', async () => {
    const cache = tmp('roomler-url-');
    const r = await piece('mongo-tools.sh', { ROOMLER_CACHE: cache, MONGO_TOOLS_SRC: base });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('set MONGO_TOOLS_SHA256');
    expect(r.stderr).not.toContain('downloading');
    rmSync(cache, { recursive: true, force: true });
  });
});

describe('prerequisites, all at once, before any build', () => {
  it('lists every missing tool with its package, the MongoDB tools source and Go in one message, and builds nothing', () => {
    // A PATH with bash and node only, an empty cache and no MongoDB tools source: a machine with nothing installed.
    const bin = tmp('roomler-path-');
    for (const t of ['bash', 'env', 'dirname', 'find', 'sha256sum', 'cat', 'mkdir', 'df', 'awk', 'date', 'flock']) {
      const found = spawnSync('bash', ['-c', `command -v ${t}`], { encoding: 'utf8' }).stdout.trim();
      if (found) symlinkSync(found, join(bin, t));
    }
    symlinkSync(process.execPath, join(bin, 'node'));
    const cache = tmp('roomler-prereq-');
    const r = spawnSync('bash', [join(TOOLCHAIN, 'prereqs.sh')], {
      encoding: 'utf8',
      env: { PATH: bin, HOME: process.env.HOME, ROOMLER_CACHE: cache, MONGO_TOOLS_SRC: join(cache, 'no-such-mirror') },
    });
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^prerequisites: \d+ missing \(checked before any build; nothing was built\):$/);
    const tools = lines.find((l) => l.includes('host tools the tests drive'))!;
    // Programs outside sbin are missing from this PATH: each is named, and its package is in the one command.
    for (const [tool, pkg] of [
      ['rsync', 'rsync'],
      ['janus', 'janus'],
      ['etcd', 'etcd-server'],
      ['turnserver', 'coturn'],
      ['crontab', 'cron'],
      ['git', 'git'],
    ]) {
      expect(tools).toMatch(new RegExp(`\\b${tool}\\b.*-> apt-get install -y --no-install-recommends .*\\b${pkg}\\b`));
    }
    // The version is the highest any piece needs (hack/toolchain/*.sh --needs go-min:VERSION).
    expect(lines.some((l) => /Go \d+\.\d+\.\d+ or newer, to build .*: not found -> https:\/\/go\.dev\/dl/.test(l))).toBe(true);
    expect(
      lines.some(
        (l) =>
          l.includes(`${join(cache, 'no-such-mirror')} holds no mongo-tools-100.18.0-linux-amd64.tar.gz`) &&
          l.includes('MONGO_TOOLS_SHA256'),
      ),
    ).toBe(true);
    expect(readdirSync(cache)).toEqual([]);
  });

  it('passes on this machine, and asks nothing of the pieces already built', () => {
    const r = spawnSync('bash', [join(TOOLCHAIN, 'prereqs.sh')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const s of ['lab.sh', 'ferretdb.sh', 'kube-score.sh', 'checkov.sh', 'mongo-tools.sh', 'kustomize.sh']) {
      expect(spawnSync('bash', [join(TOOLCHAIN, s), '--needs'], { encoding: 'utf8' }).stdout).toBe('');
    }
  });
});

describe('no pipeline fails because its reader stopped early', () => {
  it('no script under hack/ or .ci/ pipes a program into a reader that can stop before the writer is done', () => {
    const scripts = spawnSync('git', ['ls-files', '.ci', 'hack', 'lib/scripts', 'bin'], { cwd: ROOT, encoding: 'utf8' })
      .stdout.trim()
      .split('\n');
    const offenders: string[] = [];
    for (const file of scripts) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      text.split('\n').forEach((line, i) => {
        if (/\|\s*(grep\s+(-\w*[qm]|--quiet|--max-count)|head\b)/.test(line) && !/^\s*(#|\/\/|\/\*|\*)/.test(line))
          offenders.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });
});
