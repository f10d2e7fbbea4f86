import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type RequestHandler } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import type { Route } from '../routes';
import { createPipeline, type Exchange, type Handlers, notServed } from './pipeline';

/** A small table of its own: one own route with a parsed query, one exact ElizaOS-like POST, the fallbacks. */
const TABLE: readonly Route[] = [
  {
    name: 'echo',
    methods: ['GET'],
    path: '/api/echo',
    origin: 'same',
    limits: ['api'],
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
    query: { kind: 'exact', params: { x: (value) => value === '1' } },
    body: (body) => ((body as { ok?: unknown }).ok === true ? undefined : 'ok must be true.'),
    cost: 'message',
    handler: 'proxy',
    why: 'a route of the test table',
  },
  { name: 'off', methods: ['GET'], path: '/api/off', origin: 'same', limits: [], handler: 'edge', why: 'a route whose part is off' },
  { name: 'not-served', methods: 'any', path: /^\/api(?:\/|$)/i, origin: 'same', limits: [], handler: 'not-served', why: 'the 404 of the test table' },
];

interface Run {
  url: string;
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
  const handlers: Handlers = { kinds: { proxy: answer, 'not-served': notServed }, own: { echo: answer } };
  const app = express();
  app.use(createPipeline(TABLE, handlers, { allowedHosts: [], limits: { api: limit('api'), memories: limit('memories') }, maxBodyBytes: 64 }));
  app.use((_req, res) => {
    steps.push('fallthrough');
    res.status(404).send('Not found.');
  });
  server = http.createServer(app);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, steps, seen };
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
});
