import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Gateway } from './app';
import { parseRateLimit } from '../../src/shared/rate-limit';
import { readGatewayOptions, OptionsError } from './options';
import { cacheControlFor } from './door/static';
import { stripSecrets } from './upstream/strip-secrets';
import { AGENT, ask, gatewayFor, hasNoCors, jsonAnswer, makeDist, MEMORIES, SESSION, startStandIn, type StandIn, TEST_PUSH_KEY } from './test-kit';

describe('stripSecrets', () => {
  it('drops every secrets key at any depth and says so', () => {
    const { value, stripped } = stripSecrets({
      success: true,
      data: { id: 'a', settings: { secrets: { OPENAI_API_KEY: 'sk' }, model: 'x' }, list: [{ Secrets: 1, ok: 2 }] },
    });
    expect(stripped).toBe(true);
    expect(value).toEqual({ success: true, data: { id: 'a', settings: { model: 'x' }, list: [{ ok: 2 }] } });
  });

  it('leaves a body without secrets equal to itself', () => {
    const body = { a: [1, { b: null }], secretary: 'kept' };
    expect(stripSecrets(body)).toEqual({ value: body, stripped: false });
  });
});

describe('cache policy of built files', () => {
  it.each([
    ['assets/index-abc123.js', 'public, max-age=31536000, immutable'],
    ['sw.js', 'no-cache'],
    ['index.html', 'no-cache'],
    ['manifest.webmanifest', 'no-cache'],
    ['icons/icon-192.png', 'public, max-age=3600'],
  ])('%s → %s', (file, policy) => {
    expect(cacheControlFor(file)).toBe(policy);
  });
});

describe('gateway options', () => {
  it('refuses to start without an upstream, with a sentence', () => {
    expect(() => readGatewayOptions({})).toThrowError(OptionsError);
    expect(() => readGatewayOptions({ ELIZA_SERVER_URL: 'ftp://x' })).toThrowError(/must use http or https/);
    expect(() => readGatewayOptions({ ELIZA_SERVER_URL: 'http://127.0.0.1:1', PORT: '99999' })).toThrowError(/PORT must be a port number/);
  });

  it('takes a redis:// or rediss:// REDIS_URL, and stops with a sentence on anything else', () => {
    const read = (REDIS_URL: string) => readGatewayOptions({ ELIZA_SERVER_URL: 'http://127.0.0.1:3000', REDIS_URL }, undefined, { pushKey: TEST_PUSH_KEY });
    expect(read('redis://:secret@10.0.0.5:6380/2').options.redisUrl?.href).toBe('redis://:secret@10.0.0.5:6380/2');
    expect(read('rediss://cache.example').options.redisUrl?.hostname).toBe('cache.example');
    expect(read('').options.redisUrl).toBeUndefined();
    // One of several gateways does not hear what was posted through the others: no chat edge unless asked for.
    expect([read('').options.chatEdge, read('redis://127.0.0.1:6379').options.chatEdge]).toEqual([true, false]);
    expect(() => read('localhost:6379')).toThrowError(/^REDIS_URL must use redis or rediss, got "localhost:6379"\.$/);
    expect(() => read('http://127.0.0.1:6379')).toThrowError(/REDIS_URL must use redis or rediss/);
    // A password in a mistyped URL is not repeated in the sentence (it goes to logs).
    expect(() => read('redis//:s3cret@cache:6379')).toThrowError(
      /^REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL such as redis:\/\/127\.0\.0\.1:6379, got "redis\/\/…@cache:6379"\.$/,
    );
    expect(() => read('http://user:s3cret@cache:6379')).toThrowError('REDIS_URL must use redis or rediss, got "http://…@cache:6379".');
    expect(() => read('not a url')).toThrowError(/^REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL such as redis:\/\/127\.0\.0\.1:6379, got "not a url"\.$/);
  });

  it('defaults to 127.0.0.1:5174 and refuses a rejected client setting', () => {
    const { options, warnings } = readGatewayOptions({ ELIZA_SERVER_URL: 'http://127.0.0.1:3000' }, undefined, { pushKey: TEST_PUSH_KEY });
    expect(options.host).toBe('127.0.0.1');
    expect(options.port).toBe(5174);
    expect(warnings).toEqual([]);
    expect(() =>
      readGatewayOptions({ ELIZA_SERVER_URL: 'http://127.0.0.1:3000', FRONTEND_CACHE_TTL: '-1' }, undefined, { pushKey: TEST_PUSH_KEY }),
    ).toThrowError(/^FRONTEND_CACHE_TTL must be a whole number from 0 to 86400000, got "-1"\.$/);
  });
});

