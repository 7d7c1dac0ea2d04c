import type { FieldChange, LineChange, ObjectChange } from './object-diff';

// How `bin/roomler diff` prints an object-level diff: text for a terminal, markdown for a pull request's job summary.
// Both come from the same ObjectChange list, in which secret values are already replaced by REDACTED.

/** What was compared, in words: printed first, so a report never leaves a reader guessing its base. */
export interface DiffSides {
  /** e.g. `main (merge base a654b77)`, or the cluster's context and API server. */
  readonly before: string;
  /** e.g. `the working tree`. */
  readonly after: string;
}

/** Fields shown per object; a rename of a whole instance can touch hundreds, and the summary must stay readable. */
const MAX_FIELDS = 40;

const MARK = { changed: '~', added: '+', removed: '-', renamed: '>' } as const;

export function summary(changes: readonly ObjectChange[]): string {
  if (!changes.length) return 'no changes';
  const n = (c: ObjectChange['change']) => changes.filter((x) => x.change === c).length;
  return `${n('changed')} changed, ${n('added')} added, ${n('removed')} removed, ${n('renamed')} renamed`;
}

const value = (v: unknown, f: FieldChange) => (v === undefined ? '(absent)' : f.redacted ? String(v) : JSON.stringify(v));

const shown = (fields: readonly FieldChange[]) => ({ fields: fields.slice(0, MAX_FIELDS), more: Math.max(0, fields.length - MAX_FIELDS) });

const RENAME_NOTE = 'renamed: Kubernetes deletes the old object and creates the new one';

export function renderText(changes: readonly ObjectChange[], sides: DiffSides): string {
  const out = [`diff: ${sides.before} → ${sides.after}`];
  for (const c of changes) {
    out.push(c.change === 'renamed' ? `${MARK.renamed} ${c.from} → ${c.id} (${RENAME_NOTE})` : `${MARK[c.change]} ${c.id}`);
    const { fields, more } = shown(c.fields);
    for (const f of fields) {
      if (f.lines) out.push(`    ${f.path}:`, ...f.lines.map((l) => `      ${l.op === '…' ? '…' : `${l.op} ${l.text}`}`.trimEnd()));
      else out.push(`    ${f.path}: ${value(f.before, f)} → ${value(f.after, f)}`);
    }
    if (more) out.push(`    … and ${more} more field(s)`);
  }
  out.push(`diff: ${summary(changes)}`);
  return out.join('\n') + '\n';
}

/** Inline code that survives any content: a longer backtick fence than the text holds, `|` escaped for tables. */
function code(s: string, inTable = false): string {
  const longest = Math.max(0, ...[...s.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const text = inTable ? s.replace(/\|/g, '\\|') : s;
  return longest ? `${fence} ${text} ${fence}` : `${fence}${text}${fence}`;
}

function diffBlock(lines: readonly LineChange[]): string[] {
  const body = lines.map((l) => (l.op === '…' ? '…' : `${l.op}${l.text}`));
  const longest = Math.max(2, ...body.flatMap((l) => [...l.matchAll(/`+/g)].map((m) => m[0].length)));
  const fence = '`'.repeat(longest + 1);
  return [`${fence}diff`, ...body, fence];
}

export function renderMarkdown(changes: readonly ObjectChange[], sides: DiffSides): string {
  const out = [
    `### Manifests: ${summary(changes)}`,
    '',
    `${sides.before} → ${sides.after}, object by object (\`bin/roomler diff\`); secret values are redacted.`,
  ];
  for (const c of changes) {
    out.push('');
    if (c.change === 'added' || c.change === 'removed') {
      out.push(`**${MARK[c.change]} ${c.change}** ${code(c.id)}`);
      continue;
    }
    out.push(
      c.change === 'renamed'
        ? `**${MARK.renamed} renamed** ${code(c.from!)} → ${code(c.id)} (${RENAME_NOTE})`
        : `**${MARK.changed} changed** ${code(c.id)}`,
    );
    const { fields, more } = shown(c.fields);
    const rows = fields.filter((f) => !f.lines);
    if (rows.length) {
      out.push('', '| field | before | after |', '| --- | --- | --- |');
      for (const f of rows) out.push(`| ${code(f.path, true)} | ${code(value(f.before, f), true)} | ${code(value(f.after, f), true)} |`);
    }
    for (const f of fields.filter((x) => x.lines)) out.push('', `${code(f.path)}:`, '', ...diffBlock(f.lines!));
    if (more) out.push('', `… and ${more} more field(s)`);
  }
  return out.join('\n') + '\n';
}

/** The report of a diff in `format`, ending in a newline. */
export const renderReport = (r: { changes: readonly ObjectChange[]; sides: DiffSides }, format: 'text' | 'markdown') =>
  format === 'markdown' ? renderMarkdown(r.changes, r.sides) : renderText(r.changes, r.sides);
