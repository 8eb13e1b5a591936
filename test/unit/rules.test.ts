import { describe, expect, it } from 'vitest';
import { codeFromName, E164_PATTERN, isCode, isEmail, isHttpUrl, isOrigin, isTopic, normalizePhone, UUID_PATTERN } from '../../src/contracts/index.js';

describe('code rule', () => {
  it('a code is exactly 4 lowercase letters a-z', () => {
    expect(['acme', 'zzzz'].map(isCode)).toEqual([true, true]);
    expect(['acm', 'acmes', 'Acme', 'ac3e', 'ac e', 'acmé', ''].map(isCode)).toEqual(Array(7).fill(false));
  });

  it('the code a name gives: its first four letters, accents folded, or none under four letters', () => {
    expect(codeFromName('Acme')).toBe('acme');
    expect(codeFromName('Crème Brûlée Co')).toBe('crem');
    expect(codeFromName('A-1 B 2 c')).toBeUndefined();
    expect(codeFromName('  x y z w ')).toBe('xyzw');
    expect(codeFromName('東京')).toBeUndefined();
  });
});

describe('field rules', () => {
  it('topics use Kafka\'s characters, 1 to 249 of them', () => {
    expect(['orders', 'orders.v1', 'a_b-c', 'x'.repeat(249)].every(isTopic)).toBe(true);
    expect(['', 'has space', 'x'.repeat(250), '.', '..', 'a/b'].some(isTopic)).toBe(false);
  });

  it('origins are scheme://host[:port] and nothing more', () => {
    expect(['https://app.example.com', 'http://localhost:5173'].every(isOrigin)).toBe(true);
    expect(['https://app.example.com/', 'https://Example.com', 'ftp://x.example.com', 'app.example.com', '*'].some(isOrigin)).toBe(false);
  });

  it('HTTP sink URLs are http(s) with a host', () => {
    expect(isHttpUrl('https://hooks.example.com/a?b=1')).toBe(true);
    expect(['mailto:a@b.c', 'not a url', 'file:///etc/passwd'].some(isHttpUrl)).toBe(false);
  });

  it('emails, E.164 phones (after the usual punctuation is dropped) and UUIDs', () => {
    expect(['a@b.io', 'first.last+tag@sub.example.com'].every(isEmail)).toBe(true);
    expect(['a@b', 'a b@c.io', '@b.io', 'a@-b.io', `${'a'.repeat(250)}@b.io`].some(isEmail)).toBe(false);
    expect(normalizePhone('+1 (415) 555-0123')).toBe('+14155550123');
    expect(E164_PATTERN.test('+14155550123')).toBe(true);
    expect(E164_PATTERN.test('+0123')).toBe(false);
    expect(UUID_PATTERN.test(crypto.randomUUID())).toBe(true);
    expect(UUID_PATTERN.test('ws_1')).toBe(false);
  });
});
