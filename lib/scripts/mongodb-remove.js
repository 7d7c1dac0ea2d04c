// Deletes documents by _id, for the incremental sync (hack/lib/mongo/sync.ts, docs/mongodb.md). Appended to
// mongodb-inventory.js, which connects and defines `p` and `database`: it runs in mongosh (mongodb-0) and in the legacy
// mongo 4.0 shell (the old container), hence plain ES5. Prints {"removed":<n>} after the inventory's line, when asked to
// remove anything.
//
// The documents: `options.remove` (mongodb-inventory.js: the legacy shell's ROOMLER_INVENTORY global or, in mongosh,
// the JSON file named by PARAMS_FILE), as [{collection, ids: [tagged _id, …]}, …]. Tagged ids: {o: ObjectId hex}, {s: string}, {i: int32},
// {l: int64 as a string}, {d: double}.
if (options.remove) {
  var removed = 0;
  options.remove.forEach(function (selection) {
    var ids = selection.ids.map(function (t) {
      if (t.o !== undefined) return ObjectId(t.o);
      if (t.i !== undefined) return NumberInt(t.i);
      if (t.l !== undefined) return NumberLong(t.l);
      if (t.d !== undefined) return t.d;
      return t.s;
    });
    for (var at = 0; at < ids.length; at += 1000) {
      removed += database.getCollection(selection.collection).deleteMany({ _id: { $in: ids.slice(at, at + 1000) } }).deletedCount;
    }
  });
  print(JSON.stringify({ removed: removed }));
}
