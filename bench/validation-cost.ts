import { loadConfig } from '../lib/config';
import { synthesizeManifests } from '../lib/synth';
import { validateObjects } from '../lib/validate';

// Child of `npm run bench`: validation cost on the default output, cold (first call, loads the schemas)
// and warm (median of later calls), printed as JSON.
const objects = [...synthesizeManifests(loadConfig({ cwd: process.env.BENCH_EMPTY_DIR!, env: {} }))].flatMap(([file, ms]) =>
  ms.map((object, index) => ({ file, index, object })),
);
// The cost synth pays: validating the objects in memory (npm run validate on files also parses YAML).
let t = performance.now();
const findings = validateObjects(objects).findings;
const cold = performance.now() - t;
const warm: number[] = [];
for (let n = 0; n < 15; n++) {
  t = performance.now();
  void validateObjects(objects).findings;
  warm.push(performance.now() - t);
}
warm.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({ cold, warm: warm[7], findings: findings.length }) + '\n');
