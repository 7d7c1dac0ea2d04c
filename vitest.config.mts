import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests start real nginx, rsync and sshd on loopback: give them time, but keep the suite under budget.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default is one worker fewer than the CPUs: ONE on this 2-core machine. Most test time is waiting on
    // real servers (a control plane's rollouts, nginx reloads, sshd), so files run three at a time.
    maxWorkers: 3,
    reporters: ['default'],
  },
});
