// mongosh --nodb --quiet --norc --file mongodb-manifest.js
// Writes or checks an archive's manifest; any problem is one line on stderr and exit 1.
//
// MODE=write  (mongodb-backup.sh) MANIFEST=<out> INVENTORY=<mongodb-inventory.js output, taken before the dump>
//             DUMP_LOG=<mongodump's stderr> DATABASE CREATED_AT BYTES SHA256
//   The counts are the ones mongodump reports for what it wrote ("done dumping `db.c` (N documents)"), not the
//   inventory's: counts taken before a dump of a live database are lower than what the archive holds. The inventory
//   must be exactly one JSON line (mongosh puts warnings, e.g. about an unwritable HOME, on stdout), and the written
//   manifest is read back and parsed before the job may succeed.
// MODE=check  (mongodb-restore-test.sh) MANIFEST ARCHIVE INVENTORY=<inventory of the server it was restored into>
//   Prints one summary line when the restored counts and index definitions equal the manifest's.
const fs = require('fs');
const env = process.env;
// mongosh's console.error writes to stdout (measured, 2.12.0).
const fail = (msg) => {
  process.stderr.write(`${msg}\n`);
  quit(1);
};

function readJsonLine(file, what) {
  const text = fs.readFileSync(file, 'utf8').replace(/\n$/, '');
  const first = text.split('\n')[0];
  try {
    if (text.includes('\n')) throw new Error('more than one line');
    return JSON.parse(text);
  } catch (e) {
    fail(`${what} does not parse as one JSON line (${e.message}): ${first.slice(0, 200)}`);
  }
}

const summary = (counts, indexes) => {
  const docs = Object.values(counts).reduce((a, b) => a + b, 0);
  const idx = Object.values(indexes).reduce((a, l) => a + l.length, 0);
  return `${Object.keys(counts).length} collections, ${docs} documents, ${idx} indexes`;
};

if (env.MODE === 'write') {
  const inventory = readJsonLine(env.INVENTORY, 'the inventory mongosh printed');
  const dumped = {};
  // mongo-tools 100.x quote the namespace in backticks; older ones did not.
  const prefix = `${env.DATABASE}.`;
  for (const m of fs.readFileSync(env.DUMP_LOG, 'utf8').matchAll(/done dumping `?([^`\n]+?)`? \((\d+) documents?\)/g)) {
    if (m[1].startsWith(prefix)) dumped[m[1].slice(prefix.length)] = Number(m[2]);
  }
  const unreported = Object.keys(inventory.collections).filter((c) => !(c in dumped));
  if (unreported.length) fail(`mongodump reported no count for ${unreported.join(', ')}`);
  const collections = Object.fromEntries(Object.keys(dumped).sort().map((c) => [c, dumped[c]]));
  const indexes = Object.fromEntries(Object.keys(collections).map((c) => [c, inventory.indexes[c] ?? []]));
  const manifest = { database: env.DATABASE, createdAt: env.CREATED_AT, collections, indexes, bytes: Number(env.BYTES), sha256: env.SHA256 };
  fs.writeFileSync(env.MANIFEST, `${JSON.stringify(manifest)}\n`);
  readJsonLine(env.MANIFEST, 'the manifest just written');
  print(summary(collections, indexes));
} else if (env.MODE === 'check') {
  const manifest = readJsonLine(env.MANIFEST, 'the manifest');
  const restored = readJsonLine(env.INVENTORY, 'the inventory of the restored server');
  const diffs = [];
  for (const c of [...new Set([...Object.keys(manifest.collections), ...Object.keys(restored.collections)])].sort()) {
    const [want, have] = [manifest.collections[c], restored.collections[c]];
    if (want !== have) diffs.push(`${c}: restored ${have ?? 'nothing'}, manifest says ${want ?? 'no such collection'}`);
    const [wantIdx, haveIdx] = [JSON.stringify(manifest.indexes?.[c] ?? []), JSON.stringify(restored.indexes[c] ?? [])];
    if (want !== undefined && have !== undefined && wantIdx !== haveIdx) diffs.push(`${c}: restored indexes ${haveIdx}, manifest says ${wantIdx}`);
  }
  if (diffs.length) fail(`${env.ARCHIVE}: ${diffs.join('; ')}`);
  print(summary(restored.collections, restored.indexes));
} else {
  fail(`MODE must be write or check, not ${env.MODE}`);
}
