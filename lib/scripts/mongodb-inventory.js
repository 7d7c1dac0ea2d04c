// Inventory of one database: document counts and index definitions per collection, printed as ONE JSON line
//   {"collections":{"<name>":<count>,…},"indexes":{"<name>":[<index spec>,…],…}}
// It runs in mongosh (the backup CronJobs; the mongodb pod for `bin/roomler migrate mongo`) AND in the legacy mongo 4.0
// shell of the old Docker container (the migration's source), hence plain ES5 and no mongosh-only API outside the
// branch the legacy shell never takes.
//
// Parameters: a global ROOMLER_INVENTORY = {host, database, user, password} defined before this file (the legacy
// shell has no process.env and no fs), or else the environment:
//   MONGO_HOST   host:port
//   DATABASE     the database
//   SECRET_DIR   directory of the credential files (lib/config/names.ts MONGODB_CREDENTIALS); unset for a server
//                without auth (the restore test's throw-away one)
//   DUMP_CONFIG  when set, also write a mongo-tools --config file (0600) with the same credentials, so that mongodump
//                and mongorestore never see them on a command line (tools print this uri on errors: callers filter it)
var p;
if (typeof ROOMLER_INVENTORY !== 'undefined') {
  p = ROOMLER_INVENTORY;
} else {
  var fs = require('fs');
  var env = process.env;
  // Like the image's entrypoint reads MONGO_INITDB_ROOT_*_FILE: the whole file except trailing newlines.
  var secret = function (key) {
    return fs.readFileSync(env.SECRET_DIR + '/' + key, 'utf8').replace(/\n+$/, '');
  };
  p = { host: env.MONGO_HOST, database: env.DATABASE };
  if (env.SECRET_DIR) {
    p.user = secret('MONGO_INITDB_ROOT_USERNAME');
    p.password = secret('MONGO_INITDB_ROOT_PASSWORD');
  }
  if (env.DUMP_CONFIG) {
    var userinfo = p.user === undefined ? '' : encodeURIComponent(p.user) + ':' + encodeURIComponent(p.password) + '@';
    // 384 = 0600 (no octal literal: the legacy shell must still parse this file).
    fs.writeFileSync(env.DUMP_CONFIG, 'uri: "mongodb://' + userinfo + p.host + '/?authSource=admin"\n', { mode: 384 });
  }
}

var admin = connect(p.host + '/admin');
// mongosh throws on refused credentials; the legacy shell returns 0 and prints a warning.
if (p.user !== undefined && !admin.auth(p.user, p.password)) throw new Error('Authentication failed for user ' + p.user);

// What the caller asks beyond the inventory (read by the scripts appended to this one, and `fastCount` here): the
// legacy shell's ROOMLER_INVENTORY global itself, or the JSON file named by its `paramsFile` (the legacy shell) or by
// PARAMS_FILE (mongosh). That file is read once connected: a shell started ahead (hack/lib/mongo/sides.ts) says so
// with the line {"ready":true} and waits, its start and its connection paid by the time the caller needs the answer.
var paramsFile = p.paramsFile || (typeof process !== 'undefined' && process.env && process.env.PARAMS_FILE);
var options = p;
if (paramsFile) {
  print(JSON.stringify({ ready: true }));
  options = JSON.parse(awaitFile(paramsFile));
}

// The parameters, once they have all come. mongosh reads a FIFO, which blocks until the writer closes it. The legacy
// shell has no fs and no blocking read: the file is renamed into place whole when the parameters come, and its
// natives listFiles() and cat() look for it and read it.
function awaitFile(file) {
  if (typeof listFiles !== 'function') return require('fs').readFileSync(file, 'utf8');
  var slash = file.lastIndexOf('/');
  var dir = file.slice(0, slash);
  var base = file.slice(slash + 1);
  var present = function (f) {
    return String(f.name).split('/').pop() === base;
  };
  while (!listFiles(dir).some(present)) sleep(10);
  return cat(file);
}

// Fields that differ between server versions for the same index: the index version, the namespace (4.0 lists it,
// 4.4+ does not) and the build option `background` (ignored since 4.2). The rest is compared, in a fixed key order.
var IGNORED = { v: true, ns: true, background: true };
function normalize(spec) {
  var out = {};
  Object.keys(spec).sort().forEach(function (k) {
    if (!IGNORED[k]) out[k] = spec[k];
  });
  return out;
}

// A count as a number: a command's answer may hold an Int32/Long object (mongosh) or a NumberLong (legacy shell).
function asNumber(n) {
  if (n !== null && typeof n === 'object') return typeof n.toNumber === 'function' ? n.toNumber() : Number(n.valueOf());
  return n;
}

var database = admin.getSiblingDB(p.database);
var inventory = { collections: {}, indexes: {} };
// noInventory: only connect, for a script appended to this one (a removal needs no counts).
(options.noInventory ? [] : database.getCollectionNames())
  .filter(function (name) {
    return name.indexOf('system.') !== 0; // mongodump leaves them out too
  })
  .sort()
  .forEach(function (name) {
    var c = database.getCollection(name);
    // fastCount: the count the storage engine keeps (the count command without a query answers from the collection's
    // metadata), no scan: exact on a server shut down cleanly, and the incremental sync checks it against the documents
    // it knows (hack/lib/mongo/sync.ts). Else every document counted.
    if (options.fastCount) inventory.collections[name] = asNumber(database.runCommand({ count: name }).n);
    else inventory.collections[name] = typeof c.countDocuments === 'function' ? c.countDocuments({}) : c.count();
    inventory.indexes[name] = c
      .getIndexes()
      .map(normalize)
      .sort(function (a, b) {
        return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
      });
  });
if (!options.noInventory) print(JSON.stringify(inventory));
