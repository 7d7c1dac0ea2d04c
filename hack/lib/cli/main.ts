import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { ConfigError } from '../../../lib/config/load';
import { stdoutClosed } from '../process/interrupt';
import { type Command, dispatch, type Group, group, PROGRAM, UsageError } from './args';
import { UserError } from './errors';
import { watchNpmParent } from './signals';

// The entry point of every command: `bin/roomler <command> …` (and the npm scripts, which call it). Commands are
// loaded lazily, so `--help`, a typo or a bad flag costs only what that one command imports, and nothing runs
// before its arguments are understood.

/* eslint-disable @typescript-eslint/no-require-imports */
const COMMANDS: Record<string, { readonly summary: string; readonly load: () => Command<any> | Group }> = {
  synth: { summary: 'synthesize dist/ from the config (atomically; validated)', load: () => require('../../commands/synth').default },
  validate: {
    summary: 'schema, API-server, cross-object and policy checks on YAML files',
    load: () => require('../../commands/validate').default,
  },
  deploy: {
    summary: 'apply dist/ to a cluster wave by wave and wait for every workload',
    load: () => require('../../commands/deploy').default,
  },
  diff: {
    summary: 'what a change does to the manifests, object by object: against a git base or the cluster (--live)',
    load: () => require('../../commands/diff').default,
  },
  doctor: { summary: 'read-only health checks: DNS, TURN, probes, cluster, host', load: () => require('../../commands/doctor').default },
  secrets: { summary: 'create the Secrets from .env, or seal them for GitOps', load: () => require('../../commands/secrets').default },
  argocd: {
    summary: 'what the Argo CD Application keeps after Git dropped it, and its deliberate deletion',
    load: () => require('../../commands/argocd').default,
  },
  migrate: {
    summary: 'the migration day off the Docker host: migrate plan|run|status|back; its steps mongo and uploads alone',
    load: () => require('../../commands/migrate').default,
  },
  backup: { summary: 'off-node snapshots of uploads and MongoDB archives', load: () => require('../../commands/backup').default },
  lab: {
    summary: 'a throw-away control plane on loopback to rehearse deploy (no containers run)',
    load: () => require('../../commands/lab').default,
  },
  cutover: {
    summary: 'move the host nginx from the Docker backends to the NodePorts',
    load: () => require('../../commands/cutover').default,
  },
};

/**
 * Called while the startup snapshot is built (lib/startup-snapshot.cjs): loads every command's modules, then
 * synthesizes the default config once in memory (`emptyDir` holds no config), so a start from the snapshot finds
 * the modules initialised and what every synth builds first already built.
 */
export function prepareSnapshot(emptyDir: string): void {
  for (const command of Object.values(COMMANDS)) command.load();
  (require('../../../lib/run-synth') as typeof import('../../../lib/run-synth')).warmUp(emptyDir);
}

export const version = (): string => {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8'));
  return `${pkg.name} ${pkg.version}`;
};

const top = () =>
  group({
    summary: 'Roomler on Kubernetes: synthesize, deploy, migrate and operate the stack.',
    description: `Every command takes --help. Commands that change a cluster or a host say what and where first and ask; without a terminal they need --yes.`,
    subcommands: Object.fromEntries(
      Object.entries(COMMANDS).map(([name, c]) => [name, { summary: c.summary, subcommands: {}, examples: [] }]),
    ),
    examples: [`${PROGRAM} synth`, `${PROGRAM} deploy --context production`],
  });

/** Runs `argv` (without node and the script) and returns the exit code; expected failures print one message. */
export async function runCli(argv: readonly string[], out = process.stdout, err = process.stderr): Promise<number> {
  const write = (s: string) => void out.write(s);
  const [name, ...rest] = argv;
  const tool = name && Object.hasOwn(COMMANDS, name) ? name : PROGRAM;
  try {
    if (name === '--version' || name === '-V') {
      write(`${version()}\n`);
      return 0;
    }
    if (name && Object.hasOwn(COMMANDS, name)) {
      if (rest.slice(0, rest.includes('--') ? rest.indexOf('--') : undefined).includes('--version')) {
        write(`${version()}\n`);
        return 0;
      }
      const spec = COMMANDS[name].load();
      return await dispatch(name, { ...spec, summary: COMMANDS[name].summary }, rest, write);
    }
    const help = top();
    if (name === undefined || name === '-h' || name === '--help') {
      (name === undefined ? err : out).write(`${groupText(help)}\n`);
      return name === undefined ? 2 : 0;
    }
    throw new UsageError(`unknown command "${name}" (one of: ${Object.keys(COMMANDS).join(', ')})`, groupText(help));
  } catch (e) {
    return report(tool, e, err);
  }
}

function groupText(g: Group): string {
  const width = Math.max(...Object.keys(g.subcommands).map((n) => n.length));
  return [
    `usage: ${PROGRAM} <command> [options]`,
    '',
    g.summary,
    '',
    'commands:',
    ...Object.entries(g.subcommands).map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`),
    '',
    'options:',
    '  -h, --help     show this help and exit',
    '  -V, --version  print the version and exit',
    '',
    g.description ?? '',
    `Run \`${PROGRAM} <command> --help\` for a command's options.`,
    '',
    'examples:',
    ...g.examples.map((e) => `  ${e}`),
  ].join('\n');
}

/** Expected failures as one line (UsageError with its help), anything else with its stack; returns the exit code. */
function report(tool: string, e: unknown, err: NodeJS.WritableStream): number {
  if (e instanceof UserError || e instanceof ConfigError) {
    err.write(e instanceof UsageError ? `${e.message}\n` : `${tool}: ${e.message}\n`);
    return e instanceof UserError ? e.exitCode : 1;
  }
  err.write(`${tool}: unexpected error: ${e instanceof Error ? e.stack : String(e)}\n`);
  return 70;
}

/**
 * A developer tool outside the command table (`npm run bench`) with the same parser, help and error handling.
 * `program` is how its usage line starts, e.g. "npm run".
 */
export function runStandalone(name: string, program: string, spec: Command<any> | Group, argv = process.argv.slice(2)): void {
  guardStreams();
  dispatch(name, spec, argv, (s) => void process.stdout.write(s), program).then(
    (code) => (process.exitCode = code),
    (e) => (process.exitCode = report(name, e, process.stderr)),
  );
}

/**
 * A reader that went away (`… | head`): a read-only command ends quietly with its status so far; a command that is
 * changing something (it holds an interrupt Guard) is interrupted as by SIGPIPE, finishes its record and exits 141.
 */
function guardStreams(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
      if (stream === process.stdout && stdoutClosed()) return;
      if (stream === process.stderr) return;
      process.exit(process.exitCode ?? 0);
    });
  }
}

/** The process-level wrapper: exit code, a quiet exit when stdout's reader went away (`… | head`), npm's signals. */
export function main(argv = process.argv.slice(2)): void {
  guardStreams();
  watchNpmParent();
  void runCli(argv).then((code) => {
    process.exitCode = code;
  });
}
