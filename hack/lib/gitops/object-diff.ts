import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

import { parseAllDocuments } from 'yaml';

import { type K8sObject, keyOf } from '../../../lib/manifest';
import { UserError } from '../cli/errors';

// The object-level diff behind `bin/roomler diff`: manifests keyed by kind/namespace/name, compared field by field,
// so a reviewer sees "this value changed" where `git diff dist/` shows lines that moved. Pure: no git, no cluster.

/** One step of a field path: a map key, a list index, or a list item found by its merge key (`containers[name=app]`). */
type Segment = { key: string } | { index: number } | { match: [string, string | number] };

/** A difference in one field. `before`/`after` undefined: the field is absent on that side. */
export interface FieldChange {
  /** e.g. `spec.template.spec.containers[name=redis].resources.limits.memory` */
  readonly path: string;
  readonly before?: unknown;
  readonly after?: unknown;
  /** A multi-line text (a config file in a ConfigMap): its changed lines instead of the two texts. */
  readonly lines?: readonly LineChange[];
  /** A Secret's or SealedSecret's value: `before`/`after` hold REDACTED, never the value. */
  readonly redacted?: boolean;
}

export interface LineChange {
  /** `-` only before, `+` only after, ` ` context, `…` lines left out. */
  readonly op: '-' | '+' | ' ' | '…';
  readonly text: string;
}

export interface ObjectChange {
  readonly change: 'changed' | 'added' | 'removed' | 'renamed';
  /** `Kind/namespace/name` (`Kind/name` when cluster-scoped): the object after the change (before, when removed). */
  readonly id: string;
  /** Renamed: the old object's id. Kubernetes deletes that object and creates the new one. */
  readonly from?: string;
  /** Changed and renamed objects: every differing field, in a stable order. */
  readonly fields: readonly FieldChange[];
}

export const REDACTED = '<redacted>';

/** Fields the API server maintains: never part of dist/, always different in a live object. */
const SERVER_METADATA = ['managedFields', 'resourceVersion', 'generation', 'uid', 'creationTimestamp', 'selfLink'];

/**
 * Every object of the files in `dir` named like `files` (YAML 1.1, as kubectl and Argo CD read them), keyed by id,
 * without the fields the API server maintains (status, managedFields, resourceVersion, generation, …).
 */
export function objectsInDir(dir: string, files = /\.ya?ml$/): Map<string, K8sObject> {
  const out = new Map<string, K8sObject>();
  if (!existsSync(dir)) return out;
  for (const file of readdirSync(dir)
    .filter((f) => files.test(f))
    .sort()) {
    for (const o of parseAllDocuments(readFileSync(join(dir, file), 'utf8'), { version: '1.1' }).map((d) => d.toJS() as K8sObject)) {
      if (!o?.kind || !o.metadata?.name) continue;
      const id = keyOf(o);
      // The validators refuse duplicates in dist/; a second one here would silently hide a change.
      if (out.has(id)) throw new UserError(`${id} appears twice in ${dir}`);
      out.set(id, withoutServerFields(o));
    }
  }
  return out;
}

export function withoutServerFields(o: K8sObject): K8sObject {
  const { status: _status, ...rest } = o;
  const metadata = { ...o.metadata };
  for (const k of SERVER_METADATA) delete metadata[k];
  return { ...rest, metadata };
}

/** Whether a field holds a secret value: Secret data, SealedSecret ciphertext, and kubectl's copy of either. */
function sensitive(kind: string, path: readonly Segment[]): boolean {
  const keys = path.map((s) => ('key' in s ? s.key : undefined));
  if (keys[0] === 'metadata' && keys[1] === 'annotations' && keys[2] === 'kubectl.kubernetes.io/last-applied-configuration')
    return kind === 'Secret' || kind === 'SealedSecret';
  if (kind === 'Secret') return keys[0] === 'data' || keys[0] === 'stringData';
  if (kind === 'SealedSecret') return keys[0] === 'spec' && (keys[1] === 'encryptedData' || keys[1] === 'data');
  return false;
}

export function pathText(path: readonly Segment[]): string {
  return path
    .map((s, n) => {
      if ('index' in s) return `[${s.index}]`;
      if ('match' in s) return `[${s.match[0]}=${s.match[1]}]`;
      if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(s.key)) return n === 0 ? s.key : `.${s.key}`;
      return `[${JSON.stringify(s.key)}]`;
    })
    .join('');
}

const isMap = (v: unknown): v is K8sObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const isScalar = (v: unknown) => v === null || typeof v !== 'object';