describe('the gateway in front of a stand-in ElizaOS', () => {
  let upstream: StandIn;
  let gateway: Gateway;
  let dist: string;

  beforeEach(async () => {
    upstream = await startStandIn();
    dist = makeDist();
    gateway = await gatewayFor(upstream, dist, {
      ELIZA_SERVER_AUTH_TOKEN: 'server-key',
      PURL_GATEWAY_SECRET: 'gateway-secret',
      GATEWAY_UPSTREAM_TIMEOUT: '300',
      FRONTEND_POLL_INTERVAL: '2000',
    });
  });

  afterEach(async () => {
    await gateway.close();
    await upstream.close();
    fs.rmSync(dist, { recursive: true, force: true });
  });

  it('passes an API answer on without secrets, restating the server’s budget beside its own', async () => {
    upstream.answer = jsonAnswer(
      200,
      { success: true, data: { agents: [{ id: AGENT, settings: { secrets: { TOKEN: 'hidden' } } }] } },
      {
        'RateLimit-Policy': '1000;w=900',
        'RateLimit-Limit': '1000',
        'RateLimit-Remaining': '998',
        'RateLimit-Reset': '800',
        'Access-Control-Allow-Origin': '*',
      },
    );
    const reply = await ask(gateway.url, '/api/agents');
    expect(reply.status).toBe(200);
    expect(reply.body).not.toMatch(/secrets|hidden/);
    expect(reply.json()).toEqual({ success: true, data: { agents: [{ id: AGENT, settings: {} }] } });
    expect(reply.headers['ratelimit']).toBe('"purl-api"; r=499; t=60, "eliza"; r=998; t=800');
    expect(reply.headers['ratelimit-policy']).toMatch(/^"purl-api"; q=500; w=60; pk=:[^:]+:, "eliza"; q=1000; w=900$/);
    expect(reply.headers['ratelimit-remaining']).toBeUndefined();
    expect(hasNoCors(reply)).toBe(true);
    // What the worker reads from it: the server's 15-minute budget binds.
    const headers = new Headers({ RateLimit: String(reply.headers['ratelimit']), 'RateLimit-Policy': String(reply.headers['ratelimit-policy']) });
    expect(parseRateLimit(headers, 0)).toEqual({ limit: 1000, remaining: 998, resetAt: 800_000, windowMs: 900_000 });
  });

  it('names the real client, adds the key and the gateway secret, and passes on no browser credentials', async () => {
    await ask(gateway.url, '/api/agents', {
      headers: {
        'X-Forwarded-For': '6.6.6.6',
        'X-Api-Key': 'forged',
        'X-Purl-Gateway': 'forged',
        Cookie: 'sid=1',
        Authorization: 'Bearer x',
        Forwarded: 'for=6.6.6.6',
      },
    });
    const headers = upstream.apiSeen()[0]!.headers;
    expect(headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(headers['x-api-key']).toBe('server-key');
    expect(headers['x-purl-gateway']).toBe('gateway-secret');
    expect(headers['cookie']).toBeUndefined();
    expect(headers['authorization']).toBeUndefined();
    expect(headers['forwarded']).toBeUndefined();
  });

  it('compresses a passed-on answer for a browser that accepts gzip, while asking the server for it uncompressed', async () => {
    const memories = Array.from({ length: 200 }, (_, i) => ({ id: `m${i}`, content: { text: 'the same words again and again' } }));
    upstream.answer = jsonAnswer(200, { success: true, data: { memories } });
    const reply = await ask(gateway.url, MEMORIES, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-encoding']).toBe('gzip');
    expect(upstream.apiSeen()[0]!.headers['accept-encoding']).toBe('identity');
  });

  it('drops the server’s stack trace from error answers, keeping code and message', async () => {
    upstream.answer = jsonAnswer(404, { error: { code: 'SESSION_NOT_FOUND', message: 'Session not found', stack: 'Error: at /srv/eliza/index.js:1' } });
    const reply = await ask(gateway.url, `/api/messaging/sessions/${SESSION}/messages?limit=50`);
    expect(reply.status).toBe(404);
    expect(reply.json()).toEqual({ error: { code: 'SESSION_NOT_FOUND', message: 'Session not found' } });
  });

  it('passes a body that is not valid JSON through unchanged for the worker to reject', async () => {
    upstream.answer = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"success":tru');
    };
    expect((await ask(gateway.url, MEMORIES)).body).toBe('{"success":tru');
  });

  it('passes non-JSON error pages through with their status', async () => {
    upstream.answer = (_req, res) => {
      res.writeHead(500, { 'Content-Type': 'text/html', 'Access-Control-Allow-Origin': '*' });
      res.end('<h1>oops</h1>');
    };
    const reply = await ask(gateway.url, '/api/agents');
    expect(reply.status).toBe(500);
    expect(reply.body).toBe('<h1>oops</h1>');
    expect(hasNoCors(reply)).toBe(true);
  });

  it('answers 504 with a sentence when the server hangs past the timeout', async () => {
    upstream.answer = () => undefined;
    const reply = await ask(gateway.url, '/api/agents');
    expect(reply.status).toBe(504);
    expect(reply.json().error.message).toMatch(/took too long/);
  });

  it('lets go of the upstream request at once when the browser gives up on it', async () => {
    const released: number[] = [];
    upstream.answer = (_req, res) => res.on('close', () => released.push(Date.now()));
    const patient = await gatewayFor(upstream, dist, { GATEWAY_UPSTREAM_TIMEOUT: '60000' });
    try {
      const controller = new AbortController();
      // A chat read: the edge's shared reads outlive one browser on purpose (others may wait for them).
      const request = fetch(`${patient.url}/api/messaging/sessions/${SESSION}/messages?limit=50`, { signal: controller.signal }).catch(() => undefined);
      await expect.poll(() => upstream.apiSeen().length).toBe(1);
      const abortedAt = Date.now();
      controller.abort();
      await request;
      await expect.poll(() => released.length, { timeout: 2_000 }).toBe(1);
      expect(released[0]! - abortedAt).toBeLessThan(1_000);
    } finally {
      await patient.close();
    }
  });

  it('answers 502 with a sentence when the server is down, and keeps serving', async () => {
    await upstream.close();
    const reply = await ask(gateway.url, '/api/agents');
    expect(reply.status).toBe(502);
    expect(reply.json()).toEqual({
      success: false,
      error: { code: 'UPSTREAM_UNAVAILABLE', message: "The agent's server isn't reachable right now. Purl will try again shortly." },
    });
    expect((await ask(gateway.url, '/config.json')).status).toBe(200);
  });

  it('serves /config.json from the environment', async () => {
    const reply = await ask(gateway.url, '/config.json');
    expect(reply.headers['cache-control']).toBe('no-cache');
    expect(reply.json()).toEqual({ memoriesPollMs: 2000, syncRoute: true, push: true });
  });

  it('serves hashed assets as immutable and the page as no-cache, with a content security policy', async () => {
    const asset = await ask(gateway.url, '/assets/app-1a2b.js');
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const page = await ask(gateway.url, '/some/deep/link', { headers: { Accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self'/);
  });
});
