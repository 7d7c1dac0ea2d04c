import { spawnSync } from 'node:child_process';

import { afterAll, describe, expect, it } from 'vitest';

import { sealValue } from '../../hack/lib/cluster/sealing';
import { turnPassword } from '../../lib/turn';
import { cleanupDirs, emptyDir } from '../support/files';
import { keyPair, unseal } from './support';

// The credentials bin/roomler secrets derives and seals, against openssl; test/secrets/secrets.test.ts applies them
// to a real API server.
afterAll(cleanupDirs);
const SENTINEL = `sentinel-${process.pid}-${Date.now()}`;

describe('TURN password', () => {
  it.each(['s3cret', 'a much longer shared secret with spaces', 'ünïcødé-ß', 'q\'uo"te$'])(
    'equals openssl dgst -sha1 -hmac | base64 for %s',
    (secret) => {
      const username = '2145830400:roomler';
      const r = spawnSync('bash', ['-c', 'printf %s "$U" | openssl dgst -sha1 -hmac "$S" -binary | base64'], {
        env: { ...process.env, U: username, S: secret },
        encoding: 'utf8',
      });
      expect(turnPassword(secret, username)).toBe(r.stdout.trim());
    },
  );
});

describe('sealing (kubeseal format)', () => {
  const { key, cert } = keyPair(emptyDir());

  it('decrypts back with the private key of an openssl key pair', () => {
    const sealed = sealValue(cert, 'roomler', 'roomler-secret', `${SENTINEL} ✓`);
    expect(unseal(key, 'roomler/roomler-secret', sealed)).toBe(`${SENTINEL} ✓`);
  });

  it('fails with the wrong namespace or name (strict scope)', () => {
    const sealed = sealValue(cert, 'roomler', 'roomler-secret', 'x');
    expect(() => unseal(key, 'staging/roomler-secret', sealed)).toThrow();
    expect(() => unseal(key, 'roomler/mongodb-secret', sealed)).toThrow();
  });
});
