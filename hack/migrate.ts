import { main, UserError } from './lib/cli';

// `npm run migrate -- <mongo|uploads> [options]`: one-time moves off the old Docker host.
main('migrate', async (argv) => {
  const [what, ...rest] = argv;
  switch (what) {
    case 'mongo':
      return (await import('./lib/migrate-mongo')).migrateMongo(rest);
    case 'uploads':
      return (await import('./lib/migrate-uploads')).migrateUploads(rest);
    default:
      throw new UserError(`usage: npm run migrate -- <mongo|uploads> [options] (got ${what ?? 'nothing'})`, 2);
  }
});
