import { configDefaults, defineConfig } from 'vitest/config';

import { FAST } from './test/tiers';

export default defineConfig({
  test: {
    // Tests start real nginx, rsync and sshd on loopback: give them time, but keep the suite under budget.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default is one worker fewer than the CPUs: ONE on this 2-core machine. Most test time is waiting on
    // real servers (a control plane's rollouts, nginx reloads, sshd), so files run three at a time.
    maxWorkers: 3,
    reporters: ['default'],
    projects: [
      // The fast tier shares each worker's loaded modules between its files (nothing there keeps global state): half
      // the time of loading cdk8s and the config for every file.
      { extends: true, test: { name: 'fast', include: [...FAST], isolate: false, sequence: { groupOrder: 0 } } },
      {
        extends: true,
        test: {
          name: 'full',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...FAST],
          sequence: { groupOrder: 1 },
          // The run's directory: toolchain pieces checked once, the lab control planes shared file after file.
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
    ],
  },
});
