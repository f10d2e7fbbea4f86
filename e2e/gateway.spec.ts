import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { matchElizaRoute } from '../server/gateway/routes';
import { ask, hasNoCors } from '../server/gateway/test-kit';
import { parseRateLimit } from '../src/shared/rate-limit';
import { countOnServer, openChat, replyTo, typeMessage, waitForReply } from './helpers';
import { faultStack, root, stackInfo } from './stack';

test.describe('the gateway in front of the real ElizaOS', () => {
  test('no gateway answer carries a secrets field, though ElizaOS itself sends one', async ({ request }) => {
    const { baseUrl, elizaUrl, agentId } = stackInfo();
    const direct = await (await fetch(`${elizaUrl}/api/agents/${agentId}`)).text();
    expect(direct, 'ElizaOS exposes settings.secrets (the reason the gateway strips it)').toContain('"secrets"');
    expect((await request.get(`${baseUrl}/api/agents/${agentId}`)).status(), 'the full agent record is not on the allowlist').toBe(404);
    for (const path of ['/api/agents', `/api/agents/${agentId}/memories?tableName=messages&includeEmbedding=false`]) {
      const response = await request.get(`${baseUrl}${path}`);
      expect(response.status(), path).toBe(200);
      expect(await response.text(), path).not.toContain('"secrets"');
    }
  });

  test('restates the server’s budget, and gives each client its own bucket apart from the agent’s own calls', async ({ request }) => {
    const { baseUrl, agentId } = stackInfo();
    const remaining = async () => {
      const headers = (await request.get(`${baseUrl}/api/agents`)).headers();
      expect(headers['ratelimit']).toMatch(/"purl-api"; r=\d+; t=\d+, "eliza"; r=\d+; t=\d+/);
      return parseRateLimit(new Headers({ RateLimit: headers['ratelimit']!, 'RateLimit-Policy': headers['ratelimit-policy']! }), Date.now());
    };
    /** Messages the gateway passed on over HTTP (the others went over its socket, which ElizaOS does not count). */
    const sentOverRest = async () => ((await (await request.get(`${baseUrl}/health`)).json()) as { push: { sentOverRest: number } }).push.sentOverRest;
    const restBefore = await sentOverRest();
    const before = await remaining();
    // ElizaOS's 15-minute budget binds, not the gateway's per-minute one.
    expect(before).toMatchObject({ limit: 1000, windowMs: 900_000 });
    // One message through the gateway: the agent answers by calling its own server
    // over HTTP several times. None of those calls may come out of this client's budget.
    const session = await request.post(`${baseUrl}/api/messaging/sessions`, { data: { agentId, userId: randomUUID() } });
    expect(session.status()).toBe(201);
    const { sessionId } = await session.json();
    const posted = await request.post(`${baseUrl}/api/messaging/sessions/${sessionId}/messages`, { data: { content: 'Count my requests, please.' } });
    expect(posted.status()).toBe(201);
    expect(await waitForReply(sessionId)).toContain('Count my requests, please.');
    const after = await remaining();
    // The session's post and the second read, and the message's post if it went over HTTP: this client's own requests, and nothing of the agent's.
    const messagePosts = (await sentOverRest()) - restBefore;
    expect(messagePosts).toBeLessThanOrEqual(1);
    expect(before.remaining! - after.remaining!).toBe(2 + messagePosts);
  });

  test('serves a real robots.txt and the config the environment set', async ({ request }) => {
    const { baseUrl } = stackInfo();
    expect(await (await request.get(`${baseUrl}/robots.txt`)).text()).toMatch(/^User-agent: \*/m);
    expect(await (await request.get(`${baseUrl}/config.json`)).json()).toMatchObject({ memoriesPollMs: 1000 });
  });
});

/** A URL for an express route pattern: the agent's real id for agent params, fresh UUIDs for the rest. */
function concrete(pattern: string, agentId: string): string {
  return pattern
    .replace(/:agentId\b/g, agentId)
    .replace(/:\w+/g, () => randomUUID())
    .replace(/\*\w*/g, 'x')
    .replace(/[{}]/g, '');
}

const digest = (file: string) => (fs.existsSync(file) ? createHash('sha256').update(fs.readFileSync(file)).digest('hex') : 'absent');

