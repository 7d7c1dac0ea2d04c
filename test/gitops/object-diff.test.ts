import { describe, expect, it } from 'vitest';

import { diffObjects, fieldChanges, REDACTED } from '../../hack/lib/gitops/object-diff';
import { renderMarkdown } from '../../hack/lib/gitops/report';
import type { K8sObject } from '../../lib/manifest';

// The object-level diff behind `bin/roomler diff`, on objects made here; test/gitops/diff.test.ts runs the command
// on real git history.

describe('the object-level diff', () => {
  const cm = (data: Record<string, string>): K8sObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'janus-config', namespace: 'roomler' },
    data,
  });

  it('shows the changed lines of a config file with one line of context, not both texts', () => {
    const before = Array.from({ length: 30 }, (_, n) => `line ${n}`).join('\n') + '\n';
    const after = before.replace('line 10\n', 'line ten\n').replace('line 25\n', '');
    const [f] = fieldChanges('ConfigMap', cm({ 'janus.jcfg': before }), cm({ 'janus.jcfg': after }));
    expect(f.path).toBe('data["janus.jcfg"]');
    expect(f.lines!.map((l) => `${l.op}${l.text}`)).toEqual([
      '…',
      ' line 9',
      '-line 10',
      '+line ten',
      ' line 11',
      '…',
      ' line 24',
      '-line 25',
      ' line 26',
      '…',
    ]);
  });

  it('shows a text far larger than dist/ holds as replaced whole, without a table of millions of cells', () => {
    const before = Array.from({ length: 3000 }, (_, n) => `line ${n}`).join('\n');
    const after = `first\n${before.split('\n').slice(1, -1).join('\n')}\nlast`;
    const [f] = fieldChanges('ConfigMap', cm({ big: before }), cm({ big: after }));
    expect(f.lines!.filter((l) => l.op === '-').length).toBe(3000);
    expect(f.lines!.filter((l) => l.op === '+').length).toBe(3000);
    expect(f.lines![0]).toEqual({ op: '-', text: 'line 0' });
  });

  it("redacts a Secret's data, stringData and kubectl's copy of them, and still says which keys changed", () => {
    const secret = (v: string): K8sObject => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 's',
        namespace: 'n',
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': `{"stringData":{"a":"${v}"}}` },
      },
      data: { a: Buffer.from(v).toString('base64') },
      stringData: { b: v },
    });
    const changes = diffObjects(new Map([['Secret/n/s', secret('old-value-1')]]), new Map([['Secret/n/s', secret('new-value-2')]]));
    const text = JSON.stringify(changes) + renderMarkdown(changes, { before: 'a', after: 'b' });
    for (const v of [
      'old-value-1',
      'new-value-2',
      Buffer.from('old-value-1').toString('base64'),
      Buffer.from('new-value-2').toString('base64'),
    ])
      expect(text).not.toContain(v);
    expect(changes[0].fields.map((f) => `${f.path}: ${f.before} → ${f.after}`)).toEqual([
      `data.a: ${REDACTED} → ${REDACTED}`,
      `metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]: ${REDACTED} → ${REDACTED}`,
      `stringData.b: ${REDACTED} → ${REDACTED}`,
    ]);
  });

  it('keeps a table cell intact whatever the value holds', () => {
    const before = cm({ x: 'a|b' });
    const after = cm({ x: 'c`d' });
    const md = renderMarkdown(diffObjects(new Map([['c', before]]), new Map([['c', after]])), { before: 'a', after: 'b' });
    expect(md).toContain('| `data.x` | `"a\\|b"` | `` "c`d" `` |');
  });
});
