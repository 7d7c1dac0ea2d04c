import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { formatFindings, validateReport } from '../lib/validate';
import { config, main, PROJECT_ROOT, UserError } from './lib/cli';

// `npm run validate [paths…] [--format json]`: the checks synth runs, on any YAML files or directories.
main('validate', async (argv) => {
  const json = argv.includes('--format=json') || argv.some((a, n) => a === '--format' && argv[n + 1] === 'json');
  const paths = argv.filter((a, n) => !a.startsWith('--') && argv[n - 1] !== '--format');
  const targets = (paths.length ? paths : [join(PROJECT_ROOT, 'dist')]).map((p) => resolve(p));
  const files = new Map<string, string>();
  for (const t of targets) {
    if (!existsSync(t)) throw new UserError(`${t} does not exist`, 2);
    const list = statSync(t).isDirectory() ? readdirSync(t).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(t, f)) : [t];
    for (const f of list) files.set(relative(process.cwd(), f) || f, readFileSync(f, 'utf8'));
  }
  if (files.size === 0) throw new UserError(`no YAML files in ${targets.join(', ')}`, 2);
  const report = validateReport(files, config());
  const errors = report.findings.filter((f) => f.severity === 'error').length;
  const warnings = report.findings.length - errors;
  if (json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    if (report.findings.length) process.stdout.write(formatFindings(report.findings) + '\n');
    for (const e of report.exemptions) process.stdout.write(`EXEMPT [${e.check}] ${e.object}: ${e.reason}\n`);
    process.stdout.write(`validate: ${report.objects} objects in ${files.size} file(s): ${errors} error(s), ${warnings} warning(s), ${report.exemptions.length} exemption(s)\n`);
  }
  return errors ? 1 : 0;
});
