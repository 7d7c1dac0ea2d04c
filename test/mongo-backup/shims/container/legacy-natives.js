// The legacy mongo shell's native functions that mongosh replaced with Node's fs (MongoDB's "Native Methods in the
// Legacy Shell"), as the legacy shell has them: listFiles(dir) lists a directory's entries as {name: the path,
// baseName, isDirectory, size}; cat(file) returns a file's contents as a string. Loaded before the script by the
// stand-in `mongo` beside this file.
var legacyFs = require('fs');
listFiles = function (dir) {
  return legacyFs.readdirSync(dir).map(function (n) {
    var st = legacyFs.statSync(dir + '/' + n);
    var entry = { name: dir + '/' + n, baseName: n, isDirectory: st.isDirectory() };
    if (!entry.isDirectory) entry.size = st.size;
    return entry;
  });
};
cat = function (file) {
  return legacyFs.readFileSync(file, 'utf8');
};
