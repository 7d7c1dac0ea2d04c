import { runSynth } from '../../lib/run-synth';
import { command, projectDir } from '../lib/cli';

// `bin/roomler synth` (= `npm run synth`): the same app `cdk8s synth` runs, without the cdk8s CLI in front of it.
export default command({
  description:
    'Reads roomler.yaml / ROOMLER_CONFIG, .env and the environment; on any config or validation error dist/ is left exactly as it was. `npx cdk8s synth` runs the same app.',
  examples: ['bin/roomler synth', 'ROOMLER_CONFIG=staging.yaml bin/roomler synth'],
  run: async () => runSynth({ projectDir: projectDir() }),
});
