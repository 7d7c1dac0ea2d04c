'use strict';
// The V8 startup snapshot bin/roomler starts from. `node --build-snapshot` runs the CLI bundle (lib/bundle-run.cjs)
// once, loads every command's modules (cdk8s, cdk8s-plus-28, constructs, yaml, zod, the config, charts, validation,
// the host-side commands), synthesizes the default config once in memory, and writes the heap to a blob; a start
// with `node --snapshot-blob` maps that heap back instead of parsing and running the bundle again. Node clears
// compiled code from a snapshot, so functions still compile on first use; what the snapshot saves is loading and
// initialising ~2 MB of modules, and what the first synth builds and keeps (schema definitions, zod's parsers).
//
// The blob lives beside the bundle and follows it: it is built for one bundle (whose name is the signature of every
// source) and one node binary, by the first command that starts without a usable snapshot (lib/roomler-cli.cjs), and
// checked at every start: bin/roomler uses it only when this node binary built it, and its main function compares
// the sources' signature with its own and runs the command from the bundle when anything changed. A snapshot that
// cannot be built (a module that cannot be snapshotted, a node without snapshot support) is recorded once, with
// Node's message, and every command runs from the bundle as before.
//
// What a snapshot cannot hold: Node supports only some built-in modules inside one (not child_process, http,
// readline, module, vm, ...). The bundle gets those as stand-ins that load the real module at first use, which is
// always after the snapshot has been restored; a module that uses one while it is initialised cannot be preloaded
// (ws reads node:http as it loads: it is required where it is used), and the build says which. Anything the bundle
// would load from node_modules at run time fails the build as well.
const { spawnSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const { builtinModules } = require('node:module');
const { basename, dirname, join } = require('node:path');
const bundleRun = require('./bundle-run.cjs');

const ENTRY = join(bundleRun.root, 'hack', 'lib', 'cli', 'main.ts');
/** The snapshot bin/roomler reads: `blob`, `node` (a link to the binary that built it), `flags`, `key`. */
const DIR = join(bundleRun.cacheDir, 'cli-snapshot');
/**
 * V8 flags of both the build and every start (V8 refuses a snapshot made with other flags). A command runs for a
 * fraction of a second: hot functions reach the optimizing compiler later (a budget 4.4 times the default; with the
 * default, Turbofan compiled on a second thread for code about to finish: ~25 % of a synth's CPU time, measured),
 * and the young generation starts large enough for a whole synth, without a scavenge.
 */
const FLAGS = ['--min-semi-space-size=16', '--max-semi-space-size=32', '--no-minor-gc-task', '--interrupt-budget=300000'];
/** Built-in modules Node supports inside a user-land snapshot (lib/internal/main/mksnapshot.js). */
const SUPPORTED = [
  '_stream_duplex',
  '_stream_passthrough',
  '_stream_readable',
  '_stream_transform',
  '_stream_wrap',
  '_stream_writable',
  'assert',
  'assert/strict',
  'buffer',
  'console',
  'constants',
  'crypto',
  'diagnostics_channel',
  'dns',
  'events',
  'fs',
  'fs/promises',
  'net',
  'os',
  'path',
  'path/posix',
  'path/win32',
  'process',
  'punycode',
  'querystring',
  'stream',
  'stream/promises',
  'string_decoder',
  'sys',
  'timers',
  'timers/promises',
  'url',
  'util',
  'util/types',
  'v8',
  'zlib',
];

const readOr = (file, fallback) => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
};

/** The end of Node's message, each line cut short (it quotes the failing line of the one-line minified bundle). */
const tail = (text) =>
  text
    .trim()
    .split('\n')
    .slice(-12)
    .map((l) => (l.length > 200 ? `${l.slice(0, 200)}…` : l))
    .join('\n');

/** Puts back what bin/roomler took out of the environment for node's own start (NODE_EXTRA_CA_CERTS). */
function restoreEnvironment() {
  if (process.env.ROOMLER_NODE_EXTRA_CA_CERTS === undefined) return;
  process.env.NODE_EXTRA_CA_CERTS = process.env.ROOMLER_NODE_EXTRA_CA_CERTS;
  delete process.env.ROOMLER_NODE_EXTRA_CA_CERTS;
}

/** What a snapshot is built for: the bundle (so every source), the node binary and the flags. */
function keyFor(bundle) {
  const node = fs.realpathSync(process.execPath);
  const s = fs.statSync(node);
  return [basename(bundle), process.version, node, s.ino, s.mtimeMs, ...FLAGS].join(' ');
}

/**
 * Makes sure the snapshot fits the current bundle and node binary: nothing when it does, when ROOMLER_SNAPSHOT=0,
 * when another process is building it, or when building it for this key failed before. Otherwise builds it (~1 s,
 * once per source change). Never throws and prints nothing: the command that called it runs from the bundle anyway.
 */
