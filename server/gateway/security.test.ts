import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_MESSAGE_LENGTH } from '../../src/shared/api';
import type { Gateway } from './app';
import { exposureWarning, OptionsError, readGatewayOptions } from './options';
import { HOST_REFUSED } from './door/same-origin';
import {
  AGENT,
  ask,
  gatewayFor,
  hasNoCors,
  makeCertificate,
  makeDist,
  MEMORIES,
  NO_SENDS,
  SESSION,
  startStandIn,
  type StandIn,
  TEST_PUSH_KEY,
} from './test-kit';

let upstream: StandIn;
let dist: string;
const gateways: Gateway[] = [];
const open = async (env: Record<string, string> = {}) => {
  const gateway = await gatewayFor(upstream, dist, env);
  gateways.push(gateway);
  return gateway;
};

beforeEach(async () => {
  upstream = await startStandIn();
  dist = makeDist();
});

afterEach(async () => {
  for (const gateway of gateways.splice(0)) await gateway.close();
  await upstream.close();
  fs.rmSync(dist, { recursive: true, force: true });
});

describe('routes the app does not use', () => {
  it.each([
    ['GET', '/api/system/env/local'],
    ['POST', '/api/system/env/local'],
    ['DELETE', `/api/agents/${AGENT}`],
    ['GET', `/api/agents/${AGENT}`],
    ['DELETE', `/api/memory/${AGENT}/memories`],
    ['GET', '/api/server/logs'],
    ['GET', '/api/agents/../system/env/local'],
    ['OPTIONS', '/api/agents'],
    ['GET', `${MEMORIES}&roomId=${AGENT}`],
  ])('%s %s is a JSON 404 that never reaches ElizaOS', async (method, url) => {
    const gateway = await open();
    const reply = await ask(gateway.url, url, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: method === 'POST' ? '{"content":{"X":"1"}}' : undefined!,
    });
    expect(reply.status).toBe(404);
    expect(reply.json()).toEqual({ success: false, error: { code: 'NOT_FOUND', message: expect.stringMatching(/only the requests the Purl app makes/) } });
    expect(upstream.apiSeen()).toEqual([]);
  });

  it('refuses every WebSocket upgrade (no real-time route yet), so Socket.IO is out of reach', async () => {
    const gateway = await open();
    const { port } = new URL(gateway.url);
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        socket.write(
          `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      });
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 404/);
    expect(upstream.seen).toEqual([]);
  });
});

describe('same origin only', () => {
  it.each(['/', '/config.json', '/api/agents', '/health'])('refuses a rebinding Host on %s with a sentence naming the variable', async (url) => {
    const gateway = await open();
    const reply = await ask(gateway.url, url, { headers: { Host: 'evil.example:5174', Accept: 'text/html' } });
    expect(reply.status).toBe(403);
    expect(reply.json().error.message).toBe(HOST_REFUSED);
    expect(reply.json().error.message).toMatch(/PURL_ALLOWED_HOSTS/);
    expect(upstream.apiSeen()).toEqual([]);
  });

  it('answers to IP literals, localhost and the names in PURL_ALLOWED_HOSTS', async () => {
    const gateway = await open({ PURL_ALLOWED_HOSTS: 'purl.lan, Chat.Example.org' });
    for (const host of ['127.0.0.1:5174', 'localhost:5174', '[::1]:5174', '192.168.1.20', 'purl.lan:443', 'chat.example.org', 'app.localhost']) {
      expect((await ask(gateway.url, '/config.json', { headers: { Host: host } })).status, host).toBe(200);
    }
    for (const host of ['evil.example', 'purl.lan.evil.example', 'a b', 'evil.example@127.0.0.1']) {
      expect((await ask(gateway.url, '/config.json', { headers: { Host: host } })).status, host).toBe(403);
    }
  });

  it.each([
    [{ Origin: 'http://evil.example' }],
    [{ Origin: 'null' }],
    [{ 'Sec-Fetch-Site': 'cross-site' }],
    // Another port on the same machine is the same site but another origin.
    [{ 'Sec-Fetch-Site': 'same-site' }],
  ])('refuses data requests from another site or origin: %j', async (headers) => {
    const gateway = await open();
    for (const url of ['/api/agents', '/config.json', '/health']) {
      const reply = await ask(gateway.url, url, { headers });
      expect(reply.status, url).toBe(403);
      expect(reply.json().error.code).toBe('CROSS_ORIGIN');
      expect(hasNoCors(reply)).toBe(true);
    }
    const preflight = await ask(gateway.url, '/api/agents', { method: 'OPTIONS', headers: { ...headers, 'Access-Control-Request-Method': 'POST' } });
    expect(preflight.status).toBe(403);
    expect(hasNoCors(preflight)).toBe(true);
    expect(upstream.apiSeen()).toEqual([]);
  });

  it('serves the app’s own origin, and tools that send no Origin', async () => {
    const gateway = await open();
    const origin = gateway.url;
    const own = await ask(gateway.url, '/api/agents', { headers: { Origin: origin, 'Sec-Fetch-Site': 'same-origin' } });
    expect(own.status).toBe(200);
    expect(hasNoCors(own)).toBe(true);
    expect((await ask(gateway.url, '/api/agents')).status).toBe(200);
    // A link from another site to the page is a navigation, not a data request.
    expect((await ask(gateway.url, '/', { headers: { 'Sec-Fetch-Site': 'cross-site', Accept: 'text/html' } })).status).toBe(200);
  });
});

describe('per-client limits', () => {
  it('gives one client 429 with Retry-After and a sentence after its limit, while another client goes on', async () => {
    const gateway = await open({ API_RATE_LIMIT_REQUESTS: '3' });
    for (let i = 0; i < 3; i += 1) expect((await ask(gateway.url, '/api/agents', { from: '127.0.0.2' })).status).toBe(200);
    const refused = await ask(gateway.url, '/api/agents', { from: '127.0.0.2' });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.headers['ratelimit']).toMatch(/^"purl-api"; r=0; t=\d+$/);
    expect(refused.json().error.message).toMatch(/at most 3 a minute/);
    // The edge answered two of the three from memory: they counted all the same.
    expect(upstream.apiSeen()).toHaveLength(1);
    expect((await ask(gateway.url, '/api/agents', { from: '127.0.0.3' })).status).toBe(200);
  });

  it('counts memories reads against their own, lower limit', async () => {
    const gateway = await open({ MEMORY_API_RATE_LIMIT_REQUESTS: '2' });
    expect((await ask(gateway.url, MEMORIES)).status).toBe(200);
    expect((await ask(gateway.url, MEMORIES)).status).toBe(200);
    const refused = await ask(gateway.url, MEMORIES);
    expect(refused.status).toBe(429);
    expect(refused.json().error.message).toMatch(/memories reads/);
    expect((await ask(gateway.url, '/api/agents')).status).toBe(200);
  });

  it('ignores a browser’s X-Forwarded-For, and honours a trusted proxy’s', async () => {
    // Without the edge, so that every request shows what the gateway sends upstream.
    const gateway = await open({ API_RATE_LIMIT_REQUESTS: '2', GATEWAY_CACHE_TTL: '0' });
    for (const spoof of ['1.1.1.1', '2.2.2.2']) await ask(gateway.url, '/api/agents', { headers: { 'X-Forwarded-For': spoof } });
    expect((await ask(gateway.url, '/api/agents', { headers: { 'X-Forwarded-For': '3.3.3.3' } })).status).toBe(429);
    expect(upstream.apiSeen().map((entry) => entry.headers['x-forwarded-for'])).toEqual(['127.0.0.1', '127.0.0.1']);

    const behindProxy = await open({ API_RATE_LIMIT_REQUESTS: '2', TRUST_PROXY: 'loopback', GATEWAY_CACHE_TTL: '0' });
    for (const client of ['1.1.1.1', '1.1.1.1'])
      expect((await ask(behindProxy.url, '/api/agents', { headers: { 'X-Forwarded-For': client } })).status).toBe(200);
    expect((await ask(behindProxy.url, '/api/agents', { headers: { 'X-Forwarded-For': '1.1.1.1' } })).status).toBe(429);
    expect((await ask(behindProxy.url, '/api/agents', { headers: { 'X-Forwarded-For': '2.2.2.2' } })).status).toBe(200);
    expect(upstream.apiSeen().at(-1)!.headers['x-forwarded-for']).toBe('2.2.2.2');
  });

  it('does not count /health, which stays cheap for every worker', async () => {
    const gateway = await open({ API_RATE_LIMIT_REQUESTS: '1' });
    for (let i = 0; i < 5; i += 1) expect((await ask(gateway.url, '/health')).status).toBe(200);
    expect((await ask(gateway.url, '/api/agents')).status).toBe(200);
  });
});

describe('bodies', () => {
  const post = (gateway: Gateway, body: string | Buffer, headers: Record<string, string> = { 'Content-Type': 'application/json' }, chunked = false) =>
    ask(gateway.url, `/api/messaging/sessions/${SESSION}/messages`, { method: 'POST', headers, body, chunked });

  it('forwards the app’s own message', async () => {
    const gateway = await open();
    const body = JSON.stringify({ content: 'hello', metadata: { clientMessageId: 'c1' } });
    expect((await post(gateway, body)).status).toBe(200);
    expect(upstream.apiSeen()[0]).toMatchObject({ method: 'POST', body });
  });

  it.each([
    ['not JSON', 'content=hi', { 'Content-Type': 'application/x-www-form-urlencoded' }, 415, /only JSON/],
    ['no type', '{"content":"hi"}', {}, 415, /only JSON/],
    ['broken JSON', '{"content":', { 'Content-Type': 'application/json' }, 400, /not valid JSON/],
    ['the wrong shape', '{"content":"hi","transport":"http"}', { 'Content-Type': 'application/json' }, 400, /"transport" is not accepted/],
    [
      'too long a message',
      JSON.stringify({ content: 'x'.repeat(MAX_MESSAGE_LENGTH + 1) }),
      { 'Content-Type': 'application/json' },
      400,
      /at most 4000 characters/,
    ],
  ])('refuses %s with %i and a sentence, forwarding nothing', async (_what, body, headers, status, message) => {
    const gateway = await open();
    const reply = await post(gateway, body, headers);
    expect(reply.status).toBe(status);
    expect(reply.json().error.message).toMatch(message);
    expect(upstream.apiSeen()).toEqual([]);
  });

  it.each([false, true])('refuses a body over GATEWAY_MAX_BODY_BYTES with 413 (chunked: %s), forwarding nothing', async (chunked) => {
    const gateway = await open({ GATEWAY_MAX_BODY_BYTES: '2048' });
    const reply = await post(gateway, JSON.stringify({ content: 'x'.repeat(200_000) }), { 'Content-Type': 'application/json' }, chunked);
    expect(reply.status).toBe(413);
    expect(reply.json().error.message).toMatch(/larger than the gateway accepts \(2048 bytes\)/);
    expect(upstream.apiSeen()).toEqual([]);
  });
});

describe('/health', () => {
  it('reports up or down and since when, checking ElizaOS at most once a second for everyone', async () => {
    const gateway = await open();
    const replies = await Promise.all(Array.from({ length: 20 }, () => ask(gateway.url, '/health')));
    for (const reply of replies) {
      expect(reply.status).toBe(200);
      expect(reply.headers['cache-control']).toBe('no-store');
      expect(reply.json()).toEqual({
        status: 'up',
        since: expect.any(Number),
        checkedAt: expect.any(Number),
        edge: expect.objectContaining({ entries: 0 }),
        // One client to this server (no PURL_GATEWAY_SECRET): the budget every user spends, and its tier.
        budget: expect.objectContaining({ tier: 'plenty', users: 0 }),
        // Nobody subscribed: the upstream socket was never opened.
        push: {
          upstream: { state: 'down', since: expect.any(Number) },
          channels: 0,
          streams: 0,
          eventsIn: 0,
          eventsOut: 0,
          memoriesOut: 0,
          dropped: 0,
          replayed: 0,
          resets: 0,
          ...NO_SENDS,
        },
        // The identities the gateway holds (the tests' one person here).
        people: { identities: 1 },
      });
    }
    expect(upstream.seen.filter((entry) => entry.url === '/healthz')).toHaveLength(1);
    const upSince = replies[0]!.json().since as number;
    await upstream.close();
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const down = (await ask(gateway.url, '/health')).json();
    expect(down.status).toBe('down');
    expect(down.since).toBeGreaterThan(upSince);
  });
});

describe('HTTPS', () => {
  it('serves https with TLS_CERT_FILE and TLS_KEY_FILE', async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-tls-'));
    try {
      const { certFile: cert, keyFile: key } = makeCertificate(folder, 'localhost', 'IP:127.0.0.1,DNS:localhost');
      const gateway = await open({ TLS_CERT_FILE: cert, TLS_KEY_FILE: key });
      expect(gateway.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const reply = await ask(gateway.url, '/api/agents', { ca: fs.readFileSync(cert), headers: { Origin: gateway.url } });
      expect(reply.status).toBe(200);
      // Over https, the http origin of the same host is another origin.
      const downgraded = await ask(gateway.url, '/api/agents', { ca: fs.readFileSync(cert), headers: { Origin: gateway.url.replace('https', 'http') } });
      expect(downgraded.status).toBe(403);
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('options of the locked door', () => {
  const read = (env: Record<string, string>) =>
    readGatewayOptions({ ELIZA_SERVER_URL: 'http://127.0.0.1:3000', ...env }, undefined, { pushKey: TEST_PUSH_KEY });

  it('has the documented defaults', () => {
    const { options } = read({});
    expect(options).toMatchObject({
      apiRequestsPerMinute: 500,
      memoryRequestsPerMinute: 200,
      maxConnectionsPerClient: 10,
      maxBodyBytes: 65_536,
      trustProxy: false,
      allowedHosts: [],
    });
    expect(options.tls).toBeUndefined();
  });

  it('refuses values out of range, with a sentence naming the variable, the value and what is allowed', () => {
    expect(() => read({ GATEWAY_MAX_BODY_BYTES: '1e9' })).toThrowError(/^GATEWAY_MAX_BODY_BYTES must be a whole number from 1024 to 2097152, got "1e9"\.$/);
    expect(() => read({ API_RATE_LIMIT_REQUESTS: '0' })).toThrowError(/^API_RATE_LIMIT_REQUESTS must be a whole number from 1 to 100000, got "0"\.$/);
    expect(() => read({ API_RATE_LIMIT_REQUESTS: 'abc' })).toThrowError(OptionsError);
    expect(() => read({ MEMORY_API_RATE_LIMIT_REQUESTS: 'lots' })).toThrowError(/^MEMORY_API_RATE_LIMIT_REQUESTS must be/);
    expect(() => read({ WS_MAX_CONNECTIONS_PER_IP: 'many' })).toThrowError(/^WS_MAX_CONNECTIONS_PER_IP must be a whole number from 1 to 10000, got "many"\.$/);
    expect(() => read({ CIRCUIT_BREAKER_THRESHOLD: '-3' })).toThrowError(/^CIRCUIT_BREAKER_THRESHOLD must be a whole number from 1 to 1000, got "-3"\.$/);
  });

  it('takes TRUST_PROXY in express’s syntax, and refuses to trust everyone', () => {
    expect(read({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).options.trustProxy).toBe('loopback,10.0.0.0/8');
    expect(read({ TRUST_PROXY: '1' }).options.trustProxy).toBe(1);
    expect(() => read({ TRUST_PROXY: 'true' })).toThrowError(/would let any client forge its address/);
    expect(() => read({ TRUST_PROXY: 'my-proxy' })).toThrowError(/TRUST_PROXY must be addresses/);
  });

  it('names the TLS file it cannot read, and wants both files', () => {
    expect(() => read({ TLS_CERT_FILE: '/nowhere/cert.pem' })).toThrowError(/go together/);
    expect(() => read({ TLS_CERT_FILE: '/nowhere/cert.pem', TLS_KEY_FILE: '/nowhere/key.pem' })).toThrowError(
      /TLS_CERT_FILE names \/nowhere\/cert\.pem, which cannot be read \(ENOENT\)/,
    );
  });

  it('adds a HOST that is a name to the allowed hosts', () => {
    expect(read({ HOST: 'purl.lan', PURL_ALLOWED_HOSTS: 'a.example,B.example:8443' }).options.allowedHosts).toEqual(['a.example', 'b.example', 'purl.lan']);
    expect(read({ HOST: '0.0.0.0' }).options.allowedHosts).toEqual([]);
  });

  it('warns at start when other machines would reach it over plain http', () => {
    expect(exposureWarning({ host: '127.0.0.1' })).toBeUndefined();
    expect(exposureWarning({ host: 'localhost' })).toBeUndefined();
    expect(exposureWarning({ host: '0.0.0.0' })).toMatch(/HOST=0\.0\.0\.0 serves other machines over plain http.*TLS_CERT_FILE and TLS_KEY_FILE/);
    expect(exposureWarning({ host: '0.0.0.0', tls: { cert: Buffer.from(''), key: Buffer.from('') } })).toBeUndefined();
  });
});