test.describe('the locked door', () => {
  test('every ElizaOS route the app does not use is a 404 at the gateway and never reaches ElizaOS', async () => {
    test.setTimeout(90_000);
    const { agentId, dataDir } = stackInfo();
    const table = JSON.parse(fs.readFileSync(path.join(dataDir, 'eliza-routes.json'), 'utf8')) as { method: string; path: string }[];
    const closed = table.filter((route) => route.path.startsWith('/api/') && !matchElizaRoute(route.method, concrete(route.path, agentId)));
    expect(closed.length, 'routes read from the server’s own table').toBeGreaterThanOrEqual(30);
    for (const admin of [
      'GET /api/system/env/local',
      'POST /api/system/env/local',
      'DELETE /api/agents/:agentId',
      'POST /api/agents/:agentId/start',
      'DELETE /api/memory/:agentId/memories',
      'GET /api/server/logs',
    ]) {
      expect(closed.map((route) => `${route.method} ${route.path}`)).toContain(admin);
    }

    // A secret in a .env where ElizaOS looks for one (the data folder, and upwards from
    // its working directory, the checkout), which must not be read or rewritten.
    const planted = [path.join(dataDir, '.env'), path.join(root, '.env')].filter((file) => !fs.existsSync(file));
    for (const file of planted) fs.writeFileSync(file, 'OPENAI_API_KEY=sk-planted-by-the-gateway-test\n');
    const envFiles = [path.join(dataDir, '.env'), path.join(root, '.env')];
    const before = envFiles.map(digest);
    const stack = await faultStack();
    try {
      for (const route of closed) {
        const body = JSON.stringify({ content: { OPENAI_API_KEY: 'rewritten' }, name: 'x', agentId });
        const reply = await ask(stack.url, concrete(route.path, agentId), {
          method: route.method,
          headers: { 'Content-Type': 'application/json' },
          ...(route.method === 'GET' || route.method === 'HEAD' ? {} : { body }),
        });
        expect(reply.status, `${route.method} ${route.path} ${reply.body}`).toBe(404);
        expect(reply.body, `${route.method} ${route.path}`).not.toContain('sk-planted');
        if (route.method !== 'HEAD') expect(JSON.parse(reply.body).error.code).toBe('NOT_FOUND');
      }
      expect(stack.proxy.apiRequests(), 'requests that reached ElizaOS').toEqual([]);
      expect(envFiles.map(digest)).toEqual(before);
    } finally {
      await stack.close();
      for (const file of planted) fs.rmSync(file, { force: true });
    }
  });

  test('another site, another origin or a rebinding Host gets 403 and no CORS header; the app’s own origin gets 200', async () => {
    const stack = await faultStack();
    try {
      const own = new URL(stack.url);
      const refusals: Record<string, string>[] = [
        { Origin: 'http://evil.example' },
        { 'Sec-Fetch-Site': 'cross-site' },
        { Origin: `http://localhost:${own.port}`, 'Sec-Fetch-Site': 'same-site' },
        { Host: `evil.example:${own.port}` },
      ];
      for (const headers of refusals) {
        for (const url of ['/api/agents', '/config.json', '/health']) {
          const reply = await ask(stack.url, url, { headers });
          expect(reply.status, `${url} ${JSON.stringify(headers)}`).toBe(403);
          expect(hasNoCors(reply)).toBe(true);
        }
      }
      expect((await ask(stack.url, '/', { headers: { Host: `evil.example:${own.port}`, Accept: 'text/html' } })).status).toBe(403);
      expect(stack.proxy.apiRequests()).toEqual([]);
      const ownReply = await ask(stack.url, '/api/agents', { headers: { Origin: stack.url, 'Sec-Fetch-Site': 'same-origin' } });
      expect(ownReply.status).toBe(200);
      expect(hasNoCors(ownReply)).toBe(true);
    } finally {
      await stack.close();
    }
  });

  test('a hostile page on another origin can neither read the API nor post through it', async ({ page }) => {
    const stack = await faultStack();
    const hostile = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!doctype html><title>not Purl</title>');
    });
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
    try {
      const statuses: number[] = [];
      // Chromium reports the opaque POST's status; the CORS-failed read has none to report.
      page.on('response', (response) => {
        if (response.url().startsWith(stack.url)) statuses.push(response.status());
      });
      await page.goto(`http://127.0.0.1:${(hostile.address() as AddressInfo).port}/`);
      const outcome = await page.evaluate(async (target) => {
        const read = await fetch(`${target}/api/agents`, { credentials: 'include' }).then(
          () => 'read',
          () => 'blocked',
        );
        // A "simple" cross-site POST needs no preflight: the gateway itself must refuse it.
        await fetch(`${target}/api/messaging/sessions`, { method: 'POST', mode: 'no-cors', body: '{"agentId":"x"}' }).catch(() => undefined);
        return read;
      }, stack.url);
      expect(outcome).toBe('blocked');
      await expect.poll(() => statuses).toEqual([403]);
      // Neither reached ElizaOS: the gateway refused both, not only the browser the read.
      expect(stack.proxy.apiRequests()).toEqual([]);
    } finally {
      await new Promise((resolve) => hostile.close(resolve));
      await stack.close();
    }
  });

  test('one client’s 31st request in a minute gets 429; another address, or a forged X-Forwarded-For, does not share its bucket', async () => {
    const stack = await faultStack({ API_RATE_LIMIT_REQUESTS: '30' });
    try {
      for (let i = 0; i < 30; i += 1) {
        const reply = await ask(stack.url, '/api/agents', { from: '127.0.0.2', headers: { 'X-Forwarded-For': `10.0.0.${i}` } });
        expect(reply.status, `request ${i + 1}`).toBe(200);
      }
      const refused = await ask(stack.url, '/api/agents', { from: '127.0.0.2', headers: { 'X-Forwarded-For': '10.9.9.9' } });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect(refused.json().error.message).toMatch(/at most 30 a minute/);
      expect(stack.proxy.apiRequests()).toHaveLength(30);
      expect((await ask(stack.url, '/api/agents', { from: '127.0.0.3' })).status).toBe(200);
    } finally {
      await stack.close();
    }
    // Behind a proxy the operator trusts, its X-Forwarded-For names the client.
    const proxied = await faultStack({ API_RATE_LIMIT_REQUESTS: '2', TRUST_PROXY: 'loopback' });
    try {
      for (let i = 0; i < 2; i += 1) expect((await ask(proxied.url, '/api/agents', { headers: { 'X-Forwarded-For': '203.0.113.7' } })).status).toBe(200);
      expect((await ask(proxied.url, '/api/agents', { headers: { 'X-Forwarded-For': '203.0.113.7' } })).status).toBe(429);
      expect((await ask(proxied.url, '/api/agents', { headers: { 'X-Forwarded-For': '203.0.113.8' } })).status).toBe(200);
    } finally {
      await proxied.close();
    }
  });

  test('oversize, non-JSON and malformed bodies are refused before anything is forwarded', async () => {
    const stack = await faultStack();
    try {
      const post = (body: string, type = 'application/json') =>
        ask(stack.url, '/api/messaging/sessions', { method: 'POST', headers: { 'Content-Type': type }, body });
      const oversize = await post(JSON.stringify({ agentId: stackInfo().agentId, userId: randomUUID(), metadata: { pad: 'x'.repeat(70_000) } }));
      expect(oversize.status).toBe(413);
      expect(oversize.json().error.message).toMatch(/65536 bytes/);
      expect((await post('agentId=1', 'application/x-www-form-urlencoded')).status).toBe(415);
      expect((await post('{"agentId":')).status).toBe(400);
      expect((await post(JSON.stringify({ agentId: 'not-a-uuid', userId: randomUUID() }))).status).toBe(400);
      expect(stack.proxy.apiRequests()).toEqual([]);
      expect((await post(JSON.stringify({ agentId: stackInfo().agentId, userId: randomUUID() }))).status).toBe(201);
    } finally {
      await stack.close();
    }
  });

  test('the app under a per-client limit says so in words and recovers by itself, the typed message delivered once', async ({ page }) => {
    test.setTimeout(150_000);
    const stack = await faultStack({ API_RATE_LIMIT_REQUESTS: '30' });
    try {
      await openChat(page, stack.url);
      // The worker paces itself inside the limit it is told (RateLimit "purl-api"), so
      // something else at the same address spends the bucket: a script, another browser.
      for (let spent = 0; spent < 30; spent += 1) {
        if ((await ask(stack.url, '/api/agents')).status === 429) break;
      }
      const banner = page.getByText(/asked Purl to slow down/);
      await expect(banner).toBeVisible({ timeout: 45_000 });
      const text = `Typed while the gateway limits me ${Date.now()}`;
      await typeMessage(page, text);
      await expect(banner).toBeHidden({ timeout: 90_000 });
      await expect(replyTo(page, text)).toBeVisible({ timeout: 30_000 });
      expect(await countOnServer(text)).toBe(1);
    } finally {
      await stack.close();
    }
  });
});