function ensure() {
  if (process.env.ROOMLER_SNAPSHOT === '0') return;
  try {
    const bundle = bundleRun.bundleFor(ENTRY);
    const key = keyFor(bundle);
    if (readOr(join(DIR, 'key'), '') === key) return;
    const failed = join(bundleRun.cacheDir, `snapshot-${createHash('sha256').update(key).digest('hex').slice(0, 16)}.failed`);
    if (fs.existsSync(failed) || !fs.existsSync(bundle) || !lock()) return;
    try {
      build(bundle, key);
    } catch (e) {
      fs.writeFileSync(failed, `${key}\n${e.message}\n`);
    } finally {
      fs.rmSync(`${DIR}.lock`, { recursive: true, force: true });
    }
  } catch {
    /* a read-only or full cache: the bundle runs as before */
  }
}

/** One build at a time (parallel commands start together after a change); a lock older than 2 minutes is stale. */
function lock() {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.mkdirSync(`${DIR}.lock`);
      return true;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      if (Date.now() - fs.statSync(`${DIR}.lock`).mtimeMs < 120_000) return false;
      fs.rmSync(`${DIR}.lock`, { recursive: true, force: true });
    }
  }
  return false;
}

/** Builds, checks and publishes the snapshot of `bundle`; throws with Node's own message when it cannot. */
function build(bundle, key) {
  const tmp = `${DIR}.${process.pid}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  try {
    const script = join(tmp, 'build.cjs');
    fs.writeFileSync(script, builderScript(bundle));
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    fs.mkdirSync(join(tmp, 'empty'));
    const blob = ['--snapshot-blob', join(tmp, 'blob')];
    const options = { cwd: bundleRun.root, env, encoding: 'utf8' };
    const node = (args, timeout) => spawnSync(process.execPath, [...FLAGS, ...blob, ...args], { ...options, timeout });
    const made = node(['--build-snapshot', script], 120_000);
    // Node warns (and carries on) when the script loads a built-in it does not support in snapshots: a failure here.
    if (made.status !== 0 || made.stderr.trim()) {
      throw new Error(`node --build-snapshot ${made.error ? made.error.message : `exited ${made.status}`}:\n${tail(made.stderr)}`);
    }
    // The blob must load and run a command before any start relies on it.
    const expected = `${JSON.parse(fs.readFileSync(join(bundleRun.root, 'package.json'), 'utf8')).name} `;
    const check = node([join(bundleRun.root, 'bin', 'roomler'), '--version'], 60_000);
    if (check.status !== 0 || !check.stdout.startsWith(expected)) {
      throw new Error(`the new snapshot does not start: exit ${check.status}:\n${tail(check.stderr)}`);
    }
    fs.rmSync(script);
    fs.rmSync(join(tmp, 'empty'), { recursive: true });
    fs.symlinkSync(fs.realpathSync(process.execPath), join(tmp, 'node'));
    fs.writeFileSync(join(tmp, 'flags'), `${FLAGS.join(' ')}\n`);
    fs.writeFileSync(join(tmp, 'key'), key);
    publish(tmp);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Swaps the new snapshot in. Between the two renames bin/roomler finds none and runs the bundle; the replaced one
 * is kept for a minute, for a start that chose it a moment before, and removed by a later build.
 */
function publish(tmp) {
  for (const name of fs.readdirSync(dirname(DIR))) {
    const old = join(dirname(DIR), name);
    if (!name.startsWith(`${basename(DIR)}.old.`) || Date.now() - fs.statSync(old).mtimeMs < 60_000) continue;
    fs.rmSync(old, { recursive: true, force: true });
  }
  if (fs.existsSync(DIR)) {
    const old = `${DIR}.old.${process.pid}.${Date.now()}`;
    fs.renameSync(DIR, old);
    fs.utimesSync(old, new Date(), new Date());
  }
  fs.renameSync(tmp, DIR);
}

/**
 * The built-in modules the bundle requires that a snapshot cannot hold, each with the names of its functions (read
 * here, outside the snapshot): what the stand-ins may hand out while the snapshot is built.
 */
function deferredShapes(code) {
  const shapes = {};
  for (const [, name] of code.matchAll(/\brequire\("(?:node:)?([a-z_/0-9]+)"\)/g)) {
    if (SUPPORTED.includes(name) || !builtinModules.includes(name) || shapes[name]) continue;
    const m = require(name);
    shapes[name] = Object.keys(m).filter((k) => typeof m[k] === 'function');
  }
  return shapes;
}

/**
 * The script `node --build-snapshot` runs: `inSnapshot` below, given bundle-run.cjs and the CLI bundle as CommonJS
 * module functions. The bundle's code is whitespace-minified: the heap holds its source for lazy compilation, and a
 * smaller heap restores faster.
 */
function builderScript(bundle) {
  const { transformSync } = require('esbuild');
  const code = transformSync(fs.readFileSync(bundle, 'utf8'), { minifyWhitespace: true, legalComments: 'none', charset: 'ascii' }).code;
  const runner = join(__dirname, 'bundle-run.cjs');
  const settings = {
    entry: ENTRY,
    bundle,
    runner,
    fallback: join(__dirname, 'roomler-cli.cjs'),
    emptyDir: join(`${DIR}.${process.pid}.tmp`, 'empty'),
    supported: SUPPORTED,
    functions: deferredShapes(code),
  };
  const moduleFunction = (source) => `function (exports, require, module, __filename, __dirname) {\n${source}\n}`;
  return [
    `'use strict';`,
    `// Generated by lib/startup-snapshot.cjs for node --build-snapshot; removed after the build.`,
    `(${inSnapshot})(require, ${JSON.stringify(settings)}, ${restoreEnvironment},`,
    `${moduleFunction(fs.readFileSync(runner, 'utf8').replace(/^#!.*/, ''))},`,
    `${moduleFunction(code)});`,
    '',
  ].join('\n');
}

