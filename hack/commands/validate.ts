import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

import { exists, FileProblem, readUtf8 } from '../../lib/config/files';
import { formatFindings, validateReport } from '../../lib/validate';
import { command, config, projectDir, UserError } from '../lib/cli';
import { stdio } from '../lib/cli/io';

/** A directory to list (through symlinks); a dangling link or a file is not one, and is read (and refused) as a file. */
const isDirectory = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

// `bin/roomler validate [paths…] [--format json]`: the checks synth runs, on any YAML files or directories.
export default command({
  description: 'Exit status: 0 no errors (warnings allowed), 1 errors found, 2 bad arguments or unreadable input.',
  options: { format: { type: 'string', choices: ['text', 'json'], default: 'text', description: 'output format' } },
  positionals: [{ name: 'PATH', description: 'YAML files or directories (default: dist/)', optional: true, variadic: true }],
  examples: ['bin/roomler validate', 'bin/roomler validate --format json other/manifests.yaml'],
  run: async ({ values, positionals }) => {
    const targets = (positionals.length ? positionals : [join(projectDir(), 'dist')]).map((p) => resolve(p));
    const files = new Map<string, string>();
    try {
      for (const t of targets) {
        if (!exists(t)) throw new UserError(`${t} does not exist`, 2);
        const list = isDirectory(t)
          ? readdirSync(t)
              .filter((f) => /\.ya?ml$/.test(f))
              .sort()
              .map((f) => join(t, f))
          : [t];
        for (const f of list) files.set(relative(process.cwd(), f) || f, readUtf8(f));
      }
    } catch (e) {
      if (e instanceof FileProblem) throw new UserError(e.message, 2);
      throw e;
    }
    if (files.size === 0) throw new UserError(`no YAML files in ${targets.join(', ')}`, 2);
    const report = validateReport(files, config());
    const errors = report.findings.filter((f) => f.severity === 'error').length;
    const warnings = report.findings.length - errors;
    const io = stdio;
    if (values.format === 'json') {
      io.out(JSON.stringify(report, null, 2));
    } else {
      if (report.findings.length) io.out(formatFindings(report.findings));
      for (const e of report.exemptions) io.out(`EXEMPT [${e.check}] ${e.object}: ${e.reason}`);
      io.out(
        `validate: ${report.objects} objects in ${files.size} file(s): ${errors} error(s), ${warnings} warning(s), ${report.exemptions.length} exemption(s)`,
      );
    }
    return errors ? 1 : 0;
  },
});
