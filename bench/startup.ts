import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// How long a command takes to start, as a user types it: `bin/roomler <command> --help` for every command, and
// `npm run synth` against `npx cdk8s synth` (the same app behind the cdk8s CLI), side by side in one run.
const ROOT = join(__dirname, '..');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function wall(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, runs = 7): number {
  const times: number[] = [];
  for (let n = 0; n <= runs; n++) {
    const t = performance.now();
    const r = spawnSync(cmd, args, { cwd: ROOT, env: { ...process.env, CDK8S_CHECK_UPGRADE: 'false', ...env }, stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
    if (n > 0) times.push(performance.now() - t); // the first run may build the bundle
  }
  return median(times);
}

export async function bench(): Promise<{ name: string; value: string; target?: string }[]> {
  const out = mkdtempSync(join(tmpdir(), 'roomler-bench-startup-'));
  try {
    const commands = ['synth', 'validate', 'deploy', 'diff', 'doctor', 'secrets', 'migrate', 'backup', 'cutover', 'lab'];
    const help = commands.map((c) => ({ c, ms: wall(join(ROOT, 'bin', 'roomler'), [c, '--help']) })).sort((a, b) => b.ms - a.ms);
    const env = { ROOMLER_PROJECT_DIR: mkdtempSync(join(out, 'project-')), ROOMLER_OUTDIR: join(out, 'dist') };
    const npmSynth = wall('npm', ['run', 'synth'], env);
    const cdk8s = wall('npx', ['cdk8s', 'synth', '--output', join(out, 'cli')], env, 5);
    const direct = wall(join(ROOT, 'bin', 'roomler'), ['synth'], env);
    const s = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
    return [
      { name: `bin/roomler <command> --help, slowest of ${commands.length} (${help[0].c}) / fastest (${help.at(-1)!.c})`, value: `${s(help[0].ms)} / ${s(help.at(-1)!.ms)}`, target: '<= 0.3 s' },
      { name: '`npm run synth` exactly as typed / `bin/roomler synth` / `npx cdk8s synth`', value: `${s(npmSynth)} / ${s(direct)} / ${s(cdk8s)}`, target: 'npm run synth <= 0.6 s' },
    ];
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
