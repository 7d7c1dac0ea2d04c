import { main, UserError } from './lib/cli';
import { migrateMongo } from './lib/migrate-mongo';
import { migrateUploads } from './lib/migrate-uploads';

// `npm run migrate -- <mongo|uploads> [options]`: one-time moves off the old Docker host.
main('migrate', async (argv) => {
  const [what, ...rest] = argv;
  switch (what) {
    case 'mongo':
      return migrateMongo(rest);
    case 'uploads':
      return migrateUploads(rest);
    default:
      throw new UserError(`usage: npm run migrate -- <mongo|uploads> [options] (got ${what ?? 'nothing'})`, 2);
  }
});
