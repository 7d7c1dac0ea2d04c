import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { command } from '../hack/lib/cli/args';
import { runStandalone } from '../hack/lib/cli/main';
import * as cutover from './cutover';
import * as mongo from './mongo';
import * as rsync from './rsync';
import * as startup from './startup';

// `npm run bench [-- --skip-tests]`: every figure is the median of several runs after a warm-up,
// and every ratio is measured side by side in this run. Results go to stdout and BENCHMARKS.md.
const ROOT = join(__dirname, '..');
let tmp = '';
let emptyProject = '';

interface Row {
  readonly name: string;
  readonly value: string;
  readonly target?: string;
}
const rows: Row[] = [];
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

async function main(skipTests: boolean) {
  tmp = mkdtempSync(join(tmpdir(), 'roomler-bench-'));
  emptyProject = mkdtempSync(join(tmp, 'project-'));
  const out = (name: string) => ({ ROOMLER_PROJECT_DIR: emptyProject, ROOMLER_OUTDIR: join(tmp, name) });

  // 1. The project's app command (cdk8s.yaml) against the stock cdk8s TypeScript app command.
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

  // 2. Scaling with the number of instances.
  for (const count of [1, 10, 50]) {
    const r = measure('node', ['--require', './bench/rss.cjs', 'lib/bundle-run.cjs', 'main.ts'], { ...out(`n${count}`), ROOMLER_CONFIG: instancesConfig(count) }, 3);
    rows.push({ name: `synth, ${count} instance(s): time / peak RSS`, value: `${s(r.ms)} / ${Math.round((r.rssKb ?? 0) / 1024)} MB`, target: count === 50 ? '<= 3 s, <= 400 MB' : undefined });
  }

  // 3. Validation cost on the default output.
  const v = spawnSync('node', ['--require', 'tsx/cjs', 'bench/validation-cost.ts'], { cwd: ROOT, env: { ...process.env, BENCH_EMPTY_DIR: emptyProject }, encoding: 'utf8' });
  const cost = JSON.parse(v.stdout);
  rows.push({ name: 'validation of the default output: first call (loads schemas) / warm median', value: `${cost.cold.toFixed(1)} ms / ${cost.warm.toFixed(1)} ms`, target: '< 200 ms added' });

  // 4. Start-up of the commands, and figures from the host-side tools' own benchmarks.
  for (const area of [startup, rsync, mongo, cutover]) rows.push(...(await area.bench()));

  // 5. The whole test suite.
  if (!skipTests) {
    const t = performance.now();
    const r = spawnSync('npm', ['test'], { cwd: ROOT, encoding: 'utf8', stdio: 'ignore' });
    rows.push({ name: `npm test wall time (${r.status === 0 ? 'passed' : 'FAILED'})`, value: s(performance.now() - t), target: '< 360 s (builds excluded)' });
  }

  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const table = ['| measurement | result | target |', '| --- | --- | --- |', ...rows.map((r) => `| ${r.name} | ${r.value} | ${r.target ?? ''} |`)].join('\n');
  process.stdout.write(`${table}\n\nmachine: ${machine}\n`);
  writeFileSync(
    join(ROOT, 'BENCHMARKS.md'),
    `# Benchmarks\n\nLatest \`npm run bench\` on ${machine}, ${new Date().toISOString().slice(0, 10)}.\n` +
      `Each figure is the median of several runs after a warm-up; ratios are measured side by side in the same run.\n\n${table}\n`,
  );
}

runStandalone(
  'bench',
  'npm run',
  command({
    summary: 'measure the speed targets side by side in one run and write BENCHMARKS.md',
    description: 'Takes several minutes: synth against ts-node and tsx, 1-50 instances, validation, command start-up, rsync, migrate mongo and cutover on the test lab, and the whole test suite.',
    options: { 'skip-tests': { type: 'boolean', description: 'leave out the test-suite wall time (the longest part)' } },
    examples: ['npm run bench', 'npm run bench -- --skip-tests'],
    run: ({ values }) => main(values['skip-tests']).then(() => 0).finally(() => tmp && rmSync(tmp, { recursive: true, force: true })),
  }),
);
