// Digests of a database from a mongodump archive (`mongodump --archive`, not gzipped): one digest per document, the
// MD5 of its raw BSON bytes as the server returned them, keyed by its raw `_id` (BSON type byte + value, hex). Two
// databases hold the same documents exactly when these agree, whatever their server versions: mongorestore inserts
// the dumped bytes unchanged. The incremental sync (hack/lib/mongo/sync.ts) compares the digests of both sides to copy
// only what differs, then proves them equal (docs/mongodb.md).
//
// Runs in Node (require()d by the host side, which digests the old container's dump stream) and in mongosh inside the
// mongodb pod (`mongodump --archive | mongosh --nodb --eval "<this file>; ROOMLER_DIGEST_MAIN()"`), so it uses only
// what both have: Buffer, require('crypto'), require('fs'). No third-party code: the pod has none. Several archives
// may follow one another on the same stream (a loop of mongodump runs, one per query).
//
// The archive format (mongo-tools' archive spec): magic number 0x8199e26d, a prelude header document, collection
// metadata documents, a terminator (int32 -1), then namespace segments, possibly interleaved: a namespace header
// document {db, collection, EOF: false}, documents, a terminator; and per namespace a final header {EOF: true, CRC}
// followed by a terminator.
//
// Output of the pod side, one record per line, tab-separated (collection names JSON-encoded):
//   N <n> <name>                   collection number n is <name> (before its first document)
//   D <n> <_id hex> <digest>       one document: the first 16 hex digits of its MD5
//   S <n> <count> <fingerprint>    per collection at the end: documents and the sum of their digests mod 2^64
//   I <n> <indexes>                its index definitions from the dump's metadata (normalized, JSON)
//   E <documents> <bytes>          the stream was complete
'use strict';

var ARCHIVE_MAGIC = 0x8199e26d;
var TERMINATOR = -1;

/** Offset just past the element value of `type` starting at `at` in `b` (BSON spec sizes). */
function skipValue(b, type, at) {
  switch (type) {
    case 0x01: case 0x09: case 0x11: case 0x12: return at + 8; // double, datetime, timestamp, int64
    case 0x02: case 0x0d: case 0x0e: return at + 4 + b.readInt32LE(at); // string, code, symbol
    case 0x03: case 0x04: case 0x0f: return at + b.readInt32LE(at); // document, array, code with scope
    case 0x05: return at + 5 + b.readInt32LE(at); // binary: length, subtype, bytes
    case 0x06: case 0x0a: case 0xff: case 0x7f: return at; // undefined, null, minKey, maxKey
    case 0x07: return at + 12; // ObjectId
    case 0x08: return at + 1; // bool
    case 0x0b: return b.indexOf(0, b.indexOf(0, at) + 1) + 1; // regex: two cstrings
    case 0x0c: return at + 4 + b.readInt32LE(at) + 12; // DBPointer
    case 0x10: return at + 4; // int32
    case 0x13: return at + 16; // decimal128
    default: throw new Error('unknown BSON type 0x' + type.toString(16) + ' at byte ' + at);
  }
}

/** The top-level fields of a small document (headers) as plain values: strings, booleans, numbers. */
function headerFields(b) {
  var out = {};
  var at = 4;
  var end = b.readInt32LE(0) - 1;
  while (at < end) {
    var type = b[at];
    var nameEnd = b.indexOf(0, at + 1);
    var name = b.toString('utf8', at + 1, nameEnd);
    var v = nameEnd + 1;
    if (type === 0x02) out[name] = b.toString('utf8', v + 4, v + 4 + b.readInt32LE(v) - 1);
    else if (type === 0x08) out[name] = b[v] === 1;
    else if (type === 0x10) out[name] = b.readInt32LE(v);
    at = skipValue(b, type, v);
  }
  return out;
}

/** The raw `_id` of a document: its type byte and value bytes, hex; undefined when it has none. */
function rawId(b) {
  var at = 4;
  var end = b.readInt32LE(0) - 1;
  while (at < end) {
    var type = b[at];
    var nameEnd = b.indexOf(0, at + 1);
    var v = nameEnd + 1;
    var next = skipValue(b, type, v);
    if (nameEnd - at === 4 && b[at + 1] === 0x5f && b[at + 2] === 0x69 && b[at + 3] === 0x64) {
      return type.toString(16).padStart(2, '0') + b.toString('hex', v, next);
    }
    at = next;
  }
  return undefined;
}

