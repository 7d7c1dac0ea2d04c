import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';

import { command } from '../hack/lib/cli/args';
import { runStandalone } from '../hack/lib/cli/main';
import * as cutover from './cutover';
import * as mongo from './mongo';
import * as rsync from './rsync';
import * as startup from './startup';

// `npm run bench [-- --skip-tests]`: every figure is the median of several runs after a warm-up, and every ratio
// is measured side by side in this run, the peer's figures (`kustomize build`, hack/toolchain/kustomize.sh) beside
// ours. The whole table, with the date and the machine, goes to stdout and to BENCHMARKS.md.
const ROOT = join(__dirname, '..');
let tmp = '';
let emptyProject = '';

export interface Row {
  readonly name: string;
  /** Ours. */
  readonly value: string;
  /** The peer's figure for the same measurement, where there is one. */
  readonly peer?: string;
  /** Ours over the peer's. */
  readonly ratio?: string;
  readonly target?: string;
}
const rows: Row[] = [];
const failed: string[] = [];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const s = (ms: number) => `${(ms / 1000).toFixed(3)} s`;

/** Runs a command `runs` times after one warm-up; returns median wall ms and max peak RSS (KB) if reported. */
function measure(cmd: string, args: string[], env: Record<string, string>, runs = 5): { ms: number; rssKb?: number } {
  const times: number[] = [];
  let rssKb: number | undefined;
  for (let n = 0; n <= runs; n++) {
    const t = performance.now();
    const r = spawnSync(cmd, args, { cwd: ROOT, env: { ...process.env, CDK8S_CHECK_UPGRADE: 'false', ...env }, encoding: 'utf8' });
    const ms = performance.now() - t;
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr}`);
    const rss = /BENCH_MAX_RSS_KB (\d+)/.exec(r.stderr ?? '');
    if (rss) rssKb = Math.max(rssKb ?? 0, Number(rss[1]));
    if (n > 0) times.push(ms);
  }
  return { ms: median(times), rssKb };
}

function instancesConfig(count: number): string {
  const file = join(tmp, `instances-${count}.yaml`);
  const entries = Array.from({ length: count }, (_, n) => {
    const p = (k: number) => 30000 + n * 5 + k;
    return `  - name: r${n}\n    dataNode: node-${n}\n    app: { nodePort: ${p(0)} }\n    janus: { nodePorts: { http: ${p(1)}, websocket: ${p(2)} } }\n`;
  });
  writeFileSync(file, `instances:\n${entries.join('')}`);
  return file;
}

/** The peer, built once into the toolchain cache (~1.5 min cold): its path and version. */
function peer(): { kustomize: string; version: string } {
  const built = spawnSync('bash', [join(ROOT, 'hack', 'toolchain', 'kustomize.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (built.status !== 0) throw new Error('hack/toolchain/kustomize.sh failed: see above');
  const kustomize = built.stdout.trim();
  return { kustomize, version: spawnSync(kustomize, ['version'], { encoding: 'utf8' }).stdout.trim() };
}

/** The environment of a synth into tmp/<name> from the empty project. */
const out = (name: string) => ({ ROOMLER_PROJECT_DIR: emptyProject, ROOMLER_OUTDIR: join(tmp, name) });

/** 1. The project's app command (cdk8s.yaml) against the stock cdk8s TypeScript app command. */
function appCommandRows(): void {
  const fast = measure('node', ['lib/bundle-run.cjs', 'main.ts'], out('fast'));
  const tsx = measure('node', ['--require', 'tsx/cjs', 'main.ts'], out('tsx'));
  const tsNode = measure('npx', ['ts-node', 'main.ts'], out('ts-node'), 3);
  for (const d of ['tsx', 'ts-node']) {
    if (readFileSync(join(tmp, 'fast', 'roomler.k8s.yaml'), 'utf8') !== readFileSync(join(tmp, d, 'roomler.k8s.yaml'), 'utf8')) {
      throw new Error(`${d} produced different output`);
    }
  }
  rows.push({ name: 'synth, default config: project command (bundle-run)', value: s(fast.ms), target: '<= 0.6 s' });
  rows.push({ name: 'synth, default config: node --require tsx/cjs main.ts', value: s(tsx.ms) });
  rows.push({ name: 'synth, default config: npx ts-node main.ts (type-checking)', value: s(tsNode.ms) });
  rows.push({ name: 'ratio project command / ts-node', value: (fast.ms / tsNode.ms).toFixed(3), target: '<= 0.25' });
}

/** 2. Scaling with the number of instances. */
function scalingRows(): void {
  for (const count of [1, 10, 50]) {
    const r = measure(
      'node',
      ['--require', './bench/rss.cjs', 'lib/bundle-run.cjs', 'main.ts'],
      { ...out(`n${count}`), ROOMLER_CONFIG: instancesConfig(count) },
      3,
    );
    rows.push({
      name: `synth, ${count} instance(s): time / peak RSS`,
      value: `${s(r.ms)} / ${Math.round((r.rssKb ?? 0) / 1024)} MB`,
      target: count === 50 ? '<= 3 s, <= 400 MB' : undefined,
    });
  }
}

/** 3. Validation cost on the default output. */
function validationRow(): void {
  const v = spawnSync('node', ['--require', 'tsx/cjs', 'bench/validation-cost.ts'], {
    cwd: ROOT,
    env: { ...process.env, BENCH_EMPTY_DIR: emptyProject },
    encoding: 'utf8',
  });
  const cost = JSON.parse(v.stdout);
  rows.push({
    name: 'validation of the default output: first call (loads schemas) / warm median',
    value: `${cost.cold.toFixed(1)} ms / ${cost.warm.toFixed(1)} ms`,
    target: '< 200 ms added',
  });
}

/** 4. Start-up against the peer, and figures from the host-side tools' own benchmarks. */
async function areaRows(kustomize: string): Promise<void> {
  rows.unshift(...(await startup.bench(kustomize)));
  // An area that fails is a row saying so, and the run exits 1: the table stays whole.
  for (const [name, area] of [
    ['rsync', rsync],
    ['migrate mongo', mongo],
    ['cutover', cutover],
  ] as const) {
    try {
      rows.push(...(await area.bench()));
    } catch (e) {
      failed.push(name);
      rows.push({ name: `${name} benchmarks`, value: `FAILED: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}` });
    }
  }
}

/** 5. The whole test suite. */
function suiteRows(): void {
  const fast = performance.now();
  const f = spawnSync('npm', ['run', 'test:fast'], { cwd: ROOT, encoding: 'utf8', stdio: 'ignore' });
  const fastMs = performance.now() - fast;
  rows.push({ name: `npm run test:fast wall time (${f.status === 0 ? 'passed' : 'FAILED'})`, value: s(fastMs), target: '< 30 s' });
  const t = performance.now();
  const r = spawnSync('npm', ['test'], { cwd: ROOT, encoding: 'utf8', stdio: 'ignore' });
  rows.push({
    name: `npm test wall time (${r.status === 0 ? 'passed' : 'FAILED'})`,
    value: s(performance.now() - t),
    target: '<= 300 s (builds excluded)',
  });
}

/** The whole table, with the date and the machine, to stdout and to BENCHMARKS.md. */
function writeReport(started: Date, loadBefore: number, peerVersion: string): void {
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node.js ${process.version}`;
  const cell = (x?: string) => (x ?? '').replace(/\|/g, '\\|');
  const table = [
    `| measurement | roomler-k8s | peer: kustomize ${peerVersion} | ratio | target |`,
    '| --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.name} | ${cell(r.value)} | ${cell(r.peer)} | ${cell(r.ratio)} | ${cell(r.target)} |`),
  ].join('\n');
  const text = [
    '# Benchmarks',
    '',
    `\`npm run bench\` on ${started.toISOString().slice(0, 10)}, ${machine}; load average ${loadBefore.toFixed(1)} at the start`,
    `and ${loadavg()[0].toFixed(1)} at the end (other work on the machine).`,
    'Each figure is the median of several runs after a warm-up; ratios are measured side by side in the same run. The peer is',
    "`kustomize build` of a plain base with the original deployment's objects (bench/fixtures/peer-base), which it reads and",
    "prints; `bin/roomler synth` builds the default config's objects, validates them (schemas, API-server rules, policy) and",
    'writes them. CPU time is user + system time of the command and every process it starts.',
    '',
    table,
    '',
  ].join('\n');
  process.stdout.write(`${text}\n`);
  writeFileSync(join(ROOT, 'BENCHMARKS.md'), text);
}

