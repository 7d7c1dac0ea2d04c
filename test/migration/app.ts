// The Roomler app as the rehearsal needs it, one process per "container": the old app (r00mler2, on its own
// loopback address) and the new one (on the app's NodePort), each writing to its own MongoDB (a FerretDB):
//   node --require tsx/cjs app.ts '{"name":"old:app","host":"127.0.0.2","port":0}'   (MONGO_URI in the environment)
// GET answers "<name> <url>" (the cutover lab tells backends apart by it); POST /write?id=N inserts {_id: N} and
// answers 200 only once the server acknowledged the insert. Prints {"ready":port} once listening.
import http from 'node:http';

import { MongoClient } from 'mongodb';

const spec = JSON.parse(process.argv[2]) as { name: string; host: string; port: number };
const client = new MongoClient(process.env.MONGO_URI!, { serverSelectionTimeoutMS: 2000 });
const writes = client.db('roomlerdb').collection<{ _id: number; at: Date; by: string }>('writes');

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (req.method === 'POST' && url.pathname === '/write') {
    const id = Number(url.searchParams.get('id'));
    writes.insertOne({ _id: id, at: new Date(), by: spec.name }).then(
      () => (res.writeHead(200, { 'x-backend': spec.name }), res.end(`${spec.name} ok ${id}\n`)),
      (e: Error) => (res.writeHead(500), res.end(`${spec.name} failed: ${e.message}\n`)),
    );
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': spec.name });
  res.end(`${spec.name} ${req.url}\n`);
});
server.keepAliveTimeout = 60_000;
server.listen(spec.port, spec.host, () =>
  process.stdout.write(`${JSON.stringify({ ready: (server.address() as { port: number }).port })}\n`),
);
process.on('SIGTERM', () => {
  server.close();
  void client.close().finally(() => process.exit(0));
});
