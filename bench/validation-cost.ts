import { loadConfig } from '../lib/config';
import { synthesize } from '../lib/synth';
import { validateFiles } from '../lib/validate';

// Child of `npm run bench`: validation cost on the default output, cold (first call, loads the schemas)
// and warm (median of later calls), printed as JSON.
const files = synthesize(loadConfig({ cwd: process.env.BENCH_EMPTY_DIR!, env: {} }));
let t = performance.now();
const findings = validateFiles(files);
const cold = performance.now() - t;
const warm: number[] = [];
for (let n = 0; n < 15; n++) {
  t = performance.now();
  validateFiles(files);
  warm.push(performance.now() - t);
}
warm.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({ cold, warm: warm[7], findings: findings.length }) + '\n');
