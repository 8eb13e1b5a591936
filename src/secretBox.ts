// Encryption at rest for the credentials the platform must be able to use again (sink secrets): AES-256-GCM from
// node:crypto, a fresh 96-bit IV per value, and associated data that binds each ciphertext to one document and one
// field, so a value copied elsewhere does not decrypt. A ciphertext names its key, so keys can rotate.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Connection } from 'mongoose';

/** The keys of one connection: key id → base64 of 32 random bytes; `current` encrypts, every key decrypts. */
export interface SecretKeys {
  current: string;
  keys: Record<string, string>;
}

export interface KeyRing {
  current: string;
  keys: ReadonlyMap<string, Buffer>;
}

export const SECRET_KEYS_ENV = 'DATA_MODELS_SECRET_KEYS';

const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SEALED = /^aes256gcm:v1:([A-Za-z0-9_-]{1,64}):([A-Za-z0-9_-]+)$/;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export const HOW_TO_CONFIGURE =
  `pass makeModels(conn, { secretKeys: { current: 'k1', keys: { k1: '<base64 of 32 random bytes>' } } }) or set ` +
  `${SECRET_KEYS_ENV} to the same object as JSON; make a key with ` +
  `node -e "console.log(require('crypto').randomBytes(32).toString('base64'))"`;

/** Checks the key set and decodes its keys. Error messages name key ids, never key material. */
export function keyRing(input: SecretKeys, source: string): KeyRing {
  const problem = (what: string) => new TypeError(`${source}: ${what} (expected { current: 'k1', keys: { k1: '<base64 of 32 bytes>' } })`);
  if (!input || typeof input !== 'object' || !input.keys || typeof input.keys !== 'object') throw problem('no keys object');
  const keys = new Map<string, Buffer>();
  for (const [id, value] of Object.entries(input.keys)) {
    if (!KEY_ID.test(id)) throw problem(`key id ${JSON.stringify(id.slice(0, 64))} must be 1-64 letters, digits, "_" or "-"`);
    const key = typeof value === 'string' && /^[A-Za-z0-9+/_-]{43}=?$/.test(value) ? Buffer.from(value, 'base64') : undefined;
    if (key?.length !== 32) throw problem(`key "${id}" is not the base64 of 32 bytes`);
    keys.set(id, key);
  }
  if (typeof input.current !== 'string' || !keys.has(input.current)) throw problem('current must name one of the keys');
  return { current: input.current, keys };
}

let fromEnvironment: { raw: string; ring: KeyRing } | undefined;

/** The key ring of DATA_MODELS_SECRET_KEYS, or undefined when it is unset. */
export function environmentKeyRing(): KeyRing | undefined {
  const raw = process.env[SECRET_KEYS_ENV];
  if (!raw) return undefined;
  if (fromEnvironment?.raw !== raw) {
    let parsed: SecretKeys;
    try {
      parsed = JSON.parse(raw) as SecretKeys;
    } catch {
      throw new TypeError(`${SECRET_KEYS_ENV} is not valid JSON`);
    }
    fromEnvironment = { raw, ring: keyRing(parsed, SECRET_KEYS_ENV) };
  }
  return fromEnvironment.ring;
}

// The keys of each mongoose Connection, as given to makeModels; a connection without them uses the environment.
const configured = new WeakMap<Connection, { ring: KeyRing; given: string }>();

function canonical(input: SecretKeys | undefined): string {
  return input ? JSON.stringify([input.current, Object.entries(input.keys ?? {}).sort(([a], [b]) => a.localeCompare(b))]) : '';
}

/**
 * Records the keys of `conn` (makeModels' `secretKeys` option). The first call wins: a later call that gives other
 * keys is an error rather than a silent surprise; a later call that gives none reuses them.
 */
export function configureSecretKeys(conn: Connection, input: SecretKeys | undefined, firstCall: boolean): void {
  const given = canonical(input);
  if (!firstCall) {
    if (input !== undefined && given !== (configured.get(conn)?.given ?? '')) {
      throw new TypeError('makeModels was already called on this connection with other secretKeys: the first call\'s keys stay in use');
    }
    return;
  }
  if (input !== undefined) configured.set(conn, { ring: keyRing(input, 'makeModels secretKeys'), given });
}

/** The keys of `conn`: those given to makeModels, else DATA_MODELS_SECRET_KEYS, else undefined. */
export function keyRingOf(conn: Connection): KeyRing | undefined {
  return configured.get(conn)?.ring ?? environmentKeyRing();
}

/** Encrypts `plaintext` with the current key; `context` is the associated data (which document, which field). */
export function seal(ring: KeyRing, plaintext: string, context: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', ring.keys.get(ring.current)!, iv);
  cipher.setAAD(Buffer.from(context));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `aes256gcm:v1:${ring.current}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
}

/** The id of the key that sealed `value`, or undefined when it is not a sealed value. */
export function sealedWith(value: unknown): string | undefined {
  return typeof value === 'string' ? SEALED.exec(value)?.[1] : undefined;
}

/**
 * How many UTF-8 bytes the plaintext of a sealed value has (without opening it), or undefined when `value` is not a
 * sealed value: what the input limits measure once a credential has been sealed.
 */
export function sealedPlaintextBytes(value: unknown): number | undefined {
  const parts = typeof value === 'string' ? SEALED.exec(value) : null;
  return parts ? Math.max(0, Buffer.byteLength(parts[2]!, 'base64url') - IV_BYTES - TAG_BYTES) : undefined;
}

/**
 * Decrypts a value made by `seal` under the same context. Throws an Error whose message says why (never the value):
 * not a sealed value, a key that is not configured, or a failed authentication (tampered, or moved from another
 * document or field).
 */
export function open(ring: KeyRing | undefined, value: unknown, context: string): string {
  const parts = typeof value === 'string' ? SEALED.exec(value) : null;
  if (!parts) throw new Error('the stored value is not an encrypted secret');
  const key = ring?.keys.get(parts[1]!);
  if (!key) throw new Error(`key "${parts[1]}" is not configured (${HOW_TO_CONFIGURE})`);
  const data = Buffer.from(parts[2]!, 'base64url');
  if (data.length < IV_BYTES + TAG_BYTES) throw new Error('the stored value is truncated');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(data.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(data.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw new Error(`authentication failed under key "${parts[1]}": the value was changed, moved from another document or field, or the key is wrong`);
  }
}
