import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { cleanupDirs, emptyDir, projectWith } from '../support/files';
import { ROOMLER } from '../support/roomler';
import { synthFiles } from '../support/synth';

afterAll(cleanupDirs);
const ROOT = join(__dirname, '..', '..');
const validate = (...args: string[]) =>
  spawnSync(ROOMLER, ['validate', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ROOMLER_PROJECT_DIR: projectWith({}) } });

describe('npm run validate', () => {
  const dir = emptyDir();
  const good = join(dir, 'good.k8s.yaml');
  writeFileSync(good, synthFiles().get('roomler.k8s.yaml')!);
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, synthFiles().get('roomler.k8s.yaml')!.replace('targetPort: websocket', 'targetPort: websockets'));

  it('passes the synthesized output and lists the exemptions', () => {
    const r = validate(good);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/0 error\(s\), 0 warning\(s\), \d+ exemption\(s\)/);
    expect(r.stdout).toMatch(/EXEMPT \[host-network\] Deployment\/roomler\/janus: /);
  });

  it('fails a broken file with the object, path, message and fix', () => {
    const r = validate(bad);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(
      /ERROR \[cross-object\] Service\/roomler\/janus spec\.ports\[1\]\.targetPort: targetPort "websockets" is not declared by the selected pods\n\s+fix: /,
    );
    expect(r.stdout).toMatch(/1 error\(s\)/);
  });

  it('prints JSON for machines', () => {
    const r = validate('--format', 'json', bad);
    expect(r.status).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.findings[0]).toMatchObject({
      severity: 'error',
      rule: 'cross-object',
      object: 'Service/roomler/janus',
      path: 'spec.ports[1].targetPort',
    });
  });

  it('says what is wrong with a missing path', () => {
    const r = validate(join(dir, 'nope.yaml'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/validate: .*nope\.yaml does not exist/);
  });
});
