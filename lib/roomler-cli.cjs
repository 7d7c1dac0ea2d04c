'use strict';
// bin/roomler without its startup snapshot: the command runs from the cached bundle (lib/bundle-run.cjs), as every
// command did before the snapshot existed. Reached when there is no snapshot for this node binary yet, when a source
// changed since it was built, or with ROOMLER_SNAPSHOT=0. Builds the snapshot for the next start first (~1 s, once
// per source change; lib/startup-snapshot.cjs) unless that is turned off or failed before.
const { ENTRY, ensure, restoreEnvironment } = require('./startup-snapshot.cjs');

restoreEnvironment();

require('./bundle-run.cjs')
  .load(ENTRY)
  .then((cli) => {
    ensure();
    cli.main();
  });
