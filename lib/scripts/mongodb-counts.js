// mongosh --nodb --quiet --file mongodb-counts.js
// Connects with the credentials from the mounted Secret files (never argv), prints per-collection document
// counts as JSON, and, when DUMP_CONFIG is set, writes the mongodump --config file (0600) with the same
// credentials so that mongodump never sees them on its command line either.
const fs = require('fs');
const env = process.env;
const read = (key) => fs.readFileSync(`${env.SECRET_DIR}/${key}`, 'utf8').trim();
const user = encodeURIComponent(read('MONGO_INITDB_ROOT_USERNAME'));
const pass = encodeURIComponent(read('MONGO_INITDB_ROOT_PASSWORD'));
const uri = `mongodb://${user}:${pass}@${env.MONGO_HOST}/?authSource=admin`;
if (env.DUMP_CONFIG) fs.writeFileSync(env.DUMP_CONFIG, `uri: "${uri}"\n`, { mode: 0o600 });
const db = connect(uri).getSiblingDB(env.DATABASE);
const counts = {};
for (const name of db.getCollectionNames().sort()) counts[name] = db.getCollection(name).countDocuments({});
print(JSON.stringify(counts));
