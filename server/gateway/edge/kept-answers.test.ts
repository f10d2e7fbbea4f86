import { describe, expect, it } from 'vitest';
import { etagOf, freshnessOf, isWithin, type KeptAnswer, KeptAnswers, matchesIfNoneMatch } from './kept-answers';

const answer = (text: string, storedAt = 0): KeptAnswer => {
  const body = Buffer.from(text);
  return { body, etag: etagOf(body), headers: [], storedAt };
};

describe('the kept answers', () => {
  it('keeps an answer and counts its bytes, and forgets it', () => {
    const kept = new KeptAnswers(100);
    kept.keep('a', answer('12345'));
    expect(kept.peek('a')?.body.toString()).toBe('12345');
    expect([kept.size, kept.bytes]).toEqual([1, 5]);
    kept.forget('a');
    expect([kept.size, kept.bytes]).toEqual([0, 0]);
  });

  it('replaces the answer of a key, its bytes counted once', () => {
    const kept = new KeptAnswers(100);
    kept.keep('a', answer('12345'));
    kept.keep('a', answer('12'));
    expect([kept.size, kept.bytes]).toEqual([1, 2]);
  });

  it('drops the least recently used answers past its bound, a touch counting as a use', () => {
    const kept = new KeptAnswers(10);
    kept.keep('a', answer('aaaa'));
    kept.keep('b', answer('bbbb'));
    kept.touch('a');
    kept.keep('c', answer('cccc'));
    expect(kept.peek('b')).toBeUndefined();
    expect(kept.peek('a')).toBeDefined();
    expect(kept.peek('c')).toBeDefined();
    expect(kept.bytes).toBe(8);
  });

  it('keeps nothing of an answer heavier than its bound', () => {
    const kept = new KeptAnswers(3);
    kept.keep('a', answer('abcd'));
    expect([kept.size, kept.bytes]).toEqual([0, 0]);
  });
});

describe('a kept answer’s window', () => {
  it('is fresh from its read until the window ends, and not from the future', () => {
    const entry = answer('x', 1_000);
    expect(isWithin(entry, 1_000, 500)).toBe(true);
    expect(isWithin(entry, 1_499, 500)).toBe(true);
    expect(isWithin(entry, 1_500, 500)).toBe(false);
    expect(isWithin(entry, 999, 500)).toBe(false);
  });

  it('is served past its window while the budget’s stretched window lasts, which it asks only then', () => {
    const entry = answer('x', 0);
    let asked = 0;
    const stretched = (ms: number) => () => {
      asked++;
      return ms;
    };
    expect(freshnessOf(entry, 100, 500, stretched(2_000))).toBe('fresh');
    expect(asked).toBe(0);
    expect(freshnessOf(entry, 600, 500, stretched(2_000))).toBe('stale-budget');
    expect(freshnessOf(entry, 600, 500, stretched(Number.POSITIVE_INFINITY))).toBe('stale-budget');
    expect(freshnessOf(entry, 600, 500, stretched(500))).toBe('stale');
    expect(asked).toBe(3);
  });
});

describe('the validator', () => {
  it('is the same for the same bytes and differs for others', () => {
    expect(etagOf(Buffer.from('a'))).toBe(etagOf(Buffer.from('a')));
    expect(etagOf(Buffer.from('a'))).not.toBe(etagOf(Buffer.from('b')));
    expect(etagOf(Buffer.from('a'))).toMatch(/^"[\w-]{27}"$/);
  });

  it('matches If-None-Match weakly, in a list, and for *', () => {
    expect(matchesIfNoneMatch('"x"', '"x"')).toBe(true);
    expect(matchesIfNoneMatch('W/"x"', '"x"')).toBe(true);
    expect(matchesIfNoneMatch('"y", "x"', '"x"')).toBe(true);
    expect(matchesIfNoneMatch('*', '"x"')).toBe(true);
    expect(matchesIfNoneMatch('"y"', '"x"')).toBe(false);
    expect(matchesIfNoneMatch(undefined, '"x"')).toBe(false);
  });
});
