import { join } from 'node:path';

import { loadConfig, type LoadOptions } from '../../lib/config';
import { runSynth } from '../../lib/run-synth';
import { synthesize } from '../../lib/synth';
import { emptyDir } from './files';

// Synthesis in the test's own process: the charts' files for a config, and the synth entry point with its output.

/** A second instance for a roomler.yaml's `instances:` list after `- name: roomler`: other names, node and ports. */
export const STAGING = `
  - name: staging
    domains: { app: staging.roomler.live, janus: janus.staging.roomler.live }
    app: { nodePort: 31030 }
    janus:
      node: k8s-worker2
      nodePorts: { http: 31808, websocket: 31818 }
`;

/** The charts' files for a config loaded from `options` (default: no config at all). */
export function synthFiles(options: LoadOptions = { cwd: emptyDir(), env: {} }): Map<string, string> {
  return synthesize(loadConfig(options));
}

/** Runs the synth entry point in-process and captures its output. */
export function synthIn(projectDir: string, env: NodeJS.ProcessEnv = {}, outdir = join(projectDir, 'dist')) {
  let stdout = '';
  let stderr = '';
  const code = runSynth({
    projectDir,
    outdir,
    env,
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  return { code, stdout, stderr, outdir };
}
