import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { SECRET_LIMIT } from './contracts/limits.js';

// scrypt, N=2^15, r=8, p=1: 32 MiB of memory per guess for an attacker; one hash took 134 ms on the project's
// 2-core machine (OWASP's N=2^17 would take four times that on every login and session check).
const SCRYPT: ScryptOptions = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const KEY_LENGTH = 32;
const SALT_BYTES = 16;

function derive(secret: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret.normalize('NFC'), salt, KEY_LENGTH, SCRYPT, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/** Hashes a client secret or a user password; both parts are stored base64url-encoded. */
export async function hashSecret(secret: string): Promise<{ hash: string; salt: string }> {
  if (typeof secret !== 'string' || secret.length < 8 || secret.length > SECRET_LIMIT.chars) {
    throw new TypeError(`a secret must be a string of at least 8 and at most ${SECRET_LIMIT.chars} characters`);
  }
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(secret, salt);
  return { hash: key.toString('base64url'), salt: salt.toString('base64url') };
}

const NO_SALT = Buffer.alloc(SALT_BYTES);

/**
 * Compares in constant time. A missing hash (unknown client or user) still costs one derivation, so a miss takes
 * as long as a wrong secret and timing does not tell which ids exist. Never throws for a wrong secret.
 */
export async function verifySecret(secret: unknown, hash: string | null | undefined, salt: string | null | undefined): Promise<boolean> {
  // A secret longer than any that can be set is wrong: it costs one short derivation, never its own length's.
  const usable = typeof secret === 'string' && secret.length <= SECRET_LIMIT.chars;
  const actual = await derive(usable ? secret : '', salt ? Buffer.from(salt, 'base64url') : NO_SALT);
  if (!usable || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