/**
 * A push parser of the archive: `push(chunk)` as bytes arrive, `end()` once they stop. Calls `onDocument(db,
 * collection, bytes)` for every document (bytes: a Buffer of exactly that document, valid during the call only) and
 * `onMetadata(db, collection, metadataJson)` for every collection's metadata.
 */
function ArchiveReader(handlers) {
  this.handlers = handlers;
  this.buffer = Buffer.alloc(0);
  this.state = 'magic';
  this.namespace = undefined;
  this.bytes = 0;
}
ArchiveReader.prototype.push = function (chunk) {
  this.bytes += chunk.length;
  var b = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
  var at = 0;
  for (;;) {
    if (this.state === 'magic') {
      if (b.length - at < 4) break;
      if (b.readUInt32LE(at) !== ARCHIVE_MAGIC) throw new Error('not a mongodump archive (no magic number): was it gzipped?');
      at += 4;
      this.state = 'prelude';
      continue;
    }
    if (b.length - at < 4) break;
    if (this.state === 'header' && b.readUInt32LE(at) === ARCHIVE_MAGIC) {
      // Archives back to back (one per query, from a loop of mongodump runs): the next one begins.
      at += 4;
      this.state = 'prelude';
      continue;
    }
    var size = b.readInt32LE(at);
    if (size === TERMINATOR) {
      at += 4;
      if (this.state === 'metadata') this.state = 'header';
      else if (this.state === 'body' || this.state === 'eof') this.state = 'header';
      else throw new Error('unexpected terminator in state ' + this.state);
      continue;
    }
    if (size < 5) throw new Error('corrupt archive: a document of ' + size + ' bytes');
    if (b.length - at < size) break;
    var doc = b.subarray(at, at + size);
    at += size;
    if (this.state === 'prelude') {
      this.state = 'metadata';
    } else if (this.state === 'metadata') {
      var m = headerFields(doc);
      if (this.handlers.onMetadata) this.handlers.onMetadata(m.db, m.collection, m.metadata);
    } else if (this.state === 'header') {
      var h = headerFields(doc);
      this.namespace = { db: h.db, collection: h.collection };
      this.state = h.EOF ? 'eof' : 'body';
    } else if (this.state === 'body') {
      this.handlers.onDocument(this.namespace.db, this.namespace.collection, doc);
    } else {
      throw new Error('unexpected document after the end of ' + this.namespace.collection);
    }
  }
  this.buffer = at < b.length ? Buffer.from(b.subarray(at)) : Buffer.alloc(0);
};
ArchiveReader.prototype.end = function () {
  if (this.buffer.length) throw new Error('the archive ends in the middle of a document (' + this.buffer.length + ' bytes left)');
  if (this.state !== 'header') throw new Error('the archive ends early (in ' + this.state + ')');
};

var MASK_64 = (BigInt(1) << BigInt(64)) - BigInt(1);

/** Extended JSON number wrappers ({"$numberInt": "1"}, as the 100.x tools write metadata) as plain numbers. */
function plainNumbers(v) {
  if (Array.isArray(v)) return v.map(plainNumbers);
  if (v === null || typeof v !== 'object') return v;
  var keys = Object.keys(v);
  if (keys.length === 1 && (keys[0] === '$numberInt' || keys[0] === '$numberLong' || keys[0] === '$numberDouble')) return Number(v[keys[0]]);
  var out = {};
  keys.forEach(function (k) {
    out[k] = plainNumbers(v[k]);
  });
  return out;
}

// Fields that differ between server and tool versions for the same index: the index version, the namespace (4.0
// lists it) and the build option `background` (ignored since 4.2). The rest is compared, in a fixed key order: the
// same form as mongodb-inventory.js gives.
var IGNORED_INDEX_FIELDS = { v: true, ns: true, background: true };

/** A collection's index definitions from its dump metadata (a JSON string), normalized and sorted by name. */
function indexesOf(metadataJson) {
  var indexes = (metadataJson ? JSON.parse(metadataJson).indexes : undefined) || [];
  return indexes
    .map(function (spec) {
      var plain = plainNumbers(spec);
      var out = {};
      Object.keys(plain).sort().forEach(function (k) {
        if (!IGNORED_INDEX_FIELDS[k]) out[k] = plain[k];
      });
      return out;
    })
    .sort(function (a, b) {
      return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
    });
}