async function main(skipTests: boolean) {
  const started = new Date();
  const loadBefore = loadavg()[0];
  tmp = mkdtempSync(join(tmpdir(), 'roomler-bench-'));
  const { kustomize, version } = peer();
  emptyProject = mkdtempSync(join(tmp, 'project-'));
  appCommandRows();
  scalingRows();
  validationRow();
  await areaRows(kustomize);
  if (!skipTests) suiteRows();
  writeReport(started, loadBefore, version);
}

runStandalone(
  'bench',
  'npm run',
  command({
    summary: 'measure the speed targets side by side in one run and write BENCHMARKS.md',
    description:
      'Takes several minutes: start-up and synth against kustomize (built into the toolchain cache first), ' +
      'synth against ts-node and tsx, 1-50 instances, validation, rsync, migrate mongo and cutover on the test lab, and the test suite.',
    options: { 'skip-tests': { type: 'boolean', description: 'leave out the test-suite wall time (the longest part)' } },
    examples: ['npm run bench', 'npm run bench -- --skip-tests'],
    run: ({ values }) =>
      main(values['skip-tests'])
        .then(() => {
          if (failed.length) process.stderr.write(`bench: ${failed.join(', ')} failed (see the table)\n`);
          return failed.length ? 1 : 0;
        })
        .finally(() => tmp && rmSync(tmp, { recursive: true, force: true })),
  }),
);
