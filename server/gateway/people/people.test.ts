import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../app';
import { readGatewayOptions } from '../options';
import { PUSH_PATH } from '../push/push';
import { AGENT, type Answer, ask, gatewayFor, jsonAnswer, makeDist, realPeople, type StandIn, startStandIn, TEST_PUSH_KEY } from '../test-kit';
import { IDENTITY_COOKIE } from './people';

const json = { 'Content-Type': 'application/json' };
const SESSIONS = '/api/messaging/sessions';

/**
 * A stand-in ElizaOS that makes sessions as ElizaOS does (for the userId the body names) and
 * answers their messages and info; `forgotten` sessions it made are unknown to the gateway's
 * book only if made through another gateway, so tests make those with `madeElsewhere`.
 */
function sessionsServer(upstream: StandIn) {
  const sessions = new Map<string, { channelId: string; userId: string }>();
  const answer: Answer = (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const body = upstream.seen.at(-1)?.body ?? '';
    if (req.method === 'POST' && url.pathname === SESSIONS) {
      const { userId, agentId } = JSON.parse(body) as { userId: string; agentId: string };
      const sessionId = randomUUID();
      const channelId = randomUUID();
      sessions.set(sessionId, { channelId, userId });
      return jsonAnswer(201, { sessionId, channelId, agentId, userId, createdAt: 1, expiresAt: 2 })(req, res);
    }
    const found = /^\/api\/messaging\/sessions\/([0-9a-f-]{36})(\/messages)?$/.exec(url.pathname);
    const session = found ? sessions.get(found[1]!) : undefined;
    if (found && !session) return jsonAnswer(404, { error: { code: 'SESSION_NOT_FOUND', message: 'no' } })(req, res);
    if (found && session && !found[2])
      return jsonAnswer(200, { sessionId: found[1], channelId: session.channelId, agentId: AGENT, userId: session.userId })(req, res);
    if (found && session && req.method === 'GET') return jsonAnswer(200, { messages: [], hasMore: false })(req, res);
    if (found && session)
      return jsonAnswer(201, { success: true, userMessage: { id: randomUUID(), channel_id: session.channelId, author_id: session.userId } })(req, res);
    if (url.pathname === '/api/agents') return jsonAnswer(200, { success: true, data: { agents: [] } })(req, res);
    if (url.pathname.endsWith('/memories')) return jsonAnswer(200, { success: true, data: { memories: [] } })(req, res);
    jsonAnswer(404, { error: { code: 'NOT_FOUND' } })(req, res);
  };
  /** A session made behind the gateway's back (another gateway, before a restart). */
  const madeElsewhere = (userId: string) => {
    const sessionId = randomUUID();
    sessions.set(sessionId, { channelId: randomUUID(), userId });
    return sessionId;
  };
  return { answer, sessions, madeElsewhere };
}

