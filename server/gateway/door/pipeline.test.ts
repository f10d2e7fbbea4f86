import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type RequestHandler } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../../src/shared/clock';
import { createMemoryIdentities } from '../people/identities';
import type { Owned, Ownership } from '../people/ownership';
import { createPeople, IDENTITY_COOKIE } from '../people/people';
import type { Route } from '../routes';
import { createPipeline, type Exchange, type Handlers, notServed } from './pipeline';

/** Whose the test's sessions are: `a1` and `a2` are the first person's, `b1` someone else's; `x` cannot be told. */
function ownershipOf(firstPerson: () => string | undefined): Ownership {
  return {
    async of(sessionId, personId) {
      if (sessionId === 'x') return 'unknown';
      const owner = sessionId.startsWith('a') ? firstPerson() : 'someone-else';
      return (owner === personId ? 'theirs' : 'not-theirs') satisfies Owned;
    },
  };
}

/** A small table of its own: one own route with a parsed query, one exact ElizaOS-like POST, the fallbacks. */
const TABLE: readonly Route[] = [
  {
    name: 'echo',
    methods: ['GET'],
    path: '/api/echo',
    origin: 'same',
    limits: ['api'],
    who: 'anyone',
    query: { kind: 'parsed', parse: (params) => (params.get('n') === 'bad' ? { problem: 'n is bad.' } : { query: { n: params.get('n') } }) },
    handler: 'own',
    why: 'a route of the test table',
  },
  {
    name: 'post',
    methods: ['POST'],
    path: /^\/api\/things\/([a-z]+)$/,
    origin: 'same',
    limits: ['api', 'memories'],
    who: 'anyone',
    query: { kind: 'exact', params: { x: (value) => value === '1' } },
    body: (body) => ((body as { ok?: unknown }).ok === true ? undefined : 'ok must be true.'),
    cost: 'message',
    handler: 'proxy',
    why: 'a route of the test table',
  },
  {
    name: 'session',
    methods: ['POST'],
    path: /^\/api\/sessions\/([a-z0-9]+)$/,
    origin: 'same',
    limits: ['api'],
    who: 'person',
    owns: { sessions: (ids) => ids, otherwise: 'not-found' },
    body: (body) => ((body as { ok?: unknown }).ok === true ? undefined : 'ok must be true.'),
    handler: 'socket-send',
    why: "a route of someone's session",
  },
  {
    name: 'gone',
    methods: ['GET'],
    path: '/api/gone',
    origin: 'same',
    limits: [],
    who: 'person',
    query: { kind: 'parsed', parse: (params) => ({ query: { sessions: params.getAll('s') } }) },
    owns: { sessions: (_ids, query) => (query as { sessions: string[] }).sessions, otherwise: 'gone' },
    handler: 'own',
    why: "a route that answers someone else's session as gone",
  },
  { name: 'off', methods: ['GET'], path: '/api/off', origin: 'same', limits: [], who: 'anyone', handler: 'edge', why: 'a route whose part is off' },
  {
    name: 'not-served',
    methods: 'any',
    path: /^\/api(?:\/|$)/i,
    origin: 'same',
    limits: [],
    who: 'anyone',
    handler: 'not-served',
    why: 'the 404 of the test table',
  },
];

interface Run {
  url: string;
  /** The person each identified request was, in order. */
  persons: string[];
  /** What each step saw, in order: the limits by name, the handlers by route. */
  steps: string[];
  seen: Exchange[];
}

let server: http.Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

