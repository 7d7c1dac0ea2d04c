/**
 * The fast tier (`npm run test:fast`, under 30 s): pure logic, in-process — config, charts and constructs,
 * validators, planners, parsers, the credentials checked against openssl. No daemon, no network, no lab cluster,
 * no bin/roomler process. Everything else is the full tier. `npm test` runs both in one vitest run, this tier first
 * (sequence.groupOrder), so a reporter (.ci/run's JSON) counts every test.
 */
export const FAST: readonly string[] = [
  'test/charts/invariants.test.ts',
  'test/charts/roomler-chart.test.ts',
  'test/charts/yaml-block.test.ts',
  'test/config/config.test.ts',
  'test/config/instances.test.ts',
  'test/config/schema-and-example.test.ts',
  'test/coturn/chart.test.ts',
  'test/cutover/nginx-tokenizer.test.ts',
  'test/gitops/gitops.test.ts',
  'test/gitops/object-diff.test.ts',
  'test/hack/tiers.test.ts',
  'test/mongo-backup/oplog-ids.test.ts',
  'test/secrets/credentials.test.ts',
  'test/validate/cron.test.ts',
  'test/validate/rules.test.ts',
  'test/validate/schema.test.ts',
];