/** The key that identifies list items the way Kubernetes merges them (containers by name, mounts by path, …), if any. */
const MERGE_KEYS = ['name', 'mountPath', 'containerPort', 'port', 'key', 'ip'];
function mergeKey(lists: readonly unknown[][]): string | undefined {
  const items = lists.flat();
  if (!items.length || !items.every(isMap)) return undefined;
  return MERGE_KEYS.find((k) =>
    lists.every((l) => {
      const values = (l as K8sObject[]).map((x) => x[k]);
      return values.every((v) => typeof v === 'string' || typeof v === 'number') && new Set(values).size === values.length;
    }),
  );
}

/** Every field where `before` and `after` differ, leaves only (an added map lists its fields). */
export function fieldChanges(kind: string, before: unknown, after: unknown): FieldChange[] {
  const out: FieldChange[] = [];
  walk(kind, before, after, [], out);
  return out;
}

function walk(kind: string, before: unknown, after: unknown, path: Segment[], out: FieldChange[]): void {
  if (isDeepStrictEqual(before, after)) return;
  if (walkMaps(kind, before, after, path, out) || walkLists(kind, before, after, path, out)) return;
  out.push(leafChange(kind, before, after, path));
}

/** Two maps (or a map and nothing): key by key, in key order. False when they are not both maps or both empty. */
function walkMaps(kind: string, before: unknown, after: unknown, path: Segment[], out: FieldChange[]): boolean {
  const maps = (isMap(before) || isMap(after)) && (isMap(before) || before === undefined) && (isMap(after) || after === undefined);
  if (!maps) return false;
  const b = (before ?? {}) as K8sObject;
  const a = (after ?? {}) as K8sObject;
  const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])].sort();
  for (const k of keys) walk(kind, b[k], a[k], [...path, { key: k }], out);
  return keys.length > 0;
}

/**
 * Two lists of maps (or a list and nothing): item by item, matched by their merge key where they have one, else by
 * position. False for lists of scalars (args, command, syncOptions), which read best whole.
 */
function walkLists(kind: string, before: unknown, after: unknown, path: Segment[], out: FieldChange[]): boolean {
  const lists =
    (Array.isArray(before) || Array.isArray(after)) &&
    (Array.isArray(before) || before === undefined) &&
    (Array.isArray(after) || after === undefined);
  if (!lists) return false;
  const b = (before ?? []) as unknown[];
  const a = (after ?? []) as unknown[];
  if (b.every(isScalar) && a.every(isScalar)) return false;
  const key = mergeKey([b, a]);
  if (!key) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) walk(kind, b[i], a[i], [...path, { index: i }], out);
    return true;
  }
  const ids = [...new Set([...(a as K8sObject[]).map((x) => x[key]), ...(b as K8sObject[]).map((x) => x[key])])];
  for (const id of ids) {
    const itemOf = (l: unknown[]) => (l as K8sObject[]).find((x) => x[key] === id);
    walk(kind, itemOf(b), itemOf(a), [...path, { match: [key, id] }], out);
  }
  return true;
}

/** A field that differs and is no map or list of maps: a secret value (redacted), a multi-line text, or a value. */
function leafChange(kind: string, before: unknown, after: unknown, path: Segment[]): FieldChange {
  if (sensitive(kind, path)) {
    return {
      path: pathText(path),
      before: before === undefined ? undefined : REDACTED,
      after: after === undefined ? undefined : REDACTED,
      redacted: true,
    };
  }
  const text = (v: unknown) => v === undefined || typeof v === 'string';
  if (text(before) && text(after) && [before, after].some((v) => typeof v === 'string' && v.includes('\n'))) {
    // A text that appears or goes away whole is all + or all - lines (its final newline is no line of its own).
    const whole = (v: string, op: '+' | '-') =>
      v
        .replace(/\n$/, '')
        .split('\n')
        .map((t) => ({ op, text: t }));
    const lines =
      before === undefined
        ? whole(after as string, '+')
        : after === undefined
          ? whole(before as string, '-')
          : lineDiff(before as string, after as string);
    return { path: pathText(path), before, after, lines };
  }
  return { path: pathText(path), before, after };
}

/**
 * The changed lines of two texts (longest common subsequence), each run of changes with one line of context;
 * `…` stands for the unchanged lines left out. Texts in dist/ are config files and scripts of a few hundred lines.
 */
