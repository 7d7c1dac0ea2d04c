#!/usr/bin/env node
// Runs a TypeScript entry point from a cached esbuild bundle: `node lib/bundle-run.cjs main.ts`.
//
// Why: loading ~40 TypeScript files through a transpiling require hook (tsx) costs ~0.5 s on every synth,
// and type-checking ts-node several times that (BENCHMARKS.md). A bundle keyed by the sources' sizes and
// mtimes is rebuilt only when a source changed (~0.3 s once) and loads in one read. Type-checking stays in
// `npm test`. Each module keeps its own `__dirname`, so files found relative to the source still resolve.
'use strict';
const { createHash } = require('node:crypto');
const { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } = require('node:fs');
const { dirname, join, relative, resolve } = require('node:path');

const root = resolve(__dirname, '..');

/** `path:size:mtime` of every source file under `rel` (relative to the root); directories are not stat'ed. */
function sources(rel, out) {
  for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
    const name = entry.name;
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = `${rel}/${name}`;
    if (entry.isDirectory()) sources(p, out);
    else if (/\.(ts|js|cjs|json|sh)$/.test(name)) {
      const s = statSync(join(root, p));
      out.push(`${p}:${s.size}:${s.mtimeMs}`);
    }
  }
  return out;
}

/**
 * The bundle file for `entry`, named by a signature of every source it may include (and of the vendored schemas,
 * which the startup snapshot holds loaded). The startup snapshot checks it at every start (~1 ms).
 */
function bundleFor(entry) {
  const files = ['main.ts', 'package.json', 'package-lock.json', 'tsconfig.json']
    .filter((f) => existsSync(join(root, f)))
    .map((f) => `${f}:${statSync(join(root, f)).mtimeMs}`);
  const dirs = ['lib', 'hack', 'imports', 'bench', 'schemas'].filter((d) => existsSync(join(root, d))).flatMap((d) => sources(d, []));
  const signature = createHash('sha256')
    .update([entry, process.version, ...files, ...dirs].join('\n'))
    .digest('hex')
    .slice(0, 16);
  return join(cacheDir, `${relative(root, entry).replace(/[\/.]/g, '_')}-${signature}.cjs`);
}
const cacheDir = join(root, 'node_modules', '.cache', 'roomler-bundle');

async function build(entry, bundle) {
  const esbuild = require('esbuild');
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${bundle}.${process.pid}.tmp`;
  await esbuild.build({
    entryPoints: [entry],
    outfile: tmp,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${process.versions.node.split('.')[0]}`,
    logLevel: 'warning',
    plugins: [
      {
        name: 'keep-dirname',
        setup(b) {
          b.onLoad({ filter: /\.ts$/ }, (args) => ({
            contents: readFileSync(args.path, 'utf8').replace(/\b__dirname\b/g, JSON.stringify(dirname(args.path))),
            loader: 'ts',
          }));
        },
      },
    ],
  });
  renameSync(tmp, bundle);
  pruneStale(bundle);
}

/**
 * Bundles of the same entry built from earlier sources (each ~5 MB, with its code cache): removed once a newer one is
 * written, when not touched for an hour (a run still under way on the old sources has read its bundle by then).
 */
function pruneStale(bundle) {
  const name = bundle.slice(cacheDir.length + 1);
  const prefix = name.slice(0, name.lastIndexOf('-') + 1);
  const hourAgo = Date.now() - 3600_000;
  for (const f of readdirSync(cacheDir)) {
    if (!f.startsWith(prefix) || f.startsWith(name) || !/^[0-9a-f]{16}\.cjs(\.v8cache)?$/.test(f.slice(prefix.length))) continue;
    try {
      if (statSync(join(cacheDir, f)).mtimeMs < hourAgo) rmSync(join(cacheDir, f));
    } catch {
      /* removed meanwhile */
    }
  }
}

/**
 * `require(bundle)` with a V8 code cache beside it: compiling the 2.6 MB bundle is a fixed cost of every
 * command (measured: loading it took ~136 ms with a plain require, ~100 ms from the cache; the `backup
 * run` budget in BENCHMARKS.md is 10 % over plain rsync). The cache is written once, at exit, so it also holds the functions the
 * command compiled while running; V8 rejects a cache from another V8 or for other source, and it is rewritten.
 */
function requireCached(bundle) {
  const Module = require('node:module');
  const vm = require('node:vm');
  const cacheFile = `${bundle}.v8cache`;
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    /* first run */
  }
  const script = new vm.Script(Module.wrap(readFileSync(bundle, 'utf8')), { filename: bundle, cachedData });
  const m = new Module(bundle, module);
  m.filename = bundle;
  m.paths = Module._nodeModulePaths(dirname(bundle));
  require.cache[bundle] = m;
  if (!cachedData || script.cachedDataRejected) {
    process.once('exit', () => {
      try {
        const tmp = `${cacheFile}.${process.pid}.tmp`;
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, cacheFile);
      } catch {
        /* a read-only checkout runs without the cache */
      }
    });
  }
  script.runInThisContext().call(m.exports, m.exports, Module.createRequire(bundle), m, bundle, dirname(bundle));
  m.loaded = true;
  return m.exports;
}

/** Loads `entry` from its bundle (built first when a source changed); resolves to the entry's exports. */
async function load(entry) {
  const bundle = bundleFor(entry);
  try {
    if (!existsSync(bundle)) await build(entry, bundle);
  } catch (e) {
    process.stderr.write(`bundle-run: could not build ${relative(root, entry)}: ${e.message}\n`);
    process.exit(1);
  }
  return requireCached(bundle);
}

module.exports = { bundleFor, cacheDir, load, root };

if (require.main === module) {
  const entry = resolve(process.argv[2] ?? 'main.ts');
  process.argv.splice(1, 2, entry); // the entry sees the argv it would see under `node entry`
  load(entry);
}
