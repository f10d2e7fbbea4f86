import { describe, expect, it } from 'vitest';
import { apiPaths, checkAnswer, hasAnswerShape, parseAgentList, parseMemories, parsePushEvent, parseSession } from './api';
import { PurlError } from './errors';

const agentId = '11111111-1111-4111-8111-111111111111';
const userId = '22222222-2222-4222-8222-222222222222';

function memory(overrides: Record<string, unknown> = {}) {
  return {
    id: 'm1',
    type: 'messages',
    createdAt: 1_700_000_000_000,
    content: { text: 'hello', source: 'client_chat' },
    entityId: userId,
    agentId,
    roomId: 'r1',
    metadata: {},
    ...overrides,
  };
}

const envelope = (memories: unknown[]) => ({ success: true, data: { memories } });

describe('parseAgentList', () => {
  it('keeps id, name, bio and status and nothing else', () => {
    const agents = parseAgentList({
      success: true,
      data: { agents: [{ id: agentId, name: 'Purl', characterName: 'Purl', bio: ['A', 'B'], status: 'active', settings: { secrets: { KEY: 'x' } } }] },
    });
    expect(agents).toEqual([{ id: agentId, name: 'Purl', bio: 'A B', status: 'active' }]);
  });

  it('rejects a body without the success envelope with a clear error', () => {
    expect(() => parseAgentList({ agents: [] })).toThrowError(PurlError);
    expect(() => parseAgentList({ agents: [] })).toThrowError(/could not read: the body does not say success/);
  });

  it('rejects an agent without an id and names which one', () => {
    expect(() => parseAgentList({ success: true, data: { agents: [{ name: 'x' }] } })).toThrowError(/agents\[0\]\.id/);
  });
});

describe('parseMemories', () => {
  it('flattens a user memory and an agent memory with thought and actions', () => {
    const parsed = parseMemories(
      envelope([memory(), memory({ id: 'm2', entityId: agentId, content: { text: 'hi!', thought: 'be kind', actions: ['REPLY', 7], inReplyTo: 'm1' } })]),
      agentId,
    );
    expect(parsed[0]).toEqual({
      id: 'm1',
      agentId,
      roomId: 'r1',
      entityId: userId,
      createdAt: 1_700_000_000_000,
      text: 'hello',
      isAgent: false,
      source: 'client_chat',
    });
    expect(parsed[1]).toMatchObject({ id: 'm2', isAgent: true, thought: 'be kind', actions: ['REPLY'], inReplyTo: 'm1' });
  });

  it('accepts an ISO date for createdAt', () => {
    const [parsed] = parseMemories(envelope([memory({ createdAt: '2026-01-02T03:04:05.000Z' })]), agentId);
    expect(parsed?.createdAt).toBe(Date.parse('2026-01-02T03:04:05.000Z'));
  });

  it.each([
    ['a list instead of the envelope', []],
    ['null', null],
    ['an HTML page', '<html>502</html>'],
    ['memories that is not a list', { success: true, data: { memories: 'nope' } }],
    ['a memory without content', envelope([memory({ content: null })])],
    ['a memory with a bad time', envelope([memory({ createdAt: 'yesterday' })])],
    ['a memory with a negative time', envelope([memory({ createdAt: -5 })])],
    ['a memory without a room', envelope([memory({ roomId: '' })])],
  ])('rejects %s', (_label, body) => {
    expect(() => parseMemories(body, agentId)).toThrowError(PurlError);
  });

  it('rejects memories of another agent rather than mixing histories', () => {
    expect(() => parseMemories(envelope([memory({ agentId: 'someone-else' })]), agentId)).toThrowError(/belongs to another agent/);
  });

  it('keeps text that looks like HTML exactly as it came', () => {
    const text = '<img src=x onerror=alert(1)>';
    const [parsed] = parseMemories(envelope([memory({ content: { text } })]), agentId);
    expect(parsed?.text).toBe(text);
  });
});

