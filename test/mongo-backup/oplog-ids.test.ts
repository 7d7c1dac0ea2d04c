import { join } from 'node:path';

import { BSON, Double, Int32, Long, ObjectId } from 'mongodb';
import { describe, expect, it } from 'vitest';

import { parseOplog, rawsOfTagged } from '../../hack/lib/mongo/sides';
import { ROOT } from '../support/roomler';

// The _ids the oplog script prints (tagged: the shells' view) against the raw _ids the digests key documents by (read
// from real BSON by lib/scripts/mongodb-digest.js): the incremental sync matches the two, so they must agree.

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { rawId } = require(join(ROOT, 'lib', 'scripts', 'mongodb-digest.js')) as { rawId: (b: Buffer) => string };
const raw = (id: unknown) => rawId(Buffer.from(BSON.serialize({ _id: id, x: 1 })));

describe('oplog _ids and the digests agree on every _id the oplog can name', () => {
  it('an ObjectId and a string (also non-ASCII and empty) are one raw _id each, the very one the document is keyed by', () => {
    const oid = new ObjectId();
    expect(rawsOfTagged({ o: oid.toHexString() })).toEqual([raw(oid)]);
    for (const s of ['invite:1', 'grüße 🎉', '']) expect(rawsOfTagged({ s })).toEqual([raw(s)]);
  });

  it('a number is every BSON number type that holds it: int32, int64 and double for 7; int64 and double past int32; double only for 1.5', () => {
    expect(rawsOfTagged({ n: 7 })).toEqual([raw(new Int32(7)), raw(Long.fromNumber(7)), raw(new Double(7))]);
    expect(rawsOfTagged({ n: -(2 ** 31) })).toContain(raw(new Int32(-(2 ** 31))));
    expect(rawsOfTagged({ n: 2 ** 40 })).toEqual([raw(Long.fromNumber(2 ** 40)), raw(new Double(2 ** 40))]);
    expect(rawsOfTagged({ n: 1.5 })).toEqual([raw(new Double(1.5))]);
  });

  it("reads the script's line among a shell's other output, names each document once, and says what it cannot apply", () => {
    const oid = new ObjectId();
    const line = JSON.stringify({
      oplog: {
        present: true,
        first: { t: 1, i: 1 },
        last: { t: 9, i: 3 },
        entries: 5,
        changes: { users: [{ o: oid.toHexString() }, { o: oid.toHexString() }], counters: [{ n: 7 }] },
        unsupported: null,
      },
    });
    const read = parseOplog(`Warning: could not access file\n{"collections":{},"indexes":{}}\n${line}\n`, 'container mongo');
    expect(read.changes).toEqual({ users: [raw(oid)], counters: rawsOfTagged({ n: 7 }) });
    expect(read.named).toBe(2);
    expect(read.last).toEqual({ t: 9, i: 3 });
    expect(() => parseOplog('MongoServerError: not authorized on local\n', 'container mongo')).toThrow(
      'reading the oplog in container mongo gave no answer: MongoServerError: not authorized on local',
    );
  });
});
