import { scryptSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UUID_PATTERN } from '../../src/contracts/rules.js';
import { SECRET_LIMIT } from '../../src/contracts/limits.js';
import { checkPassword, clientSecretMatches, hashClientSecret, hashPassword, isToken, newToken, PASSWORD_LENGTH, sessionIdFromToken, TOKEN_PREFIXES } from '../../src/secretHashing.js';

describe('tokens (client secrets and session tokens)', () => {
  it('a token is its prefix, 256 random bits and a checksum, and is recognised offline', () => {
    const token = newToken(TOKEN_PREFIXES.clientSecret);
    expect(token).toMatch(/^espc_[0-9A-Za-z]{49}$/);
    expect(isToken(token, TOKEN_PREFIXES.clientSecret)).toBe(true);
    expect(isToken(token, TOKEN_PREFIXES.sessionToken)).toBe(false);
    expect(newToken(TOKEN_PREFIXES.clientSecret)).not.toBe(token);
  });

  it('the checksum catches any one changed character', () => {
    const token = newToken(TOKEN_PREFIXES.sessionToken);
    fc.assert(
      fc.property(fc.integer({ min: 5, max: token.length - 1 }), fc.constantFrom(...'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'), (at, char) => {
        fc.pre(token[at] !== char);
        expect(isToken(token.slice(0, at) + char + token.slice(at + 1), TOKEN_PREFIXES.sessionToken)).toBe(false);
      }),
    );
  });

  it('isToken never throws, whatever it is given', () => {
    fc.assert(fc.property(fc.anything(), (value) => {
      expect(isToken(value, TOKEN_PREFIXES.sessionToken)).toBe(false);
    }));
  });

  it('a session id is a version-8 UUID derived from the token: stable for one token, different for another', () => {
    const token = newToken(TOKEN_PREFIXES.sessionToken);
    const id = sessionIdFromToken(token);
    expect(id).toMatch(UUID_PATTERN);
    expect(id[14]).toBe('8');
    expect(sessionIdFromToken(token)).toBe(id);
    expect(sessionIdFromToken(newToken(TOKEN_PREFIXES.sessionToken))).not.toBe(id);
  });
});

describe('client secret hashing', () => {
  it('an HMAC keyed by a random salt verifies its own secret only', () => {
    const secret = newToken(TOKEN_PREFIXES.clientSecret);
    const a = hashClientSecret(secret);
    const b = hashClientSecret(secret);
    expect(a.hash).not.toBe(b.hash);
    expect(clientSecretMatches(secret, a.hash, a.salt)).toBe(true);
    expect(clientSecretMatches(newToken(TOKEN_PREFIXES.clientSecret), a.hash, a.salt)).toBe(false);
    expect(clientSecretMatches(secret, a.hash, b.salt)).toBe(false);
    expect(clientSecretMatches(secret, undefined, a.salt)).toBe(false);
  });
});

describe('password hashing', () => {
  it('passwordHash says how it was made: scrypt N=2^17, r=8, p=1', async () => {
    const { hash, salt } = await hashPassword('correct horse');
    expect(hash).toMatch(/^\$scrypt\$ln=17,r=8,p=1\$[A-Za-z0-9_-]{43}$/);
    expect(await checkPassword('correct horse', hash, salt)).toEqual({ ok: true, outdated: false });
    expect(await checkPassword('correct horsE', hash, salt)).toEqual({ ok: false, outdated: false });
  });

  it('a hash of the first format (bare scrypt N=2^15) still verifies, and is reported outdated', async () => {
    const salt = Buffer.from('0123456789abcdef');
    const legacy = scryptSync('old password', salt, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 2 ** 20 }).toString('base64url');
    expect(await checkPassword('old password', legacy, salt.toString('base64url'))).toEqual({ ok: true, outdated: true });
    expect(await checkPassword('old passw0rd', legacy, salt.toString('base64url'))).toEqual({ ok: false, outdated: false });
  });

  it('a stored header asking for unbounded work, or a missing hash, verifies as false without throwing', async () => {
    const { salt } = await hashPassword('correct horse');
    expect(await checkPassword('correct horse', `$scrypt$ln=30,r=8,p=1$${'A'.repeat(43)}`, salt)).toEqual({ ok: false, outdated: false });
    expect(await checkPassword('correct horse', undefined, undefined)).toEqual({ ok: false, outdated: false });
  });

  it('a password longer than the limit verifies as false (one short derivation, whatever its size); the limit is SECRET_LIMIT', async () => {
    expect(PASSWORD_LENGTH.max).toBe(SECRET_LIMIT.chars);
    const { hash, salt } = await hashPassword('correct horse');
    expect(await checkPassword('x'.repeat(64 * 1024 * 1024), hash, salt)).toEqual({ ok: false, outdated: false });
    const longest = 'a'.repeat(PASSWORD_LENGTH.max);
    const made = await hashPassword(longest);
    expect(await checkPassword(longest, made.hash, made.salt)).toEqual({ ok: true, outdated: false });
  });
});
