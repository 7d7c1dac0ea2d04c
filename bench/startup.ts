import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Row } from './run';

// Start-up as a user types the commands, against the peer: `kustomize build` of a plain 13-object base
// (bench/fixtures/peer-base, the original deployment's topology) beside `bin/roomler synth`, which builds, validates
// and writes the 32 objects of the default config. The ratios compare CPU time (user + system of the command and
// every process it starts, from bash's `times`), which another process on the machine disturbs less than wall time.
// Each figure is the median of RUNS runs after a warm-up run; the peer runs in the same loop, interleaved.
const ROOT = join(__dirname, '..');
const ROOMLER = join(ROOT, 'bin', 'roomler');
const RUNS = 9;
const COMMANDS = ['synth', 'validate', 'deploy', 'diff', 'doctor', 'secrets', 'migrate', 'backup', 'cutover', 'lab'];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x: number) => `${Math.round(x)} ms`;
const s = (x: number) => `${(x / 1000).toFixed(3)} s`;

interface Sample {
  readonly cpu: number;
  readonly wall: number;
}

/** One run of `cmd`: CPU ms of it and its children, wall ms; throws with its stderr when it fails. */
function once(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): Sample {
  const t = performance.now();
  // `times` prints the shell's own times, then its children's: the command's.
  const r = spawnSync('bash', ['-c', '"$@" >/dev/null; s=$?; times; exit $s', 'bench', cmd, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, CDK8S_CHECK_UPGRADE: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const wall = performance.now() - t;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  const children = r.stdout.trim().split('\n').at(-1) ?? '';
  const parts = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map(([, m, sec]) => Number(m) * 60_000 + Number(sec) * 1000);
  if (parts.length !== 2) throw new Error(`bash times printed ${JSON.stringify(r.stdout)}`);
  return { cpu: parts[0] + parts[1], wall };
}

type Commands<K extends string> = Record<K, { cmd: string; args: readonly string[]; env?: NodeJS.ProcessEnv }>;

/** Medians of `runs` runs of each named command after one warm-up each, the commands interleaved run by run. */
function measure<K extends string>(commands: Commands<K>, runs = RUNS): Record<K, Sample> {
  const entries = Object.entries(commands) as [K, Commands<K>[K]][];
  const samples = new Map<K, Sample[]>(entries.map(([k]) => [k, []]));
  for (let n = 0; n <= runs; n++) {
    for (const [k, c] of entries) {
      const sample = once(c.cmd, c.args, c.env ?? {});
      if (n > 0) samples.get(k)!.push(sample); // the first run may build the bundle or the snapshot
    }
  }
  const medianOf = (k: K): Sample => ({ cpu: median(samples.get(k)!.map((x) => x.cpu)), wall: median(samples.get(k)!.map((x) => x.wall)) });
  return Object.fromEntries(entries.map(([k]) => [k, medianOf(k)])) as Record<K, Sample>;
}

/** `bin/roomler <command> --help` for every command, in `env`. */
const helpOf = (env: NodeJS.ProcessEnv) => Object.fromEntries(COMMANDS.map((c) => [c, { cmd: ROOMLER, args: [c, '--help'], env }]));

const kinds = (text: string) => text.match(/^kind: /gm)?.length ?? 0;
const objectsIn = (dir: string) => readdirSync(dir).reduce((n, f) => n + kinds(readFileSync(join(dir, f), 'utf8')), 0);

/** The starts measured side by side; `npmNoop` is npm's own cost under `npm run synth` (a script that does nothing). */
function startCommands(tmp: string, kustomize: string, peerBase: string, env: NodeJS.ProcessEnv) {
  const noop = mkdtempSync(join(tmp, 'npm-'));
  writeFileSync(join(noop, 'package.json'), JSON.stringify({ name: 'noop', version: '1.0.0', private: true, scripts: { noop: 'true' } }));
  return {
    kustomize: { cmd: kustomize, args: ['build', peerBase] },
    synth: { cmd: ROOMLER, args: ['synth'], env },
    npmSynth: { cmd: 'npm', args: ['run', 'synth'], env },
    npmNoop: { cmd: 'npm', args: ['--prefix', noop, 'run', 'noop'], env },
    bundleSynth: { cmd: ROOMLER, args: ['synth'], env: { ...env, ROOMLER_SNAPSHOT: '0' } },
    node: { cmd: 'node', args: ['-e', '0'] },
    bareNode: { cmd: 'node', args: ['-e', '0'], env: { NODE_EXTRA_CA_CERTS: undefined } },
  };
}

export async function bench(kustomize: string): Promise<Row[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'roomler-bench-startup-'));
  try {
    const out = join(tmp, 'dist');
    const env = { ROOMLER_PROJECT_DIR: mkdtempSync(join(tmp, 'project-')), ROOMLER_OUTDIR: out };
    const peerBase = join(ROOT, 'bench', 'fixtures', 'peer-base');
    const peerObjects = kinds(spawnSync(kustomize, ['build', peerBase], { encoding: 'utf8' }).stdout);
    const r = measure(startCommands(tmp, kustomize, peerBase, env));
    const help = measure(helpOf({}));
    const helpBundle = measure(helpOf({ ROOMLER_SNAPSHOT: '0' }), 5);
    const cdk8s = measure({ cli: { cmd: 'npx', args: ['cdk8s', 'synth', '--output', join(tmp, 'cli')], env } }, 3).cli;
    const byCpu = (m: Record<string, Sample>) => Object.entries(m).sort((a, b) => b[1].cpu - a[1].cpu);
    const [slowest, fastest] = [byCpu(help)[0], byCpu(help).at(-1)!];
    const [slowestBundle] = byCpu(helpBundle);
    const peer = `${ms(r.kustomize.cpu)} (${peerObjects} objects)`;
    const ratio = (x: Sample) => `${(x.cpu / r.kustomize.cpu).toFixed(1)}x`;
    const vs = (x: Sample) => ({ peer, ratio: ratio(x) });
    const ca = process.env.NODE_EXTRA_CA_CERTS ? ' (NODE_EXTRA_CA_CERTS is set here: node parses that file at every start)' : '';
    return [
      {
        name: `\`bin/roomler synth\` (${objectsIn(out)} objects, validated, written) vs \`kustomize build\`: CPU`,
        value: ms(r.synth.cpu),
        ...vs(r.synth),
        target: '<= 4x',
      },
      { name: '`npm run synth` vs `kustomize build`: CPU', value: ms(r.npmSynth.cpu), ...vs(r.npmSynth), target: '<= 6x' },
      { name: "`npm run` of a script that only runs `true`: CPU, npm's own floor", value: ms(r.npmNoop.cpu), ...vs(r.npmNoop) },
      {
        name: `\`bin/roomler <command> --help\`, slowest of ${COMMANDS.length} (${slowest[0]}) / fastest (${fastest[0]}): CPU`,
        value: `${ms(slowest[1].cpu)} / ${ms(fastest[1].cpu)}`,
        target: '<= 120 ms',
      },
      {
        name: 'the same without the startup snapshot (`ROOMLER_SNAPSHOT=0`, the bundle): synth / slowest --help CPU',
        value: `${ms(r.bundleSynth.cpu)} / ${ms(slowestBundle[1].cpu)} (${slowestBundle[0]})`,
        ...vs(r.bundleSynth),
      },
      { name: `\`node -e 0\` as this environment starts it${ca}: CPU`, value: ms(r.node.cpu), ...vs(r.node) },
      {
        name: '`node -e 0` without NODE_EXTRA_CA_CERTS, as bin/roomler starts node: CPU, the floor of any command',
        value: ms(r.bareNode.cpu),
        ...vs(r.bareNode),
      },
      {
        name: '`npm run synth` exactly as typed / `bin/roomler synth` / `npx cdk8s synth`: wall',
        value: `${s(r.npmSynth.wall)} / ${s(r.synth.wall)} / ${s(cdk8s.wall)}`,
        peer: s(r.kustomize.wall),
        target: 'npm run synth <= 0.6 s',
      },
    ];
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
