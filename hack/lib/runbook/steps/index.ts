import { backupsStep } from './backups';
import type { Step } from './common';
import { copyMongo } from './copy-mongo';
import { copyUploads } from './copy-uploads';
import { deployStep } from './deploy';
import { drainStep } from './drain';
import { prepareNode } from './prepare-node';
import { prerequisites } from './prerequisites';
import { switchStep } from './switch';
import { testExternal } from './test-external';
import { testInternal } from './test-internal';

// The migration day, step by step (docs/migration.md), one file each. Each step is one of the existing commands, or a
// few of them, with the checks before and after that make the next step safe. Steps that change something say what
// and where and ask first (or need --yes); their sub-commands then run without asking again.

export type { RunContext, Step, StepResult } from './common';
export { interruptedSwitch } from './switch';

export const STEPS: readonly Step[] = [
  prerequisites,
  prepareNode,
  copyUploads,
  deployStep,
  copyMongo,
  testInternal,
  switchStep,
  testExternal,
  drainStep,
  backupsStep,
];

/** What the runbook cannot check from here, for plan and the final report. */
export const CANNOT_CHECK = [
  'what browsers on the internet see: TLS certificates, HTTP/3, the CDN or firewall in front of the host',
  'media: RTP to Janus and TURN relays from outside NAT (test a call by hand after the switch)',
  "the Docker host's own start-up: that the stopped containers do not come back at reboot (restart policies)",
  'DNS caches and TTLs at clients after a DNS change',
];