describe('checkAnswer', () => {
  const session = { sessionId: 's1', channelId: 'c1', agentId, userId };
  const good: [string, string, unknown][] = [
    ['GET', '/api/agents', { success: true, data: { agents: [{ id: agentId, name: 'Purl' }] } }],
    ['GET', `/api/agents/${agentId}/memories`, envelope([memory()])],
    ['POST', '/api/messaging/sessions', session],
    ['GET', '/api/messaging/sessions/s1/messages', { messages: [{ id: 'x', authorId: userId, content: 'hi', createdAt: 1 }] }],
    ['POST', '/api/messaging/sessions/s1/messages', { success: true, userMessage: { id: 'x', content: 'hi', created_at: 1 } }],
  ];

  it.each(good)('accepts a good answer to %s %s', (method, path, body) => {
    expect(hasAnswerShape(method, path)).toBe(true);
    expect(() => checkAnswer(method, path, body)).not.toThrow();
  });

  it.each(good)('refuses JSON of the wrong shape to %s %s', (method, path) => {
    expect(() => checkAnswer(method, path, { success: true, data: { items: 'none' }, messages: {} })).toThrowError(PurlError);
  });

  it('checks memories against the agent named in the path', () => {
    expect(() => checkAnswer('GET', '/api/agents/someone-else/memories', envelope([memory()]))).toThrowError(/another agent/);
  });

  it('has no shape for paths Purl does not read, and lets them pass', () => {
    expect(hasAnswerShape('GET', '/api/server/ping')).toBe(false);
    expect(hasAnswerShape('DELETE', '/api/agents')).toBe(false);
    expect(() => checkAnswer('GET', '/api/server/ping', '<html>')).not.toThrow();
  });
});

describe('push (docs/push.md)', () => {
  const session = { sessionId: 's1', channelId: 'c1', agentId: 'a1', userId: 'u1' };
  const token = `${'A'.repeat(40)}_-9`;

  it('keeps a push token of the gateway’s shape with the session, and ignores any other', () => {
    expect(parseSession({ ...session, pushToken: token })).toEqual({ ...session, pushToken: token });
    for (const pushToken of ['short', `${token}x`, `${'A'.repeat(42)}=`, 42, null]) expect(parseSession({ ...session, pushToken })).toEqual(session);
    expect(apiPaths.push({ ...session, pushToken: token }, 'ep.4')).toBe(`/api/purl/push?session=s1.c1.${token}&lastEventId=ep.4`);
  });

  it('reads the gateway’s events and refuses anything else with a sentence', () => {
    expect(parsePushEvent('hello', '{"epoch":"ep","upstream":"up"}')).toEqual({ event: 'hello', epoch: 'ep', upstream: 'up' });
    expect(parsePushEvent('upstream', '{"state":"refused"}')).toEqual({ event: 'upstream', upstream: 'refused' });
    expect(parsePushEvent('reset', '{"sessionIds":["s1"]}')).toEqual({ event: 'reset', sessionIds: ['s1'] });
    expect(parsePushEvent('message', '{"sessionId":"s1","message":{"id":"m"}}')).toEqual({ event: 'message', sessionId: 's1', message: { id: 'm' } });
    expect(() => parsePushEvent('hello', '{"epoch":"ep","upstream":"sideways"}')).toThrow(/up, down or refused/);
    expect(() => parsePushEvent('message', '{"sessionId":"s1","message":"hi"}')).toThrow(/not an object/);
    expect(() => parsePushEvent('reset', '{"sessionIds":[1]}')).toThrow(/list of ids/);
    expect(() => parsePushEvent('message', 'not json')).toThrow(PurlError);
    expect(() => parsePushEvent('takeover', '{}')).toThrow(/not a push event/);
    expect(parsePushEvent('memories', `{"agentId":"${agentId}","cursor":"0123456789ab.7"}`)).toEqual({ event: 'memories', agentId, cursor: '0123456789ab.7' });
    expect(() => parsePushEvent('memories', `{"agentId":"${agentId}","cursor":7}`)).toThrow(/not a sync cursor/);
    expect(() => parsePushEvent('memories', '{"cursor":"0123456789ab.7"}')).toThrow(/agentId/);
  });
});