/** A browser: the cookie the gateway gave it, sent with every request after. */
function browser(gateway: Gateway) {
  let cookie: string | undefined;
  const request = async (pathAndQuery: string, options: { method?: string; body?: unknown } = {}) => {
    const reply = await ask(gateway.url, pathAndQuery, {
      method: options.method ?? 'GET',
      headers: { ...json, ...(cookie ? { cookie } : {}) },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
    const set = reply.headers['set-cookie']?.[0];
    if (set) cookie = set.split(';')[0];
    return reply;
  };
  return {
    request,
    cookie: () => cookie,
    async createSession(userId: string = randomUUID()) {
      const made = await request(SESSIONS, { method: 'POST', body: { agentId: AGENT, userId } });
      expect(made.status).toBe(201);
      return made.json() as { sessionId: string; channelId: string; userId: string; pushToken: string };
    },
  };
}

let upstream: StandIn;
let dist: string;
let eliza: ReturnType<typeof sessionsServer>;
const gateways: Gateway[] = [];
beforeEach(async () => {
  upstream = await startStandIn();
  eliza = sessionsServer(upstream);
  upstream.answer = eliza.answer;
  dist = makeDist();
});
afterEach(async () => {
  for (const gateway of gateways.splice(0)) await gateway.close();
  await upstream.close();
  fs.rmSync(dist, { recursive: true, force: true });
});
const open = async (env: Record<string, string> = {}) => {
  const gateway = await gatewayFor(upstream, dist, env, realPeople());
  gateways.push(gateway);
  return gateway;
};
const upstreamRequests = () => upstream.apiSeen().filter((seen) => seen.url !== '/api/system/config');

describe('people: who is who at the gateway', () => {
  it('gives a new browser an identity cookie (HttpOnly, SameSite=Lax, for the whole site) and knows it by it after', async () => {
    const gateway = await open();
    const alice = browser(gateway);
    const first = await alice.request('/api/purl/sync');
    expect(first.status).toBe(200);
    expect(first.headers['set-cookie']).toEqual([
      expect.stringMatching(new RegExp(`^${IDENTITY_COOKIE}=[\\w-]{43}; Max-Age=34560000; Path=/; HttpOnly; SameSite=Lax$`)),
    ]);
    const again = await alice.request('/api/purl/sync');
    expect(again.headers['set-cookie']).toBeUndefined();
    // What is the same for everyone gives no one an identity.
    expect((await ask(gateway.url, '/config.json')).headers['set-cookie']).toBeUndefined();
    expect((await ask(gateway.url, '/api/agents')).headers['set-cookie']).toBeUndefined();
  });

  it('says in /health how many identities it holds: each request without a cookie was given one', async () => {
    const gateway = await open();
    expect((await ask(gateway.url, '/api/purl/sync')).headers['set-cookie']).toHaveLength(1);
    expect((await ask(gateway.url, '/api/purl/sync')).headers['set-cookie']).toHaveLength(1);
    const health = (await ask(gateway.url, '/health')).json();
    expect(health.people).toEqual({ identities: 2 });
  });

  it('makes a session for the person asking, whatever userId the body names, and the same person each time', async () => {
    const gateway = await open();
    const alice = browser(gateway);
    const claimed = randomUUID();
    const first = await alice.createSession(claimed);
    expect(first.userId).not.toBe(claimed);
    expect(JSON.parse(upstreamRequests().at(-1)!.body)).toEqual({ agentId: AGENT, userId: first.userId });
    expect((await alice.createSession()).userId).toBe(first.userId);
    // Without a userId at all, too.
    const bare = await alice.request(SESSIONS, { method: 'POST', body: { agentId: AGENT } });
    expect(bare.json().userId).toBe(first.userId);
    expect((await browser(gateway).createSession(first.userId)).userId).not.toBe(first.userId);
  });

  it("answers a session's routes only for its owner: anyone else gets the 404 of no session, and nothing reaches ElizaOS", async () => {
    const gateway = await open();
    const alice = browser(gateway);
    const bob = browser(gateway);
    const session = await alice.createSession();
    await bob.createSession();
    const before = upstreamRequests().length;
    const messages = `${SESSIONS}/${session.sessionId}/messages`;
    const refusals = [
      await bob.request(`${messages}?limit=50`),
      await bob.request(messages, { method: 'POST', body: { content: 'posted as Alice?' } }),
      await bob.request(`${PUSH_PATH}?session=${session.sessionId}.${session.channelId}.${session.pushToken}`),
      // An upper-case id is the same session.
      await bob.request(`${SESSIONS}/${session.sessionId.toUpperCase()}/messages?limit=50`),
    ];
    for (const refused of refusals) {
      expect(refused.status).toBe(404);
      expect(refused.json().error.code).toBe('SESSION_NOT_FOUND');
      expect(refused.body).not.toContain(session.sessionId);
    }
    // A sync naming her session: his memories and agents, her chat as gone, nothing of it read.
    const sync = await bob.request(`/api/purl/sync?session=${session.sessionId}&limit=50`);
    expect(sync.status).toBe(200);
    expect(sync.json().chat).toEqual({ gone: true });
    expect(
      upstreamRequests()
        .slice(before)
        .filter((seen) => seen.url.includes(session.sessionId)),
    ).toEqual([]);
    // Alice herself is answered.
    expect((await alice.request(`${messages}?limit=50`)).status).toBe(200);
    expect((await alice.request(messages, { method: 'POST', body: { content: 'mine' } })).status).toBe(201);
    expect((await alice.request(`/api/purl/sync?session=${session.sessionId}&limit=50`)).json().chat).toEqual({ messages: [], hasMore: false });
  });

  it('asks ElizaOS once whose a session is when the gateway did not make it, and answers by what it says', async () => {
    const gateway = await open();
    const alice = browser(gateway);
    const bob = browser(gateway);
    const { userId } = await alice.createSession();
    await bob.createSession();
    const hers = eliza.madeElsewhere(userId);
    const lookups = () => upstreamRequests().filter((seen) => seen.url === `${SESSIONS}/${hers}`).length;
    expect((await alice.request(`${SESSIONS}/${hers}/messages?limit=50`)).status).toBe(200);
    expect((await alice.request(`${SESSIONS}/${hers}/messages?limit=50`)).status).toBe(200);
    expect((await bob.request(`${SESSIONS}/${hers}/messages?limit=50`)).status).toBe(404);
    expect(lookups()).toBe(1);
    // One ElizaOS does not know: no one's.
    expect((await alice.request(`${SESSIONS}/${randomUUID()}/messages?limit=50`)).status).toBe(404);
  });

  it('says it cannot tell whose a session is while ElizaOS does not answer, and forwards nothing', async () => {
    const gateway = await open({ GATEWAY_UPSTREAM_TIMEOUT: '1000' });
    const alice = browser(gateway);
    await alice.createSession();
    upstream.answer = jsonAnswer(500, { error: { code: 'INTERNAL' } });
    const unknown = await alice.request(`${SESSIONS}/${randomUUID()}/messages`, { method: 'POST', body: { content: 'kept in the outbox' } });
    expect(unknown.status).toBe(503);
    expect(unknown.headers['retry-after']).toBe('5');
    expect(unknown.json().error.code).toBe('OWNER_UNKNOWN');
    expect(upstreamRequests().filter((seen) => seen.method === 'POST' && seen.url.endsWith('/messages'))).toEqual([]);
  });

  it("keeps people across a restart in PURL_DATA_DIR's people.json", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-people-'));
    try {
      const start = async () => {
        const { options } = readGatewayOptions(
          { ELIZA_SERVER_URL: upstream.url, PORT: '0', PURL_DIST_DIR: dist, PURL_DATA_DIR: dataDir, PURL_PUSH_SECRET: TEST_PUSH_KEY.toString('hex') },
          undefined,
        );
        return startGateway(options);
      };
      const first = await start();
      const alice = browser(first);
      const session = await alice.createSession();
      // Its next request confirms it: the browser came back with its cookie.
      await alice.request(`${SESSIONS}/${session.sessionId}/messages?limit=50`);
      await first.close();
      expect(fs.statSync(path.join(dataDir, 'people.json')).mode & 0o777).toBe(0o600);
      const second = await start();
      gateways.push(second);
      const again = await ask(second.url, `${SESSIONS}/${session.sessionId}/messages?limit=50`, { headers: { cookie: alice.cookie()! } });
      expect(again.status).toBe(200);
      expect(again.headers['set-cookie']).toBeUndefined();
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