/**
 * Digests every document of one database: per collection the count, the sum of the digests and (when `keep` says so;
 * all by default) a Map of raw _id hex -> digest. `summary()` gives {count, fingerprint} per collection.
 */
function Digester(database, keep) {
  this.database = database;
  this.keep = keep || function () { return true; };
  this.collections = {};
  this.documents = 0;
  var crypto = require('crypto');
  var self = this;
  this.reader = new ArchiveReader({
    onDocument: function (db, collection, bytes) {
      if (db !== self.database) return;
      var c = self.collections[collection];
      if (!c) c = self.collections[collection] = { count: 0, sum: BigInt(0), ids: self.keep(collection) ? new Map() : undefined };
      var digest = crypto.createHash('md5').update(bytes).digest('hex').slice(0, 16);
      var id = rawId(bytes);
      if (id === undefined) throw new Error(collection + ': a document without _id');
      c.count += 1;
      c.sum = (c.sum + BigInt('0x' + digest)) & MASK_64;
      if (c.ids) c.ids.set(id, digest);
      self.documents += 1;
      if (self.onDocument) self.onDocument(collection, id, digest);
    },
    onMetadata: function (db, collection, metadata) {
      if (db !== self.database) return;
      if (!self.collections[collection]) self.collections[collection] = { count: 0, sum: BigInt(0), ids: self.keep(collection) ? new Map() : undefined };
      self.collections[collection].indexes = indexesOf(metadata);
    },
  });
}
Digester.prototype.push = function (chunk) { this.reader.push(chunk); };
Digester.prototype.end = function () { this.reader.end(); };
Digester.prototype.summary = function () {
  var out = {};
  var self = this;
  Object.keys(this.collections).sort().forEach(function (name) {
    var c = self.collections[name];
    out[name] = { count: c.count, fingerprint: c.sum.toString(16).padStart(16, '0'), indexes: c.indexes || [] };
  });
  return out;
};

/** Blocks this thread for `ms` (a pipe that is not ready: mongosh sets its stdio non-blocking). */
function pause(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** mongosh in the pod: the archive on stdin, records on stdout (see the top of this file). */
function main(database) {
  var fs = require('fs');
  var numbers = {};
  var next = 0;
  var out = [];
  var outBytes = 0;
  var flush = function () {
    if (!out.length) return;
    var text = out.join('');
    out = [];
    outBytes = 0;
    var buf = Buffer.from(text, 'utf8');
    for (var off = 0; off < buf.length; ) {
      try {
        off += fs.writeSync(1, buf, off, buf.length - off);
      } catch (e) {
        if (e.code !== 'EAGAIN') throw e;
        pause(1);
      }
    }
  };
  var emit = function (line) {
    out.push(line + '\n');
    outBytes += line.length + 1;
    if (outBytes > 65536) flush();
  };
  var numberOf = function (collection) {
    if (!(collection in numbers)) {
      numbers[collection] = next++;
      emit('N\t' + numbers[collection] + '\t' + JSON.stringify(collection));
    }
    return numbers[collection];
  };
  var d = new Digester(database, function () { return false; });
  d.onDocument = function (collection, id, digest) {
    emit('D\t' + numberOf(collection) + '\t' + id + '\t' + digest);
  };
  var chunk = Buffer.alloc(1 << 20);
  for (;;) {
    var n;
    try {
      n = fs.readSync(0, chunk, 0, chunk.length, null);
    } catch (e) {
      if (e.code === 'EOF') break;
      if (e.code !== 'EAGAIN') throw e;
      pause(1);
      continue;
    }
    if (n === 0) break;
    d.push(chunk.subarray(0, n));
  }
  d.end();
  var s = d.summary();
  Object.keys(s).forEach(function (name) {
    emit('S\t' + numberOf(name) + '\t' + s[name].count + '\t' + s[name].fingerprint);
    emit('I\t' + numberOf(name) + '\t' + JSON.stringify(s[name].indexes));
  });
  emit('E\t' + d.documents + '\t' + d.reader.bytes);
  flush();
}

if (typeof module !== 'undefined' && module.exports) {
  module.exports = { ArchiveReader: ArchiveReader, Digester: Digester, rawId: rawId, indexesOf: indexesOf, main: main };
}
// In mongosh: `--eval "<this file>\nROOMLER_DIGEST_MAIN('<database>')"`.
var ROOMLER_DIGEST_MAIN = main;
