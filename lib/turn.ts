import { createHmac } from 'node:crypto';

/**
 * coturn `use-auth-secret` (TURN REST API) password for a username `<expiry>:<user>`:
 * base64(HMAC-SHA1(secret, username)), as `openssl dgst -sha1 -hmac SECRET -binary | base64` prints it.
 */
export const turnPassword = (secret: string, username: string): string => createHmac('sha1', secret).update(username).digest('base64');
