import { constants, createDecipheriv, privateDecrypt } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { selfSignedCert } from '../support/files';

/** A Sealed Secrets controller's key pair, made by openssl: the private key PEM, the certificate PEM and its file. */
export function keyPair(dir: string) {
  const { cert, key } = selfSignedCert('sealed-secret', { dir });
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8'), certFile: cert };
}

/** Decrypts a kubeseal-format value with the controller's private key. */
export function unseal(privateKey: string, label: string, sealed: string): string {
  const raw = Buffer.from(sealed, 'base64');
  const n = raw.readUInt16BE(0);
  const sessionKey = privateDecrypt(
    { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: Buffer.from(label) },
    raw.subarray(2, 2 + n),
  );
  const body = raw.subarray(2 + n);
  const decipher = createDecipheriv('aes-256-gcm', sessionKey, Buffer.alloc(12));
  decipher.setAuthTag(body.subarray(body.length - 16));
  return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString('utf8');
}