export function lineDiff(before: string, after: string, context = 1): LineChange[] {
  const x = before.split('\n');
  const y = after.split('\n');
  // Common prefix and suffix first: a one-line change in a long file costs almost nothing.
  let start = 0;
  while (start < x.length && start < y.length && x[start] === y[start]) start++;
  let end = 0;
  while (end < x.length - start && end < y.length - start && x[x.length - 1 - end] === y[y.length - 1 - end]) end++;
  const xs = x.slice(start, x.length - end);
  const ys = y.slice(start, y.length - end);
  // The table is |xs| × |ys|: past a few million cells (texts far larger than dist/ holds) the middle is shown as
  // replaced whole rather than spending memory on it.
  const small = xs.length * ys.length <= 4_000_000;
  const lcs: number[][] = Array.from({ length: small ? xs.length + 1 : 1 }, () => new Array<number>(small ? ys.length + 1 : 1).fill(0));
  if (small)
    for (let i = xs.length - 1; i >= 0; i--)
      for (let j = ys.length - 1; j >= 0; j--) lcs[i][j] = xs[i] === ys[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const all: LineChange[] = x.slice(0, start).map((text) => ({ op: ' ', text }));
  let i = 0;
  let j = 0;
  while (i < xs.length || j < ys.length) {
    // Along the longest common subsequence; of a replaced run, the removed lines first.
    if (small && i < xs.length && j < ys.length && xs[i] === ys[j]) {
      all.push({ op: ' ', text: xs[i++] });
      j++;
    } else if (i < xs.length && (!small || j === ys.length || lcs[i + 1][j] >= lcs[i][j + 1])) all.push({ op: '-', text: xs[i++] });
    else all.push({ op: '+', text: ys[j++] });
  }
  all.push(...x.slice(x.length - end).map((text) => ({ op: ' ' as const, text })));
  // Keep the changes and `context` lines around each; one `…` per gap.
  const keep = all.map((_, n) => all.slice(Math.max(0, n - context), n + context + 1).some((l) => l.op !== ' '));
  const out: LineChange[] = [];
  all.forEach((l, n) => {
    if (keep[n]) out.push(l);
    else if (out[out.length - 1]?.op !== '…') out.push({ op: '…', text: '' });
  });
  return out;
}

/** Leaf fields of an object as `path -> JSON value`, for telling a renamed object from an unrelated one. */
function leaves(o: K8sObject): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (v: unknown, path: string) => {
    if (isMap(v) && Object.keys(v).length) for (const [k, x] of Object.entries(v)) visit(x, `${path}.${k}`);
    else if (Array.isArray(v) && v.length && !v.every(isScalar)) v.forEach((x, n) => visit(x, `${path}[${n}]`));
    else out.set(path, JSON.stringify(v));
  };
  visit({ ...o, metadata: { ...o.metadata, name: undefined, namespace: undefined } }, '');
  return out;
}

/** Share of leaf fields two objects have in common (same path, same value): 1 for objects equal but for their names. */
function similarity(a: K8sObject, b: K8sObject): number {
  const x = leaves(a);
  const y = leaves(b);
  let same = 0;
  for (const [k, v] of x) if (y.get(k) === v) same++;
  return same / new Set([...x.keys(), ...y.keys()]).size;
}

/** A removed and an added object of one kind are a rename when at least this share of their fields is the same. */
const RENAME_SIMILARITY = 0.5;

/**
 * Compares two sets of objects: added, removed, renamed (a removed and an added object of the same kind that are
 * mostly the same: to Kubernetes a delete and a create) and changed with every differing field. Sorted by id.
 */
export function diffObjects(before: ReadonlyMap<string, K8sObject>, after: ReadonlyMap<string, K8sObject>): ObjectChange[] {
  const out: ObjectChange[] = [];
  for (const [id, a] of after) {
    const b = before.get(id);
    if (b && !isDeepStrictEqual(a, b)) out.push({ change: 'changed', id, fields: fieldChanges(a.kind, b, a) });
  }
  const removed = [...before.keys()].filter((id) => !after.has(id)).sort();
  const added = new Set([...after.keys()].filter((id) => !before.has(id)).sort());
  for (const id of removed) {
    const b = before.get(id)!;
    let best: { id: string; score: number } | undefined;
    for (const candidate of added) {
      const a = after.get(candidate)!;
      if (a.kind !== b.kind || a.apiVersion !== b.apiVersion) continue;
      const score = similarity(b, a);
      if (score >= RENAME_SIMILARITY && (!best || score > best.score)) best = { id: candidate, score };
    }
    if (best) {
      added.delete(best.id);
      out.push({ change: 'renamed', id: best.id, from: id, fields: fieldChanges(b.kind, b, after.get(best.id)!) });
    } else out.push({ change: 'removed', id, fields: [] });
  }
  for (const id of added) out.push({ change: 'added', id, fields: [] });
  return out.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
}
