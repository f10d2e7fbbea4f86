import { describe, expect, it } from 'vitest';
import { parseSharedAnswer } from './shared-edge';

describe('a copy read back from Redis', () => {
  const stored = {
    body: Buffer.from('{"success":true}').toString('base64'),
    etag: '"abc"',
    upstreamEtag: 'W/"1"',
    headers: [['content-type', 'application/json']],
    storedAt: 5,
  };

  it('is the answer an instance stored, body and all', () => {
    expect(parseSharedAnswer(JSON.stringify(stored))).toEqual({
      body: Buffer.from('{"success":true}'),
      etag: '"abc"',
      upstreamEtag: 'W/"1"',
      headers: [['content-type', 'application/json']],
      storedAt: 5,
    });
  });

  it('is no copy at all when it is anything else', () => {
    for (const raw of [
      undefined,
      null,
      42,
      'not json',
      '[]',
      JSON.stringify({ ...stored, body: 7 }),
      JSON.stringify({ ...stored, storedAt: 'yesterday' }),
      JSON.stringify({ ...stored, upstreamEtag: 1 }),
      JSON.stringify({ ...stored, headers: [['x', 1]] }),
      JSON.stringify({ ...stored, headers: 'content-type: text/html' }),
    ]) {
      expect(parseSharedAnswer(raw)).toBeUndefined();
    }
  });
});
