import { describe, expect, it } from 'vitest';
import type { UpstreamRead } from '../upstream/client';
import { keepableCopy, keepRead, settleAnswer, sharedKeepMs } from './keepable';
import { etagOf, KeptAnswers } from './kept-answers';

type Answer = UpstreamRead & { kind: 'answer' };

const jsonRead = (status: number, value: unknown, headers: Record<string, string> = {}): Answer => ({
  kind: 'answer',
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: Buffer.from(JSON.stringify(value)),
});

const anything = () => undefined;
const refuses = () => {
  throw new Error('wrong shape');
};

describe('which upstream answers the edge keeps', () => {
  it('keeps a checked 200 of JSON with a strong ETag, the upstream’s validator and only headers that hold for its copy', () => {
    const settled = settleAnswer(jsonRead(200, { data: 1 }, { etag: '"up-1"', 'cache-control': 'max-age=9', 'x-other': 'y' }), anything, 1_000, 42);
    expect(settled.kind).toBe('kept');
    if (settled.kind !== 'kept') return;
    expect(settled.entry.storedAt).toBe(42);
    expect(settled.entry.etag).toBe(etagOf(settled.entry.body));
    expect(settled.entry.upstreamEtag).toBe('"up-1"');
    expect(settled.entry.headers).toEqual([
      ['content-type', 'application/json'],
      ['x-other', 'y'],
    ]);
    expect(settled.value).toEqual({ data: 1 });
  });

  it('drops secrets before keeping', () => {
    const settled = settleAnswer(jsonRead(200, { data: 1, secrets: { KEY: 'sk-planted' } }), anything, 1_000, 0);
    expect(settled.kind === 'kept' && settled.entry.body.toString()).not.toContain('sk-planted');
  });

  it('passes on without keeping an answer of the wrong shape, broken JSON, an error, or one past the bound', () => {
    const broken: Answer = { kind: 'answer', status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from('{') };
    const cases = [
      settleAnswer(jsonRead(200, { data: 1 }), refuses, 1_000, 0),
      settleAnswer(broken, anything, 1_000, 0),
      settleAnswer(jsonRead(200, { data: 1 }), anything, 3, 0),
    ];
    for (const settled of cases) expect(settled).toMatchObject({ kind: 'pass', dropsKept: true, pass: { kind: 'pass', status: 200 } });
    expect(settleAnswer(jsonRead(503, { error: 'down' }), anything, 1_000, 0)).toMatchObject({ kind: 'pass', dropsKept: false, pass: { status: 503 } });
  });

  it('re-stamps the held answer on a 304 and keeps it afresh if it was dropped meanwhile', () => {
    const kept = new KeptAnswers(1_000);
    const held = settleAnswer(jsonRead(200, { data: 1 }), anything, 1_000, 0);
    if (held.kind !== 'kept') throw new Error('not kept');
    const notModified: Answer = { kind: 'answer', status: 304, headers: {}, body: Buffer.alloc(0) };
    expect(keepRead(kept, 'k', held.entry, notModified, anything, 5_000)).toEqual({ kind: 'kept', entry: held.entry });
    expect(kept.peek('k')?.storedAt).toBe(5_000);
  });

  it('forgets the kept answer when a newer 2xx cannot be kept, and keeps it through an error', () => {
    const kept = new KeptAnswers(1_000);
    keepRead(kept, 'k', undefined, jsonRead(200, { data: 1 }), anything, 0);
    keepRead(kept, 'k', kept.peek('k'), jsonRead(500, { error: 'x' }), anything, 1);
    expect(kept.size).toBe(1);
    keepRead(kept, 'k', kept.peek('k'), jsonRead(200, { data: 2 }), refuses, 2);
    expect(kept.size).toBe(0);
  });
});

describe('another instance’s copy', () => {
  const copyOf = (value: unknown, storedAt: number) => {
    const body = Buffer.from(JSON.stringify(value));
    return { body, etag: 'theirs', upstreamEtag: '"up"', headers: [['set-cookie', 'x'] as [string, string]], storedAt };
  };

  it('is kept when stored within the window and it passes the check, with only a JSON content type and a validator of its own', () => {
    const copy = keepableCopy(copyOf({ data: 1 }, 1_000), anything, 500, 1_000, 1_200);
    expect(copy).toMatchObject({ storedAt: 1_000, upstreamEtag: '"up"', headers: [['content-type', 'application/json; charset=utf-8']] });
    expect(copy?.etag).toBe(etagOf(copy!.body));
  });

  it('is not kept past the window, from the future, past the bound, of the wrong shape, or when there is none', () => {
    expect(keepableCopy(copyOf({ data: 1 }, 1_000), anything, 500, 1_000, 1_500)).toBeUndefined();
    expect(keepableCopy(copyOf({ data: 1 }, 2_000), anything, 500, 1_000, 1_500)).toBeUndefined();
    expect(keepableCopy(copyOf({ data: 1 }, 1_000), anything, 500, 3, 1_200)).toBeUndefined();
    expect(keepableCopy(copyOf({ data: 1 }, 1_000), refuses, 500, 1_000, 1_200)).toBeUndefined();
    expect(keepableCopy(undefined, anything, 500, 1_000, 1_200)).toBeUndefined();
  });

  it('has its secrets dropped again', () => {
    const copy = keepableCopy(copyOf({ data: 1, secrets: { KEY: 'sk-planted' } }, 1_000), anything, 500, 1_000, 1_200);
    expect(copy?.body.toString()).not.toContain('sk-planted');
  });

  it('stays in Redis ten windows, at least a minute', () => {
    expect(sharedKeepMs(1_000)).toBe(60_000);
    expect(sharedKeepMs(60_000)).toBe(600_000);
  });
});
