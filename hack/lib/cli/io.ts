// The one output channel of every command (as kind's IOStreams or Helm's `out`): a command creates it and passes it
// down; actions in hack/lib write through it and return data, never touching process.stdout or process.stderr
// themselves. Tests pass one that records.

export interface IO {
  /** The command's results: what a user pipes or reads (plans, tables, reports, YAML). */
  out(line: string): void;
  /** Progress, warnings and diagnostics: what a user watches. */
  err(line: string): void;
}

/** The process's own standard streams. */
export const stdio: IO = {
  out: (line) => void process.stdout.write(`${line}\n`),
  err: (line) => void process.stderr.write(`${line}\n`),
};

/** An IO that keeps every line, for tests and for callers that print later. */
export function recording(): IO & { readonly lines: { stream: 'out' | 'err'; line: string }[] } {
  const lines: { stream: 'out' | 'err'; line: string }[] = [];
  return { lines, out: (line) => void lines.push({ stream: 'out', line }), err: (line) => void lines.push({ stream: 'err', line }) };
}