/** Serves the test table; `refuse` names a limit that answers 429. */
async function serve(refuse?: 'api' | 'memories'): Promise<Run> {
  const steps: string[] = [];
  const seen: Exchange[] = [];
  const limit =
    (name: 'api' | 'memories'): RequestHandler =>
    (_req, res, next) => {
      steps.push(`limit:${name}`);
      if (refuse === name) res.status(429).json({ refused: name });
      else next();
    };
  const answer = (exchange: Exchange) => {
    steps.push(`handler:${exchange.route.name}`);
    seen.push(exchange);
    exchange.res.json({
      route: exchange.route.name,
      query: exchange.query,
      upstreamPath: exchange.upstreamPath,
      ids: exchange.ids,
      body: exchange.body?.value,
    });
  };
  const handlers: Handlers = {
    kinds: { proxy: answer, 'socket-send': answer, 'not-served': notServed },
    own: {
      echo: answer,
      gone: (exchange) => {
        steps.push('handler:gone');
        exchange.res.json({ person: exchange.person?.id, notOwned: [...exchange.notOwned] });
      },
    },
  };
  const people = createPeople({ signIn: 'device', store: createMemoryIdentities({ clock: manualClock() }), now: () => 0 });
  const identify: typeof people.identify = async (...args) => {
    steps.push('identify');
    const person = await people.identify(...args);
    persons.push(person.id);
    return person;
  };
  const persons: string[] = [];
  const app = express();
  app.use(
    createPipeline(TABLE, handlers, {
      allowedHosts: [],
      people: { ...people, identify },
      ownership: ownershipOf(() => persons[0]),
      limits: { api: limit('api'), memories: limit('memories') },
      maxBodyBytes: 64,
    }),
  );
  app.use((_req, res) => {
    steps.push('fallthrough');
    res.status(404).send('Not found.');
  });
  server = http.createServer(app);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, persons, steps, seen };
}

const post = (url: string, body: string, type = 'application/json') => fetch(url, { method: 'POST', headers: { 'content-type': type }, body });

