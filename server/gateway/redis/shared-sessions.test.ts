/**
 * What Redis holds for a session is checked on the way back (the round trip through a
 * real Redis is in shared-sessions.redis.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { parseStoredSession } from './shared-sessions';

const CHANNEL = '22222222-0000-4000-8000-000000000002';
const USER = 'ABCDEF01-0000-4000-8000-00000000000A';

describe('a session record read back from Redis', () => {
  it('keeps a user id in capitals: the session book stores it as ElizaOS named it, and ElizaOS accepts either case', () => {
    expect(parseStoredSession(JSON.stringify({ channelId: CHANNEL, userId: USER, agentId: USER.toLowerCase(), client: '10.0.0.1', seenAt: 5 }))).toEqual({
      channelId: CHANNEL,
      userId: USER,
      agentId: USER.toLowerCase(),
      client: '10.0.0.1',
      seenAt: 5,
    });
  });

  it('is no record when an id is not a UUID', () => {
    expect(parseStoredSession(JSON.stringify({ channelId: CHANNEL, userId: 'me', client: '10.0.0.1', seenAt: 5 }))).toBeUndefined();
    expect(parseStoredSession(JSON.stringify({ channelId: `${CHANNEL}x`, userId: USER, client: '10.0.0.1', seenAt: 5 }))).toBeUndefined();
  });
});
