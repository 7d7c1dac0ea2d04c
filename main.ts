import { runSynth } from './lib/run-synth';

// The cdk8s app: `cdk8s synth`, `npm run synth` and `node --require tsx/cjs main.ts` all end here.
process.exitCode = runSynth({ projectDir: process.env.ROOMLER_PROJECT_DIR ?? __dirname });
