import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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

/** Medians of `runs` runs of each named command after one warm-up each, the commands interleaved run by run. */
function measure<K extends string>(commands: Record<K, { cmd: string; args: readonly string[]; env?: NodeJS.ProcessEnv }>, runs = RUNS): Record<K, Sample> {
  const entries = Object.entries(commands) as [K, { cmd: string; args: readonly string[]; env?: NodeJS.ProcessEnv }][];
  const samples = new Map<K, Sample[]>(entries.map(([k]) => [k, []]));
  for (let n = 0; n <= runs; n++) {
    for (const [k, c] of entries) {
      const sample = once(c.cmd, c.args, c.env ?? {});
      if (n > 0) samples.get(k)!.push(sample); // the first run may build the bundle or the snapshot
    }
  }
  return Object.fromEntries(entries.map(([k]) => [k, { cpu: median(samples.get(k)!.map((x) => x.cpu)), wall: median(samples.get(k)!.map((x) => x.wall)) }])) as Record<K, Sample>;
}

const objectsIn = (dir: string) => readdirSync(dir).reduce((n, f) => n + (readFileSync(join(dir, f), 'utf8').match(/^kind: /gm)?.length ?? 0), 0);

export async function bench(kustomize: string): Promise<Row[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'roomler-bench-startup-'));
  try {
    const out = join(tmp, 'dist');
    const env = { ROOMLER_PROJECT_DIR: mkdtempSync(join(tmp, 'project-')), ROOMLER_OUTDIR: out };
    const peerBase = join(ROOT, 'bench', 'fixtures', 'peer-base');
    const peerObjects = (spawnSync(kustomize, ['build', peerBase], { encoding: 'utf8' }).stdout.match(/^kind: /gm) ?? []).length;
    const withoutCa = process.env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: undefined } : undefined;
    const r = measure({
      kustomize: { cmd: kustomize, args: ['build', peerBase] },
      synth: { cmd: ROOMLER, args: ['synth'], env },
      npmSynth: { cmd: 'npm', args: ['run', 'synth'], env },
      bundleSynth: { cmd: ROOMLER, args: ['synth'], env: { ...env, ROOMLER_SNAPSHOT: '0' } },
      node: { cmd: 'node', args: ['-e', '0'] },
      ...(withoutCa ? { nodeWithoutCa: { cmd: 'node', args: ['-e', '0'], env: withoutCa }, synthWithoutCa: { cmd: ROOMLER, args: ['synth'], env: { ...env, ...withoutCa } } } : {}),
    } as Record<string, { cmd: string; args: readonly string[]; env?: NodeJS.ProcessEnv }>);
    const help = measure(Object.fromEntries(COMMANDS.map((c) => [c, { cmd: ROOMLER, args: [c, '--help'] }])));
    const helpBundle = measure(Object.fromEntries(COMMANDS.map((c) => [c, { cmd: ROOMLER, args: [c, '--help'], env: { ROOMLER_SNAPSHOT: '0' } }])), 5);
    const cdk8s = measure({ cli: { cmd: 'npx', args: ['cdk8s', 'synth', '--output', join(tmp, 'cli')], env } }, 3).cli;
    const byCpu = (m: Record<string, Sample>) => Object.entries(m).sort((a, b) => b[1].cpu - a[1].cpu);
    const [slowest, fastest] = [byCpu(help)[0], byCpu(help).at(-1)!];
    const [slowestBundle] = byCpu(helpBundle);
    const peer = `${ms(r.kustomize.cpu)} (${peerObjects} objects)`;
    const ratio = (x: Sample) => `${(x.cpu / r.kustomize.cpu).toFixed(1)}x`;
    const rows: Row[] = [
      { name: `\`bin/roomler synth\` (${objectsIn(out)} objects, validated, written) vs \`kustomize build\`: CPU`, value: ms(r.synth.cpu), peer, ratio: ratio(r.synth), target: '<= 4x' },
      { name: '`npm run synth` vs `kustomize build`: CPU', value: ms(r.npmSynth.cpu), peer, ratio: ratio(r.npmSynth), target: '<= 6x' },
      { name: `\`bin/roomler <command> --help\`, slowest of ${COMMANDS.length} (${slowest[0]}) / fastest (${fastest[0]}): CPU`, value: `${ms(slowest[1].cpu)} / ${ms(fastest[1].cpu)}`, target: '<= 120 ms' },
      { name: 'the same without the startup snapshot (`ROOMLER_SNAPSHOT=0`, the bundle): synth / slowest --help CPU', value: `${ms(r.bundleSynth.cpu)} / ${ms(slowestBundle[1].cpu)} (${slowestBundle[0]})`, peer, ratio: ratio(r.bundleSynth) },
      { name: '`node -e 0`: CPU, the floor of any Node.js command', value: ms(r.node.cpu), peer, ratio: ratio(r.node) },
    ];
    if (withoutCa) {
      rows.push({
        name: 'without NODE_EXTRA_CA_CERTS, set on this machine (Node.js parses the bundle at every start): `node -e 0` / `bin/roomler synth` CPU',
        value: `${ms(r.nodeWithoutCa.cpu)} / ${ms(r.synthWithoutCa.cpu)}`,
        peer,
        ratio: `${ratio(r.nodeWithoutCa)} / ${ratio(r.synthWithoutCa)}`,
      });
    }
    rows.push({ name: '`npm run synth` exactly as typed / `bin/roomler synth` / `npx cdk8s synth`: wall', value: `${s(r.npmSynth.wall)} / ${s(r.synth.wall)} / ${s(cdk8s.wall)}`, peer: s(r.kustomize.wall), target: 'npm run synth <= 0.6 s' });
    return rows;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
