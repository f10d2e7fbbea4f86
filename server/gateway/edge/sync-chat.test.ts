import { describe, expect, it } from 'vitest';
import { createUpstreamBudget } from '../budget/upstream-budget';
import type { UpstreamRead } from '../upstream/client';
import { chatPartOf, chatPathOf, readChat, withChat } from './sync-chat';

const SESSION = 'b3c2a1d0-0000-4000-8000-00000000000a';
const path = chatPathOf({ session: SESSION, limit: 5 });
const message = { id: 'c-1', authorId: 'u-1', isAgent: false, content: 'hello', createdAt: 1_700_000_000_000, metadata: {} };
const json = (status: number, value: unknown): UpstreamRead => ({
  kind: 'answer',
  status,
  headers: { 'content-type': 'application/json' },
  body: Buffer.from(JSON.stringify(value)),
});

describe('the chat part of a sync answer', () => {
  it('is ElizaOS’s answer, cleaned of secrets, and the chat edge is told of it', () => {
    const part = chatPartOf(json(200, { success: true, messages: [message], secrets: { KEY: 'sk-planted' } }), path);
    expect(part).toMatchObject({ tell: { status: 200 } });
    expect('json' in part && JSON.parse(part.json)).toEqual({ success: true, messages: [message] });
  });

  it('says the session is gone on a 404 or 410', () => {
    for (const status of [404, 410]) expect(chatPartOf(json(status, {}), path)).toEqual({ json: '{"gone":true}', tell: { status } });
  });

  it('is an error with a sentence when the read failed, the server erred, or its answer is refused, and then tells the chat edge nothing', () => {
    const failed: UpstreamRead = { kind: 'failed', status: 504, code: 'UPSTREAM_TIMEOUT', message: 'Too slow.' };
    expect(chatPartOf(failed, path)).toEqual({ json: JSON.stringify({ error: { status: 504, code: 'UPSTREAM_TIMEOUT', message: 'Too slow.' } }) });
    expect(JSON.parse((chatPartOf(json(500, {}), path) as { json: string }).json)).toMatchObject({ error: { status: 500, code: 'UPSTREAM_ERROR' } });
    const html: UpstreamRead = { kind: 'answer', status: 200, headers: { 'content-type': 'text/html' }, body: Buffer.from('<p>') };
    expect(chatPartOf(html, path)).not.toHaveProperty('tell');
    expect(JSON.parse((chatPartOf(html, path) as { json: string }).json)).toMatchObject({ error: { status: 502, code: 'UPSTREAM_BAD_ANSWER' } });
  });

  it('is the whole answer when the server says 429', () => {
    expect(chatPartOf(json(429, { error: 'slow down' }), path)).toMatchObject({ limitedBy: { kind: 'pass', status: 429 } });
  });

  it('goes inside the shared part, just before its closing brace', () => {
    expect(withChat(Buffer.from('{"cursor":"x"}'), '{"gone":true}').toString()).toBe('{"cursor":"x","chat":{"gone":true}}');
    expect(withChat(Buffer.from('{"cursor":"x"}'), undefined).toString()).toBe('{"cursor":"x"}');
  });
});

describe('reading the chat part', () => {
  const options = (read: UpstreamRead | undefined, heard?: string) => {
    const told: unknown[][] = [];
    const asked: string[] = [];
    return {
      told,
      asked,
      options: {
        budget: createUpstreamBudget(),
        now: () => 1_000,
        readOwn: (askedPath: string) => {
          asked.push(askedPath);
          return read && Promise.resolve(read);
        },
        chatEdge: {
          answer: () => heard,
          reading:
            () =>
            (...args: unknown[]) =>
              void told.push(args),
        },
      },
    };
  };
  const signal = new AbortController().signal;

  it('takes what the gateway heard, reading nothing', async () => {
    const { options: chat, asked } = options(undefined, '{"messages":[]}');
    expect(await readChat(chat, { session: SESSION, limit: 5 }, 'c', signal)).toEqual({ json: '{"messages":[]}', heard: true });
    expect(asked).toEqual([]);
  });

  it('reads upstream otherwise, and tells the chat edge what it read', async () => {
    const { options: chat, asked, told } = options(json(200, { success: true, messages: [message] }));
    expect(await readChat(chat, { session: SESSION, limit: 5 }, 'c', signal)).toMatchObject({ heard: false });
    expect(asked).toEqual([path]);
    expect(told).toEqual([[200, { success: true, messages: [message] }]]);
  });

  it('is left out while the budget keeps such reads back', async () => {
    const { options: chat } = options(undefined);
    expect(await readChat(chat, { session: SESSION, limit: 5 }, 'c', signal)).toBeUndefined();
  });
});
