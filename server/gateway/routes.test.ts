import { describe, expect, it } from 'vitest';
import { apiPaths, MAX_MESSAGE_LENGTH } from '../../src/shared/api';
import { ELIZA_ROUTES, matchElizaRoute, matchRoute, ROUTES } from './routes';

const AGENT = '2a6e1e0c-4b7f-4c55-9c1a-1f0e0a7b3c11';
const SESSION = 'b3c2a1d0-0000-4000-8000-00000000000a';
const route = (name: string) => ELIZA_ROUTES.find((entry) => entry.name === name)!;

describe('the allowlist', () => {
  it.each([
    ['GET', apiPaths.agents, 'agents'],
    ['GET', apiPaths.memories(AGENT), 'memories'],
    ['POST', apiPaths.sessions, 'create-session'],
    ['GET', `${apiPaths.sessionMessages(SESSION)}?limit=50`, 'session-messages'],
    ['POST', apiPaths.sessionMessages(SESSION), 'send-message'],
  ])('lets the app’s own %s %s through as %s', (method, url, name) => {
    expect(matchElizaRoute(method, url)?.route.name).toBe(name);
  });

  it('rebuilds the upstream path from what it checked', () => {
    expect(matchElizaRoute('GET', `/api/agents/${AGENT}/memories?includeEmbedding=false&tableName=messages`)?.upstreamPath).toBe(
      `/api/agents/${AGENT}/memories?includeEmbedding=false&tableName=messages`,
    );
    expect(matchElizaRoute('GET', '/api/agents?')?.upstreamPath).toBe('/api/agents');
  });

  it.each([
    ['GET', '/api/system/env/local'],
    ['POST', '/api/system/env/local'],
    ['GET', `/api/agents/${AGENT}`],
    ['DELETE', `/api/agents/${AGENT}`],
    ['POST', `/api/agents/${AGENT}/start`],
    ['DELETE', `/api/memory/${AGENT}/memories`],
    ['GET', '/api/server/logs'],
    ['GET', '/api/agents/'],
    ['HEAD', '/api/agents'],
    ['OPTIONS', '/api/agents'],
    ['GET', `/api/agents/${AGENT}/memories`],
    ['GET', `/api/agents/${AGENT}/memories?tableName=messages&includeEmbedding=true`],
    ['GET', `/api/agents/${AGENT}/memories?tableName=facts&includeEmbedding=false`],
    ['GET', `/api/agents/${AGENT}/memories?tableName=messages&includeEmbedding=false&roomId=${AGENT}`],
    ['GET', `/api/agents/${AGENT}/memories?tableName=messages&tableName=messages&includeEmbedding=false`],
    ['GET', '/api/agents/not-a-uuid/memories?tableName=messages&includeEmbedding=false'],
    ['GET', `/api/agents/../system/env/local`],
    ['GET', `/api/agents/${AGENT}/../../system/env/local`],
    ['GET', `/api/agents/%2e%2e/memories?tableName=messages&includeEmbedding=false`],
    ['GET', `//api/agents`],
    ['GET', `/api//agents`],
    ['GET', `/API/agents`],
    ['GET', `${apiPaths.sessionMessages(SESSION)}?limit=0`],
    ['GET', `${apiPaths.sessionMessages(SESSION)}?limit=101`],
    ['GET', `${apiPaths.sessionMessages(SESSION)}?limit=5e1`],
    ['GET', `${apiPaths.sessionMessages(SESSION)}?limit=50&after=0`],
    ['DELETE', `/api/messaging/sessions/${SESSION}`],
    ['POST', `/api/messaging/sessions/${SESSION}/renew`],
    ['GET', '/api/messaging/sessions'],
  ])('refuses %s %s', (method, url) => {
    expect(matchElizaRoute(method, url)).toBeUndefined();
  });

  it('says why each route is there, and counts memories against their own limit', () => {
    for (const entry of ELIZA_ROUTES) expect(entry.why.length).toBeGreaterThan(10);
    expect(ELIZA_ROUTES.filter((entry) => entry.limits.includes('memories')).map((entry) => entry.name)).toEqual(['memories']);
  });

  it('shares only the reads that are the same for every user: GETs without a body', () => {
    const shared = ELIZA_ROUTES.filter((entry) => entry.shared);
    expect(shared.map((entry) => entry.name)).toEqual(['agents', 'memories']);
    for (const entry of shared) expect([entry.methods, entry.body]).toEqual([['GET'], undefined]);
  });
});

