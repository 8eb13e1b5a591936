// How credentials are made and checked. Machine secrets (client secrets, session tokens) are 256 random bits, so a
// fast keyed hash is enough to store them; passwords are chosen by people, so they get a slow, memory-hard hash
// whose parameters are stored with it and can be raised later.
import { createHash, createHmac, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { SECRET_LIMIT } from './contracts/limits.js';

// ---------------------------------------------------------------------------------------------------------------
// Tokens: `<prefix>_<43 base62 chars: 256 random bits><6 base62 chars: CRC32 of everything before>`, the format of
// GitHub's tokens, so secret scanners can match the prefix and a typo is caught offline, without a query.

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const BODY_CHARS = 43; // 62^43 > 2^256
const CHECK_CHARS = 6; // 62^6 > 2^32

/** Recognised token kinds: client secrets and session tokens. */
export const TOKEN_PREFIXES = { clientSecret: 'espc', sessionToken: 'esps' } as const;
export type TokenPrefix = (typeof TOKEN_PREFIXES)[keyof typeof TOKEN_PREFIXES];

function base62(value: bigint, width: number): string {
  let out = '';
  for (let n = value; n > 0n; n /= 62n) out = BASE62[Number(n % 62n)] + out;
  return out.padStart(width, '0');
}

/** A token with this prefix around these 32 bytes (the system's CSPRNG unless given). */
export function newToken(prefix: TokenPrefix, bytes: Uint8Array = randomBytes(32)): string {
  const head = `${prefix}_${base62(BigInt(`0x${Buffer.from(bytes).toString('hex')}`), BODY_CHARS)}`;
  return head + base62(BigInt(crc32(head)), CHECK_CHARS);
}

const TOKEN_PATTERN = new RegExp(`^(espc|esps)_[0-9A-Za-z]{${BODY_CHARS + CHECK_CHARS}}$`);

/** Whether `value` is a well-formed token of this kind: prefix, length, alphabet and checksum. Never throws. */
export function isToken(value: unknown, prefix: TokenPrefix): value is string {
  if (typeof value !== 'string' || !TOKEN_PATTERN.test(value) || !value.startsWith(`${prefix}_`)) return false;
  const head = value.slice(0, -CHECK_CHARS);
  return base62(BigInt(crc32(head)), CHECK_CHARS) === value.slice(-CHECK_CHARS);
}

// ---------------------------------------------------------------------------------------------------------------
// Client secrets: HMAC-SHA-256 keyed by a per-client random salt, compared in constant time (microseconds).

const SALT_BYTES = 16;

/** The stored form of a client secret: `secretHash` and `secretSalt`, both base64url. */
export function hashClientSecret(secret: string, salt: string = randomBytes(SALT_BYTES).toString('base64url')): { hash: string; salt: string } {
  return { hash: createHmac('sha256', Buffer.from(salt, 'base64url')).update(secret).digest('base64url'), salt };
}

/** Whether `secret` hashes to `hash` under `salt`; false for anything missing. */
export function clientSecretMatches(secret: string, hash: unknown, salt: unknown): boolean {
  if (typeof hash !== 'string' || typeof salt !== 'string') return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = Buffer.from(hashClientSecret(secret, salt).hash, 'base64url');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

// ---------------------------------------------------------------------------------------------------------------
// Session ids: a UUID (version 8, RFC 9562) made of the first 122 bits of SHA-256(token). The database holds only
// this id, so a dump of the sessions collection authenticates no one; a token is found by hashing it.

export function sessionIdFromToken(token: string): string {
  const bytes = createHash('sha256').update(token).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Passwords: scrypt N=2^17, r=8, p=1 (OWASP's minimum), 128 MiB and about half a second per hash on the project's
// machines. `passwordHash` says how it was made, `$scrypt$ln=17,r=8,p=1$<hash>`, so the cost can be raised later
// and older hashes are redone at the next login. A hash without that header is the package's first format
// (N=2^15, r=8, p=1).

interface ScryptParams {
  ln: number;
  r: number;
  p: number;
}
const CURRENT: ScryptParams = { ln: 17, r: 8, p: 1 };
const FIRST_FORMAT: ScryptParams = { ln: 15, r: 8, p: 1 };
const KEY_LENGTH = 32;
const HEADER = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9_-]+)$/;

/** The password rules: long enough to resist guessing, short enough that hashing it costs nothing extra. */
export const PASSWORD_LENGTH = { min: 8, max: SECRET_LIMIT.chars } as const;

// scrypt needs 128 * N * r bytes; a stored header asking for more than this is refused, not attempted.
const MAX_SCRYPT_MEMORY = 256 * 2 ** 20;

function derive(password: string, salt: Buffer, { ln, r, p }: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = { N: 2 ** ln, r, p, maxmem: 2 * MAX_SCRYPT_MEMORY };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_LENGTH, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

function parse(stored: string): (ScryptParams & { hash: string }) | undefined {
  const header = HEADER.exec(stored);
  if (!header) return /^[A-Za-z0-9_-]{43}$/.test(stored) ? { ...FIRST_FORMAT, hash: stored } : undefined;
  const [ln, r, p] = header.slice(1, 4).map(Number) as [number, number, number];
  // A stored hash can be edited by whoever reaches the database: it may ask for no more work than the package's own
  // hashes (no version made costlier ones), so a login never costs more than one at the current parameters.
  if (ln < 10 || r < 1 || p < 1 || ln > CURRENT.ln || r > CURRENT.r || p > CURRENT.p || 128 * 2 ** ln * r > MAX_SCRYPT_MEMORY) return undefined;
  return { ln, r, p, hash: header[4]! };
}

/** The stored form of a password: `passwordHash` (self-describing) and `passwordSalt` (base64url). */
export async function hashPassword(password: string): Promise<{ hash: string; salt: string }> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, CURRENT);
  const { ln, r, p } = CURRENT;
  return { hash: `$scrypt$ln=${ln},r=${r},p=${p}$${key.toString('base64url')}`, salt: salt.toString('base64url') };
}

const NO_SALT = Buffer.alloc(SALT_BYTES);

/**
 * Checks a password in constant time. A missing hash (unknown or inactive user) still costs one derivation at the
 * current parameters, so a miss takes as long as a wrong password and timing does not tell which usernames exist.
 * `outdated`: the password matched a hash made with older parameters, so the caller should store a new one.
 */
export async function checkPassword(password: unknown, hash: unknown, salt: unknown): Promise<{ ok: boolean; outdated: boolean }> {
  // A password longer than any that can be set (1,024 characters, each up to 2 UTF-16 units) is wrong: it costs one
  // short derivation, never its own length's.
  const usable = typeof password === 'string' && password.length <= 2 * PASSWORD_LENGTH.max;
  const given = usable ? password : '';
  const stored = typeof hash === 'string' && typeof salt === 'string' ? parse(hash) : undefined;
  const older = stored !== undefined && (stored.ln < CURRENT.ln || stored.r < CURRENT.r || stored.p < CURRENT.p);
  // Every check costs one derivation at the current parameters, a hash made with older ones included (it also
  // costs its own, cheaper one), so the time of a wrong password tells no username apart.
  const [current, atStored] = await Promise.all([
    derive(given, stored && !older ? Buffer.from(salt as string, 'base64url') : NO_SALT, CURRENT),
    older ? derive(given, Buffer.from(salt as string, 'base64url'), stored).catch(() => undefined) : undefined,
  ]);
  const actual = older ? atStored : current;
  if (!stored || !usable || !actual) return { ok: false, outdated: false };
  const expected = Buffer.from(stored.hash, 'base64url');
  const ok = expected.length === actual.length && timingSafeEqual(expected, actual);
  return { ok, outdated: ok && older };
}
