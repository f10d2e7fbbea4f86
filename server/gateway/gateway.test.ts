import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from './app';
import { readGatewayOptions, OptionsError } from './options';
import { cacheControlFor } from './static';
import { stripSecrets } from './strip-secrets';

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

  it('defaults to 127.0.0.1:5174 and reports rejected client settings', () => {
    const { options, warnings } = readGatewayOptions({ ELIZA_SERVER_URL: 'http://127.0.0.1:3000', FRONTEND_CACHE_TTL: '-1' });
    expect(options.host).toBe('127.0.0.1');
    expect(options.port).toBe(5174);
    expect(warnings).toEqual([expect.stringMatching(/FRONTEND_CACHE_TTL must be between/)]);
  });
});

interface Seen {
  headers: http.IncomingHttpHeaders;
  url: string;
}

describe('the gateway in front of a stand-in ElizaOS', () => {
  let upstream: http.Server;
  let gateway: Gateway;
  let seen: Seen[];
  let released: number[];
  let dist: string;

  beforeEach(async () => {
    seen = [];
    released = [];
    upstream = http.createServer((req, res) => {
      seen.push({ headers: req.headers, url: req.url ?? '' });
      if (req.url === '/api/slow') return; // never answers
      if (req.url === '/api/held') {
        // Never answers; says when the gateway lets go of it.
        res.on('close', () => released.push(Date.now()));
        return;
      }
      if (req.url === '/api/html') {
        res.writeHead(500, { 'Content-Type': 'text/html' });
        res.end('<h1>oops</h1>');
        return;
      }
      if (req.url === '/api/error-with-stack') {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'SESSION_NOT_FOUND', message: 'Session not found', stack: 'Error: at /srv/eliza/index.js:1' } }));
        return;
      }
      if (req.url === '/api/broken-json') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{"success":tru');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json', 'RateLimit-Remaining': '998', 'Retry-After': '7' });
      res.end(JSON.stringify({ success: true, data: { id: 'a', settings: { secrets: { TOKEN: 'hidden' } } } }));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const port = (upstream.address() as AddressInfo).port;
    dist = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-dist-'));
    fs.mkdirSync(path.join(dist, 'assets'));
    fs.writeFileSync(path.join(dist, 'index.html'), '<!doctype html><title>Purl</title>');
    fs.writeFileSync(path.join(dist, 'assets', 'app-1a2b.js'), 'console.log(1)');
    const { options } = readGatewayOptions({
      ELIZA_SERVER_URL: `http://127.0.0.1:${port}`,
      PORT: '0',
      ELIZA_SERVER_AUTH_TOKEN: 'server-key',
      PURL_GATEWAY_SECRET: 'gateway-secret',
      PURL_DIST_DIR: dist,
      GATEWAY_UPSTREAM_TIMEOUT: '300',
      FRONTEND_POLL_INTERVAL: '2000',
    });
    gateway = await startGateway(options);
  });

  afterEach(async () => {
    await gateway.close();
    upstream.closeAllConnections();
    await new Promise((resolve) => upstream.close(resolve));
    fs.rmSync(dist, { recursive: true, force: true });
  });

  it('passes an API answer on without secrets, keeping the rate-limit headers', async () => {
    const response = await fetch(`${gateway.url}/api/agents/a`);
    expect(response.status).toBe(200);
    expect(response.headers.get('ratelimit-remaining')).toBe('998');
    expect(response.headers.get('retry-after')).toBe('7');
    const body = await response.text();
    expect(body).not.toMatch(/secrets|hidden/);
    expect(JSON.parse(body)).toEqual({ success: true, data: { id: 'a', settings: {} } });
  });

  it('names the real client, adds the key and the gateway secret, and overwrites what a browser forged', async () => {
    await fetch(`${gateway.url}/api/agents`, { headers: { 'X-Forwarded-For': '6.6.6.6', 'X-Api-Key': 'forged', 'X-Purl-Gateway': 'forged' } });
    const headers = seen[0]!.headers;
    expect(headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(headers['x-api-key']).toBe('server-key');
    expect(headers['x-purl-gateway']).toBe('gateway-secret');
  });

  it('drops the server’s stack trace from error answers, keeping code and message', async () => {
    const response = await fetch(`${gateway.url}/api/error-with-stack`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: { code: 'SESSION_NOT_FOUND', message: 'Session not found' } });
  });

  it('passes a body that is not valid JSON through unchanged for the worker to reject', async () => {
    const response = await fetch(`${gateway.url}/api/broken-json`);
    expect(await response.text()).toBe('{"success":tru');
  });

  it('passes non-JSON error pages through with their status', async () => {
    const response = await fetch(`${gateway.url}/api/html`);
    expect(response.status).toBe(500);
    expect(await response.text()).toBe('<h1>oops</h1>');
  });

  it('answers 504 with a sentence when the server hangs past the timeout', async () => {
    const response = await fetch(`${gateway.url}/api/slow`);
    expect(response.status).toBe(504);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(/took too long/);
  });

  it('lets go of the upstream request at once when the browser gives up on it', async () => {
    const port = (upstream.address() as AddressInfo).port;
    const { options } = readGatewayOptions({ ELIZA_SERVER_URL: `http://127.0.0.1:${port}`, PORT: '0', PURL_DIST_DIR: dist, GATEWAY_UPSTREAM_TIMEOUT: '60000' });
    const patient = await startGateway(options);
    try {
      const controller = new AbortController();
      const request = fetch(`${patient.url}/api/held`, { signal: controller.signal }).catch(() => undefined);
      await expect.poll(() => seen.some((entry) => entry.url === '/api/held')).toBe(true);
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
    upstream.closeAllConnections();
    await new Promise((resolve) => upstream.close(resolve));
    const response = await fetch(`${gateway.url}/api/agents`);
    expect(response.status).toBe(502);
    expect(await response.json()).toEqual({
      success: false,
      error: { code: 'UPSTREAM_UNAVAILABLE', message: "The agent's server isn't reachable right now. Purl will try again shortly." },
    });
    expect((await fetch(`${gateway.url}/config.json`)).status).toBe(200);
    upstream.listen(0); // so afterEach can close it again
  });

  it('serves /config.json from the environment', async () => {
    const response = await fetch(`${gateway.url}/config.json`);
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(await response.json()).toEqual({ memoriesPollMs: 2000 });
  });

  it('serves hashed assets as immutable and the page as no-cache, with a content security policy', async () => {
    const asset = await fetch(`${gateway.url}/assets/app-1a2b.js`);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const page = await fetch(`${gateway.url}/some/deep/link`, { headers: { Accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
  });
});