/**
 * Runs inside `node --build-snapshot` (serialized into its script, so it uses only its arguments): loads
 * bundle-run.cjs (the signature check of every start: as it is now, which the signature covers too) and the CLI
 * bundle, prepares the CLI (every command loaded, the default config synthesized once) and sets the main function
 * of every start from the snapshot.
 */
function inSnapshot(builderRequire, settings, restore, runnerModule, cliModule) {
  const { dirname } = builderRequire('node:path');
  const supported = new Set(settings.supported);
  const unresolved = [];
  const standIns = new Map();
  let runtimeRequire;

  // A stand-in for a built-in the snapshot cannot hold: every access goes to the real module, loaded at first use
  // after the snapshot is restored. While it is built, only a function can be taken from it (cdk8s keeps
  // child_process.spawnSync at load), as a stand-in that calls the real function; anything else fails the build.
  function deferred(id, functions) {
    let real;
    const late = new Map();
    const load = () => {
      if (!runtimeRequire) throw new Error(`${id} is used while the snapshot is built: the module that does so cannot be preloaded`);
      return (real ??= runtimeRequire(id));
    };
    const lateBound = (k) => {
      if (!late.has(k)) {
        late.set(k, function (...args) {
          return new.target ? Reflect.construct(load()[k], args, new.target) : Reflect.apply(load()[k], this, args);
        });
      }
      return late.get(k);
    };
    return new Proxy(
      {},
      {
        get: (_, k) => (!runtimeRequire && functions.includes(k) ? lateBound(k) : load()[k]),
        set: (_, k, v) => ((load()[k] = v), true),
        has: (_, k) => k in load(),
        ownKeys: () => Reflect.ownKeys(load()),
        getOwnPropertyDescriptor: (_, k) => {
          const d = Reflect.getOwnPropertyDescriptor(load(), k);
          return d && { ...d, configurable: true };
        },
        getPrototypeOf: () => Object.getPrototypeOf(load()),
      },
    );
  }

  function bundleRequire(id) {
    if (runtimeRequire) return runtimeRequire(id);
    const name = id.startsWith('node:') ? id.slice(5) : id;
    if (supported.has(name)) return builderRequire(id);
    if (settings.functions[name]) {
      if (!standIns.has(name)) standIns.set(name, deferred(id, settings.functions[name]));
      return standIns.get(name);
    }
    unresolved.push(id);
    throw Object.assign(new Error(`Cannot find module '${id}' while the snapshot is built`), { code: 'MODULE_NOT_FOUND' });
  }

  const load = (moduleFunction, file) => {
    const m = { exports: {} };
    moduleFunction.call(m.exports, m.exports, bundleRequire, m, file, dirname(file));
    return m.exports;
  };
  const runner = load(runnerModule, settings.runner);
  const cli = load(cliModule, settings.bundle);
  cli.prepareSnapshot(settings.emptyDir);
  if (unresolved.length) {
    throw new Error(`the preloaded modules require ${unresolved.join(', ')} from node_modules, which a snapshot cannot hold`);
  }

  builderRequire('node:v8').startupSnapshot.setDeserializeMainFunction(() => {
    runtimeRequire = builderRequire('node:module').createRequire(settings.bundle);
    restore();
    if (process.env.ROOMLER_SNAPSHOT !== '0' && runner.bundleFor(settings.entry) === settings.bundle) return cli.main();
    if (process.env.ROOMLER_SNAPSHOT === 'require') {
      process.stderr.write('bin/roomler: ROOMLER_SNAPSHOT=require: a source changed since the startup snapshot was built\n');
      process.exitCode = 1;
      return undefined;
    }
    // A source changed since this snapshot was built: the start without it, which also builds the next one.
    return runtimeRequire(settings.fallback);
  });
}

module.exports = { DIR, ENTRY, FLAGS, ensure, keyFor, restoreEnvironment };
