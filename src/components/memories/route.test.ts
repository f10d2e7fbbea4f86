import { describe, expect, it } from 'vitest';
import { MEMORIES_HASH, memoriesHash, parseMemoriesHash } from './route';

describe('the memories hash', () => {
  it('round-trips a conversation, escaping characters a hash cannot hold', () => {
    for (const roomId of ['4f1c7a52-9f0e-4a7e-8d55-0b7e9c2d1a11', 'room with spaces/and#hash?x=1', 'café']) {
      const hash = memoriesHash({ view: 'conversation', roomId });
      expect(hash.startsWith(`${MEMORIES_HASH}/`)).toBe(true);
      expect(hash.slice(MEMORIES_HASH.length + 1)).not.toMatch(/[ #/?]/);
      expect(parseMemoriesHash(hash)).toEqual({ view: 'conversation', roomId });
    }
  });

  it('reads the list from its own hash and from hashes it does not own', () => {
    for (const hash of ['', '#', MEMORIES_HASH, `${MEMORIES_HASH}/`, '#/settings', '#/memoriesx/abc']) {
      expect(parseMemoriesHash(hash)).toEqual({ view: 'list' });
    }
    expect(memoriesHash({ view: 'list' })).toBe(MEMORIES_HASH);
  });

  it('falls back to the list for malformed conversation hashes', () => {
    for (const bad of ['%E0%A4%A', '%20%20', '%0Aroom', 'x'.repeat(201)]) {
      expect(parseMemoriesHash(`${MEMORIES_HASH}/${bad}`)).toEqual({ view: 'list' });
    }
  });
});
