// What changed in one database since an oplog position, for the incremental final sync (hack/lib/mongo/sync.ts,
// docs/migration.md). Appended to mongodb-inventory.js, which connects and defines `p`, `options`, `admin` and
// `database`: it runs in the legacy mongo 4.0 shell (the old container) and in mongosh, hence plain ES5 (both shells
// build Timestamp(t, i) the same way and give a timestamp's t and i).
//
// options.oplog = {since: {t, i} | null} or {latest: true} (where it stands now, nothing read: `last` is the newest
// entry); without it, nothing is read or printed. Prints ONE JSON line after the inventory's:
//   {"oplog":{"present":bool,"first":{t,i}|null,"last":{t,i}|null,"entries":n,"changes":{"<collection>":[tagged _id,…]},
//             "unsupported":"<why>"|null}}
// `last` is the newest entry (or `since` when there is none newer): the next call's `since`. Tagged ids: {o:
// ObjectId hex}, {s: string} or {n: a number of any BSON number type}; an _id of another type, a command (create,
// drop, index builds, renames) or a transaction's applyOps makes the answer `unsupported`, and the caller reads both
// databases whole.
var oplogOptions = options.oplog || {};
var local = admin.getSiblingDB('local');
var oplogAnswer = { present: false, first: null, last: null, entries: 0, changes: {}, unsupported: null };
var position = function (ts) {
  return ts ? { t: ts.t, i: ts.i } : null;
};
if (options.oplog && local.getCollectionNames().indexOf('oplog.rs') >= 0) {
  var oplog = local.getCollection('oplog.rs');
  var firstEntry = oplog.find({}, { ts: 1 }).sort({ $natural: 1 }).limit(1).toArray()[0];
  oplogAnswer.present = true;
  oplogAnswer.first = position(firstEntry && firstEntry.ts);
  var since = oplogOptions.since;
  oplogAnswer.last = since || null;
  var prefix = p.database + '.';
  var tag = function (id) {
    if (typeof id === 'string') return { s: id };
    // A number: the shells give int32 and double alike (and NumberInt, NumberLong, Long as objects), so the value is
    // named and the caller takes every BSON type it may have been stored as.
    if (typeof id === 'number') return { n: id };
    if (id !== null && typeof id === 'object' && typeof id.toNumber === 'function') {
      var n = id.toNumber();
      return Math.abs(n) <= 9007199254740991 ? { n: n } : undefined;
    }
    if (id !== null && typeof id === 'object' && (id._bsontype === 'ObjectId' || id._bsontype === 'ObjectID' || typeof id.str === 'string')) {
      return { o: typeof id.toHexString === 'function' ? id.toHexString() : id.str };
    }
    return undefined;
  };
  var after = function (ts) {
    return !since || ts.t > since.t || (ts.t === since.t && ts.i > since.i);
  };
  // Only what names the document: an insert's entry holds the whole document, which need not cross.
  var fields = { ts: 1, op: 1, ns: 1, 'o._id': 1, 'o2._id': 1, 'o.applyOps': 1, 'o.renameCollection': 1 };
  // Newest first, stopping at the position: what is read grows with what was written since, not with the oplog.
  var cursor = oplog.find({}, fields).sort({ $natural: -1 });
  while (cursor.hasNext()) {
    var e = cursor.next();
    if (!oplogAnswer.entries && (oplogOptions.latest || after(e.ts))) oplogAnswer.last = position(e.ts);
    if (oplogOptions.latest || !after(e.ts)) break;
    oplogAnswer.entries += 1;
    if (oplogAnswer.unsupported || e.op === 'n') continue;
    if (e.op === 'c') {
      // Commands: ns "<db>.$cmd" for this database (create, drop, index builds: their names are not read, see
      // `fields`); applyOps (transactions) and renames are logged on admin.$cmd.
      var command = Object.keys(e.o || {})[0];
      if (e.ns === prefix + '$cmd' || command === 'applyOps' || command === 'renameCollection') {
        oplogAnswer.unsupported = 'the oplog holds a command' + (command ? ': ' + command : '') + ' on ' + e.ns;
      }
      continue;
    }
    if (e.ns.indexOf(prefix) !== 0) continue;
    var collection = e.ns.slice(prefix.length);
    if (collection.indexOf('system.') === 0) continue; // mongodump leaves them out too
    var id = e.op === 'u' ? e.o2 && e.o2._id : e.o && e.o._id;
    var tagged = tag(id);
    if (tagged === undefined) {
      oplogAnswer.unsupported = 'an _id in ' + collection + ' that is not an ObjectId, a string or a number';
      continue;
    }
    (oplogAnswer.changes[collection] = oplogAnswer.changes[collection] || []).push(tagged);
  }
  if (typeof cursor.close === 'function') cursor.close();
}
if (options.oplog) print(JSON.stringify({ oplog: oplogAnswer }));