describe('the door', () => {
  it('walks host, route, origin, limits, query, body, then the handler', async () => {
    const run = await serve();
    const answer = await post(`${run.url}/api/things/abc?x=1`, '{"ok":true}');
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ route: 'post', upstreamPath: '/api/things/abc?x=1', ids: ['abc'], body: { ok: true } });
    expect(run.steps).toEqual(['limit:api', 'limit:memories', 'handler:post']);
  });

  it('refuses a foreign Host before anything else runs', async () => {
    const run = await serve();
    const answer = await new Promise<http.IncomingMessage>((resolve) =>
      http.get(`${run.url}/api/echo`, { headers: { host: 'evil.example' } }, (res) => resolve(res.resume())),
    );
    expect(answer.statusCode).toBe(403);
    expect(run.steps).toEqual([]);
  });

  it('refuses another origin before the limits count it', async () => {
    const run = await serve();
    const answer = await fetch(`${run.url}/api/echo?n=bad`, { headers: { origin: 'https://evil.example' } });
    expect(answer.status).toBe(403);
    expect(((await answer.json()) as { error: { code: string } }).error.code).toBe('CROSS_ORIGIN');
    expect(run.steps).toEqual([]);
  });

  it('counts a request against its limits before checking its query', async () => {
    const limited = await serve('api');
    expect((await fetch(`${limited.url}/api/echo?n=bad`)).status).toBe(429);
    server!.close();
    const run = await serve();
    const answer = await fetch(`${run.url}/api/echo?n=bad`);
    expect(answer.status).toBe(400);
    expect(await answer.json()).toEqual({ success: false, error: { code: 'INVALID_QUERY', message: 'n is bad.' } });
    expect(run.steps).toEqual(['limit:api']);
  });

  it('stops at the first limit that refuses', async () => {
    const run = await serve('api');
    expect((await post(`${run.url}/api/things/abc?x=1`, '{"ok":true}')).status).toBe(429);
    expect(run.steps).toEqual(['limit:api']);
  });

  it('answers an exact query that is not the allowlisted one with the 404 of paths it does not serve', async () => {
    const run = await serve();
    for (const query of ['', '?x=2', '?x=1&x=1', '?x=1&y=1']) {
      const answer = await post(`${run.url}/api/things/abc${query}`, '{"ok":true}');
      expect(answer.status).toBe(404);
      expect(((await answer.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    }
    expect(run.seen).toEqual([]);
  });

  it('reads the body after the query: not JSON, too large and the wrong shape each get their own answer', async () => {
    const run = await serve();
    expect((await post(`${run.url}/api/things/abc?x=1`, 'ok', 'text/plain')).status).toBe(415);
    const large = await post(`${run.url}/api/things/abc?x=1`, JSON.stringify({ ok: true, pad: 'x'.repeat(100) }));
    expect(large.status).toBe(413);
    expect(large.headers.get('connection')).toBe('close');
    const wrong = await post(`${run.url}/api/things/abc?x=1`, '{"ok":false}');
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toEqual({ success: false, error: { code: 'INVALID_BODY', message: 'ok must be true.' } });
    expect(run.seen).toEqual([]);
  });

  it('hands a parsed query to the handler', async () => {
    const run = await serve();
    expect(await (await fetch(`${run.url}/api/echo?n=7`)).json()).toMatchObject({ route: 'echo', query: { n: '7' } });
  });

  it('does not serve a route whose part is off: the next entry answers it', async () => {
    const run = await serve();
    const answer = await fetch(`${run.url}/api/off`);
    expect(answer.status).toBe(404);
    expect(((await answer.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    expect(run.steps).toEqual([]);
  });

  it('passes a path no entry names on to what follows the door, with the security headers set', async () => {
    const run = await serve();
    const answer = await fetch(`${run.url}/elsewhere`);
    expect(answer.status).toBe(404);
    expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
    expect(answer.headers.get('referrer-policy')).toBe('no-referrer');
    expect(run.steps).toEqual(['fallthrough']);
  });

  it("learns who asks on a route that is someone's, before its limits, and gives a new browser its identity cookie", async () => {
    const run = await serve();
    const first = await post(`${run.url}/api/sessions/a1`, '{"ok":true}');
    expect(first.status).toBe(200);
    const cookie = first.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(new RegExp(`^${IDENTITY_COOKIE}=[A-Za-z0-9_-]{43}; Max-Age=34560000; Path=/; HttpOnly; SameSite=Lax$`));
    expect(run.steps).toEqual(['identify', 'limit:api', 'handler:session']);
    // The same cookie, the same person, and no new cookie; a route for anyone learns no one.
    const again = await fetch(`${run.url}/api/gone`, { headers: { cookie: cookie.split(';')[0]! } });
    expect(again.headers.get('set-cookie')).toBeNull();
    expect(((await again.json()) as { person: string }).person).toBe(run.persons[0]);
    await fetch(`${run.url}/api/echo?n=1`);
    expect(run.persons).toHaveLength(2);
  });

  it('takes a cookie it does not know, or one not of its making, for a new browser', async () => {
    const run = await serve();
    const first = await fetch(`${run.url}/api/gone`);
    const token = (first.headers.get('set-cookie') ?? '').split(';')[0]!.split('=')[1]!;
    const tampered = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    for (const cookie of [`${IDENTITY_COOKIE}=${tampered}`, `${IDENTITY_COOKIE}=short`, `${IDENTITY_COOKIE}=${token}%00`]) {
      const answer = await fetch(`${run.url}/api/gone`, { headers: { cookie } });
      expect(answer.headers.get('set-cookie')).toMatch(new RegExp(`^${IDENTITY_COOKIE}=`));
    }
    expect(new Set(run.persons).size).toBe(4);
  });

  it("answers a session that is not the asker's as one that does not exist, before reading its body", async () => {
    const run = await serve();
    const first = await post(`${run.url}/api/sessions/a1`, '{"ok":true}');
    const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0]!;
    const as = (path: string, body: string) => fetch(`${run.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', cookie }, body });
    // Someone else's: a 404 as for no session at all, the body not even read (a bad one would be a 400).
    const foreign = await as('/api/sessions/b1', '{"ok":false}');
    expect(foreign.status).toBe(404);
    expect(await foreign.json()).toEqual({
      success: false,
      error: { code: 'SESSION_NOT_FOUND', message: 'There is no such chat session. Purl starts a new one.' },
    });
    // A new browser owns nothing.
    expect((await post(`${run.url}/api/sessions/a2`, '{"ok":true}')).status).toBe(404);
    // Its own, with a bad body: the body check answers.
    expect((await as('/api/sessions/a2', '{"ok":false}')).status).toBe(400);
    // When whose it is cannot be told now: a 503 to try again.
    const unknown = await as('/api/sessions/x', '{"ok":true}');
    expect(unknown.status).toBe(503);
    expect(unknown.headers.get('retry-after')).toBe('5');
    expect(run.seen.map((exchange) => exchange.ids[0])).toEqual(['a1']);
  });

  it("tells the handler of a route that answers them as gone which of the sessions are not the asker's", async () => {
    const run = await serve();
    const first = await fetch(`${run.url}/api/gone?s=a1&s=b1`);
    expect(await first.json()).toEqual({ person: run.persons[0], notOwned: ['b1'] });
  });
});
