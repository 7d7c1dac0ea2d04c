import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { parse } from 'yaml';
import { z } from 'zod';

// Independent linters over dist/: kube-score and Checkov, pinned and cached by hack/toolchain. Their
// findings are normalized to (tool, check, object); each must be listed in the exemptions file with its reason,
// and each listed exemption must still match a finding, so the file can neither hide a new finding nor rot.

/** Every remaining finding, with its reason (docs/security.md shows them). */
export const EXEMPTIONS_FILE = join(__dirname, '..', '..', '..', '.ci', 'linter-exemptions.yaml');

export const TOOLS = ['kube-score', 'checkov'] as const;
export type Tool = (typeof TOOLS)[number];

export interface LinterFinding {
  readonly tool: Tool;
  readonly check: string;
  /** `Kind/namespace/name`, as `npm run validate` names objects. */
  readonly object: string;
  /** What the tool said, for the report. */
  readonly detail: string;
}

const exemptionSchema = z
  .object({
    tool: z.enum(TOOLS),
    check: z.string().min(1),
    objects: z.array(z.string().regex(/^[A-Za-z]+\/([a-z0-9-]+\/)?[a-z0-9.-]+$/, 'must be Kind/namespace/name')).min(1),
    reason: z.string().min(20, 'must say why (at least 20 characters)'),
  })
  .strict();
export type LinterExemption = z.infer<typeof exemptionSchema>;

/** The exemptions file: a YAML list; every problem at once. */
export function loadExemptions(file: string): LinterExemption[] {
  const parsed = z.array(exemptionSchema).safeParse(parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file}:\n${parsed.error.issues.map((i) => `  - [${i.path.join('.')}] ${i.message}`).join('\n')}`);
  const seen = new Set<string>();
  for (const e of parsed.data) {
    for (const o of e.objects) {
      const key = `${e.tool} ${e.check} ${o}`;
      if (seen.has(key)) throw new Error(`${file}: ${key} is listed twice`);
      seen.add(key);
    }
  }
  return parsed.data;
}

/** kube-score `-o json` (v2): every check below grade 10 (OK) that was not skipped. */
export function kubeScoreFindings(report: unknown): LinterFinding[] {
  const objects = report as {
    type_meta: { kind: string };
    object_meta: { name: string; namespace?: string };
    checks: { check: { id: string }; grade: number; skipped: boolean; comments: { path?: string; summary: string }[] | null }[];
  }[];
  return objects.flatMap((o) =>
    o.checks
      .filter((c) => !c.skipped && c.grade < 10)
      .map((c) => ({
        tool: 'kube-score' as const,
        check: c.check.id,
        object: [o.type_meta.kind, o.object_meta.namespace, o.object_meta.name].filter(Boolean).join('/'),
        detail: [...new Set((c.comments ?? []).map((x) => `${x.path ? `(${x.path}) ` : ''}${x.summary}`))].join('; '),
      })),
  );
}

/** Checkov `-o json`: one report, or one per framework. Resources are `Kind.namespace.name`. */
export function checkovFindings(report: unknown): LinterFinding[] {
  const reports = (Array.isArray(report) ? report : [report]) as {
    results: { failed_checks: { check_id: string; check_name: string; resource: string }[] };
  }[];
  return reports.flatMap((r) =>
    r.results.failed_checks.map((f) => ({
      tool: 'checkov' as const,
      check: f.check_id,
      object: f.resource.split('.').join('/'),
      detail: f.check_name,
    })),
  );
}

export interface Comparison {
  /** Findings no exemption lists: fix them, or list them with a reason. */
  readonly unexempted: readonly LinterFinding[];
  /** Listed (tool, check, object) that no tool reports any more: remove them. */
  readonly stale: readonly string[];
  readonly exempted: readonly LinterFinding[];
}

export function compare(findings: readonly LinterFinding[], exemptions: readonly LinterExemption[]): Comparison {
  const listed = new Set(exemptions.flatMap((e) => e.objects.map((o) => `${e.tool} ${e.check} ${o}`)));
  const found = new Set(findings.map((f) => `${f.tool} ${f.check} ${f.object}`));
  return {
    unexempted: findings.filter((f) => !listed.has(`${f.tool} ${f.check} ${f.object}`)),
    stale: [...listed].filter((k) => !found.has(k)),
    exempted: findings.filter((f) => listed.has(`${f.tool} ${f.check} ${f.object}`)),
  };
}

/** The Kubernetes version kube-score judges against: the cluster's (the vendored schemas are 1.28 too). */
export const KUBERNETES_VERSION = 'v1.28';

function runJson(cmd: string, args: string[]): unknown {
  // Both exit 1 when they find anything: the verdict is in the JSON, so only unparsable output is an error.
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(
      `${cmd} ${args.join(' ')} exited ${r.status} without a JSON report:\n${(r.stderr || r.stdout).trim().split('\n').slice(-5).join('\n')}`,
    );
  }
}

/** Runs both tools over the manifest files and returns their findings. */
export function runLinters(bins: Record<Tool, string>, files: readonly string[], dir: string): LinterFinding[] {
  return [
    ...kubeScoreFindings(
      runJson(bins['kube-score'], ['score', '--kubernetes-version', KUBERNETES_VERSION, '--output-format', 'json', ...files]),
    ),
    // --skip-download: no policy or version look-ups; the pinned version's built-in checks only.
    ...checkovFindings(
      runJson(bins.checkov, [
        '--skip-download',
        '--quiet',
        '--compact',
        '--framework',
        'kubernetes',
        '--output',
        'json',
        '--directory',
        dir,
      ]),
    ),
  ];
}