describe('bodies the allowlist accepts', () => {
  const newSession = route('create-session').body!;
  const newMessage = route('send-message').body!;

  it('takes the app’s own session and message bodies', () => {
    expect(newSession({ agentId: AGENT, userId: SESSION })).toBeUndefined();
    // The userId is the gateway's to give (the person asking): the app need not send one.
    expect(newSession({ agentId: AGENT })).toBeUndefined();
    expect(newMessage({ content: 'hello', metadata: { clientMessageId: 'c-1' } })).toBeUndefined();
  });

  it.each([
    [[], /JSON object/],
    [{ agentId: 'x', userId: SESSION }, /agentId must be a UUID/],
    [{ agentId: AGENT, userId: 'someone' }, /userId must be a UUID/],
    [{ agentId: AGENT, userId: SESSION, timeoutConfig: { timeoutMinutes: 99999 } }, /"timeoutConfig" is not accepted/],
    [{ agentId: AGENT, userId: SESSION, metadata: 'x' }, /metadata must be an object/],
  ])('refuses the session body %j', (body, message) => {
    expect(newSession(body)).toMatch(message);
  });

  it.each([
    [{ content: '' }, /non-empty/],
    [{ content: 42 }, /non-empty string/],
    [{ content: 'x'.repeat(MAX_MESSAGE_LENGTH + 1) }, new RegExp(`at most ${MAX_MESSAGE_LENGTH} characters`)],
    [{ content: 'hi', transport: 'http' }, /"transport" is not accepted/],
    [{ content: 'hi', metadata: { blob: 'x'.repeat(11_000) } }, /at most 10240 bytes/],
  ])('refuses the message body %j', (body, message) => {
    expect(newMessage(body)).toMatch(message);
  });

  it('takes a message of exactly the longest length', () => {
    expect(newMessage({ content: 'x'.repeat(MAX_MESSAGE_LENGTH) })).toBeUndefined();
  });
});

describe('the route table', () => {
  it('names each route once and says why it is there', () => {
    expect(new Set(ROUTES.map((entry) => entry.name)).size).toBe(ROUTES.length);
    for (const entry of ROUTES) expect(entry.why.length).toBeGreaterThan(10);
  });

  it('gives every ElizaOS route an exact query and an upstream cost, and no other route a cost', () => {
    for (const entry of ROUTES) expect(entry.cost !== undefined).toBe(entry.query?.kind === 'exact');
    expect(ELIZA_ROUTES.map((entry) => entry.name)).toEqual(['agents', 'memories', 'create-session', 'session-messages', 'send-message']);
  });

  it.each([
    ['GET', '/config.json', 'config'],
    ['HEAD', '/healthz', 'liveness'],
    ['GET', '/health?x=1', 'health'],
    ['GET', '/api/purl/sync?agentId=x', 'sync'],
    ['GET', '/api/purl/push', 'push'],
    ['POST', '/api/purl/sync', 'not-served'],
    ['DELETE', `/api/agents/${AGENT}`, 'not-served'],
    ['GET', '/API/agents', 'not-served'],
    ['GET', '/api', 'not-served'],
    ['GET', `/api/agents/${AGENT}/memories?includeEmbedding=true`, 'memories'],
    ['GET', '/apis', 'app'],
    ['POST', '/config.json', 'app'],
    ['GET', '/assets/index.js', 'app'],
  ])('matches %s %s to %s (the query is checked later, in the door)', (method, url, name) => {
    expect(matchRoute(ROUTES, method, url)?.route.name).toBe(name);
  });

  it('hands a path pattern’s ids to the handler as sent', () => {
    expect(matchRoute(ROUTES, 'POST', `/api/messaging/sessions/${SESSION.toUpperCase()}/messages`)?.ids).toEqual([SESSION.toUpperCase()]);
  });

  it('keeps the push stream uncompressed and the data routes to the app’s own origin', () => {
    expect(ROUTES.filter((entry) => entry.compress === false).map((entry) => entry.name)).toEqual(['push']);
    expect(ROUTES.filter((entry) => entry.origin === 'any').map((entry) => entry.name)).toEqual(['liveness', 'app']);
  });
});

describe('who may use each route', () => {
  it("names, for every route that is someone's, the person who asks, and for every route naming a session, whose it must be", () => {
    const someones = ROUTES.filter((entry) => entry.who === 'person').map((entry) => entry.name);
    expect(someones).toEqual(['sync', 'push', 'create-session', 'session-messages', 'send-message']);
    // Every route whose path or query can name a chat session checks its owner; making one needs no owner.
    const namingSessions = ROUTES.filter((entry) => /sessions/.test(String(entry.path)) || entry.name === 'sync' || entry.name === 'push');
    for (const entry of namingSessions) {
      if (entry.name === 'create-session' || entry.name === 'not-served') continue;
      expect(entry.owns, entry.name).toBeDefined();
      expect(entry.who, entry.name).toBe('person');
    }
    // What goes upstream as a user's own request is someone's.
    for (const entry of ROUTES.filter((candidate) => candidate.cost === 'message' || candidate.cost === 'own-read'))
      expect(entry.who, entry.name).toBe('person');
  });

  it('takes the session a path names, and the sessions of a push or sync query, as the ones to own', () => {
    const owned = (name: string, ids: string[], query: unknown) => ROUTES.find((entry) => entry.name === name)!.owns!.sessions(ids, query);
    expect(owned('session-messages', [SESSION], undefined)).toEqual([SESSION]);
    expect(owned('sync', [], { chat: { session: SESSION, limit: 5 } })).toEqual([SESSION]);
    expect(owned('sync', [], {})).toEqual([]);
    expect(owned('push', [], { sessions: [{ sessionId: SESSION }, { sessionId: AGENT }] })).toEqual([SESSION, AGENT]);
  });
});
