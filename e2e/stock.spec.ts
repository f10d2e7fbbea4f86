/**
 * The deployment most users have: Purl's gateway in front of an ElizaOS they already
 * run. Here that is the real @elizaos/server started without any of Purl's middleware,
 * so it trusts no X-Forwarded-For and the gateway is one client to it: every user shares
 * its one budget. The app must still work, and the door must still be locked.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { startGateway, type Gateway } from '../server/gateway/app';
import { readGatewayOptions } from '../server/gateway/options';
import { startEmbeddedEliza, type EmbeddedEliza } from '../server/eliza-process';
import { ask } from '../server/gateway/test-kit';
import { parseRateLimit } from '../sw/rate-limit';
import { conversationRows, openChat, openPurl, replyTo, typeMessage } from './helpers';
import { root, TEST_CLIENT_ENV } from './stack';

let eliza: EmbeddedEliza;
let gateway: Gateway;
let dataDir: string;

test.beforeAll(async () => {
  test.setTimeout(120_000);
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-stock-'));
  eliza = await startEmbeddedEliza({ root, dataDir, stock: true });
  // No PURL_GATEWAY_SECRET: the gateway is any proxy to this server.
  const { options } = readGatewayOptions({ ...TEST_CLIENT_ENV, FRONTEND_CACHE_TTL: '30000', PORT: '0', PURL_DIST_DIR: path.join(root, 'dist') }, eliza.url);
  gateway = await startGateway(options);
});

test.afterAll(async () => {
  await gateway?.close();
  await eliza?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** The server's budget as the gateway restates it. */
async function serverBudget(from: string): Promise<number> {
  const reply = await ask(gateway.url, '/api/agents', { from });
  expect(reply.status).toBe(200);
  const headers = new Headers({ RateLimit: String(reply.headers['ratelimit']), 'RateLimit-Policy': String(reply.headers['ratelimit-policy']) });
  return parseRateLimit(headers, Date.now()).remaining!;
}

test('users at different addresses spend one shared budget at a stock ElizaOS, which the gateway passes on', async () => {
  const first = await serverBudget('127.0.0.2');
  const second = await serverBudget('127.0.0.3');
  const third = await serverBudget('127.0.0.2');
  // One bucket for everyone behind the gateway: each request by anyone takes one from it.
  expect(first - second).toBe(1);
  expect(second - third).toBe(1);
});

test('the app works through the gateway with the real freshness window: memories, then a message and its reply', async ({ page }) => {
  await openPurl(page, gateway.url);
  await expect(conversationRows(page).first()).toBeVisible({ timeout: 20_000 });
  await openChat(page, gateway.url);
  const text = `Hello from behind a stock server ${Date.now()}`;
  await typeMessage(page, text);
  await expect(replyTo(page, text)).toBeVisible({ timeout: 30_000 });
});

test('the door is locked in front of a stock server too', async () => {
  const env = await ask(gateway.url, '/api/system/env/local');
  expect(env.status).toBe(404);
  expect(env.json().error.code).toBe('NOT_FOUND');
  const foreign = await ask(gateway.url, '/api/agents', { headers: { Origin: 'http://evil.example' } });
  expect(foreign.status).toBe(403);
  // Straight to the stock server, the same request is served, with its permissive CORS:
  // the protection is the gateway's.
  const direct = await fetch(`${eliza.url.href.replace(/\/$/, '')}/api/agents`, { headers: { Origin: 'http://evil.example' } });
  expect(direct.status).toBe(200);
});
