/**
 * The gateway's sync route (issue 11) with the real worker, the real gateway and the real
 * ElizaOS: one request a poll, deltas with tombstones, a clean reset when the gateway
 * restarted, the plain routes when the gateway does not offer it, and a hostile cursor.
 */
import { expect, type Page, test } from '@playwright/test';
import type { Gateway } from '../server/gateway/app';
import { chatSessionId, openChat, openPurl, replyTo, sendToAgent, typeMessage, workerMeta } from './helpers';
import { startExtraGateway, stackInfo } from './stack';

interface ServerMemory {
  id: string;
  content: { text?: string };
}

/** The memories holding `token`, asked of ElizaOS directly. */
async function onServer(token: string): Promise<ServerMemory[]> {
  const { elizaUrl, agentId } = stackInfo();
  const response = await fetch(`${elizaUrl}/api/agents/${agentId}/memories?tableName=messages&includeEmbedding=false`);
  const { data } = (await response.json()) as { data: { memories: ServerMemory[] } };
  return data.memories.filter((memory) => memory.content.text?.includes(token));
}

/** Deletes a memory at ElizaOS itself (an admin route the gateway does not serve). */
async function deleteOnServer(id: string): Promise<void> {
  const { elizaUrl, agentId } = stackInfo();
  const response = await fetch(`${elizaUrl}/api/memory/${agentId}/memories/${id}`, { method: 'DELETE' });
  expect(response.ok, `DELETE memory answered ${response.status}`).toBe(true);
}

/** The paths the worker has read (its freshness stamps are kept by URL). */
async function pathsRead(page: Page): Promise<string[]> {
  return [...new Set(Object.keys((await workerMeta(page, 'answers')) ?? {}).map((url) => new URL(url).pathname))];
}

async function syncStats(gateway: Gateway) {
  const health = await (await fetch(`${gateway.url}/health`)).json();
  return health.edge.sync as { resets: number; deltas: number; tombstones: number };
}

/** Exactly `text` (the agent's reply quotes a message, so it contains the text too). */
const exactly = (text: string) => new RegExp(`^${text}$`);

/** Searches the memories view for `token`; the rows found. */
async function search(page: Page, token: string) {
  await page.getByRole('link', { name: 'Memories' }).click();
  await page.getByLabel('Search memories').fill(token);
  return page.locator('.search-row .memory-text');
}

test.describe('the sync route', () => {
  const gateways: Gateway[] = [];
  test.afterEach(async () => {
    await Promise.all(gateways.splice(0).map((gateway) => gateway.close()));
  });
  const gateway = async (env: Record<string, string> = {}) => {
    const started = await startExtraGateway(env);
    gateways.push(started);
    return started;
  };

  test('the worker reads through it, one request a poll, and deletions reach it as tombstones', async ({ page }) => {
    const token = `synced${Date.now()}`;
    await sendToAgent(`First words ${token}`);
    const edge = await gateway();
    await openPurl(page, edge.url);
    const rows = await search(page, token);
    await expect(rows).toHaveCount(2, { timeout: 20_000 });
    expect(await pathsRead(page)).toEqual(['/api/purl/sync']);
    const cursor = (await workerMeta(page, 'syncCursor'))?.cursor;
    expect(cursor).toMatch(/^[0-9a-f]{12}\.\d+$/);

    const memories = await onServer(token);
    expect(memories).toHaveLength(2);
    for (const memory of memories) await deleteOnServer(memory.id);
    await expect(rows).toHaveCount(0, { timeout: 20_000 });
    const stats = await syncStats(edge);
    expect(stats.tombstones).toBeGreaterThanOrEqual(2);
    expect(stats.deltas).toBeGreaterThan(0);
    expect((await workerMeta(page, 'syncCursor'))?.cursor).not.toBe(cursor);
  });

  test('with the chat open, each chat poll is one sync request that brings the reply and the memories', async ({ context, page }) => {
    const reads: string[] = [];
    context.on('request', (request) => {
      const url = new URL(request.url());
      if (request.serviceWorker() && request.method() === 'GET' && url.pathname.startsWith('/api/')) reads.push(`${url.pathname}${url.search}`);
    });
    // The memories' own poll 30 s apart: what reaches the memories sooner came with the chat's polls (1 s).
    // The edge on (a 3-s window): the gateway then offers the chat poll the memories along (syncChat).
    // Push off: this is the chat poll of a browser without push (with push the reply comes by it, push.spec.ts).
    const edge = await gateway({ FRONTEND_POLL_INTERVAL: '30000', GATEWAY_CACHE_TTL: '3000', PURL_PUSH: 'off' });
    await openChat(page, edge.url);
    const text = `Asked through the sync ${Date.now()}`;
    await typeMessage(page, text);
    await expect(replyTo(page, text)).toBeVisible({ timeout: 30_000 });
    const rows = await search(page, text);
    await expect(rows.filter({ hasText: exactly(text) })).toHaveCount(1, { timeout: 10_000 });

    // Every read went to the sync route (none to the chat's route or the plain memories route),
    // and from the first that asked for the chat on, every one did: the memories rode along.
    expect(reads.every((read) => read.startsWith('/api/purl/sync'))).toBe(true);
    const first = reads.findIndex((read) => read.includes('session='));
    expect(first).toBeGreaterThanOrEqual(0);
    const session = await chatSessionId(page);
    expect(reads.slice(first).every((read) => read.includes(`session=${session}`))).toBe(true);
  });

  test('offline for a while, then back: the delta brings what was added and deleted meanwhile', async ({ context, page }) => {
    const token = `away${Date.now()}`;
    await sendToAgent(`Before going away ${token}`);
    const edge = await gateway();
    await openPurl(page, edge.url);
    const rows = await search(page, token);
    await expect(rows).toHaveCount(2, { timeout: 20_000 });
    await context.setOffline(true);
    const gone = (await onServer(token)).find((memory) => memory.content.text === `Before going away ${token}`);
    await deleteOnServer(gone!.id);
    await sendToAgent(`While away ${token}`);
    await page.waitForTimeout(2_000);
    await expect(rows).toHaveCount(2);
    await context.setOffline(false);
    // The message sent meanwhile and its reply came; the message deleted meanwhile went (its reply stays).
    await expect(rows.filter({ hasText: exactly(`While away ${token}`) })).toHaveCount(1, { timeout: 30_000 });
    await expect(rows.filter({ hasText: exactly(`Before going away ${token}`) })).toHaveCount(0);
    await expect(rows).toHaveCount(3);
  });

  test('a gateway restarted (a new epoch) resets each browser once, and nothing is missed or doubled', async ({ page }) => {
    const token = `restart${Date.now()}`;
    await sendToAgent(`Before the restart ${token}`);
    const first = await gateway();
    const port = new URL(first.url).port;
    await openPurl(page, first.url);
    const rows = await search(page, token);
    await expect(rows).toHaveCount(2, { timeout: 20_000 });
    const oldCursor = (await workerMeta(page, 'syncCursor'))?.cursor;
    await first.close();
    gateways.splice(gateways.indexOf(first), 1);
    await sendToAgent(`While the gateway was down ${token}`);
    const second = await gateway({ PORT: port });
    await expect(rows).toHaveCount(4, { timeout: 30_000 });
    await expect(rows.filter({ hasText: exactly(`While the gateway was down ${token}`) })).toHaveCount(1);
    await expect(rows.filter({ hasText: exactly(`Before the restart ${token}`) })).toHaveCount(1);
    const newCursor = (await workerMeta(page, 'syncCursor'))?.cursor;
    expect(newCursor?.split('.')[0]).not.toBe(oldCursor?.split('.')[0]);
    expect((await syncStats(second)).resets).toBeGreaterThanOrEqual(1);
  });

  test('an older gateway (no sync route offered): the worker reads the plain routes and shows the same', async ({ page }) => {
    const token = `plain${Date.now()}`;
    await sendToAgent(`Plain routes ${token}`);
    const older = await gateway({ PURL_SYNC_ROUTE: 'off' });
    await openPurl(page, older.url);
    const rows = await search(page, token);
    await expect(rows).toHaveCount(2, { timeout: 20_000 });
    const paths = await pathsRead(page);
    expect(paths).toContain('/api/agents');
    expect(paths.some((path) => path.endsWith('/memories'))).toBe(true);
    expect(paths).not.toContain('/api/purl/sync');
  });

  test('a hostile cursor gets a 400 with a sentence, and the gateway reads nothing upstream for it', async () => {
    const { agentId } = stackInfo();
    const edge = await gateway({ GATEWAY_CACHE_TTL: '60000' });
    const first = await (await fetch(`${edge.url}/api/purl/sync?agentId=${agentId}`)).json();
    const readsBefore = (await (await fetch(`${edge.url}/health`)).json()).edge.upstreamReads;
    const epoch = String(first.cursor).split('.')[0];
    for (const since of [`${epoch}.99999999`, "' OR 1=1 --", '../../../etc/passwd', 'x'.repeat(5_000), `${epoch}.-1`]) {
      const reply = await fetch(`${edge.url}/api/purl/sync?agentId=${agentId}&since=${encodeURIComponent(since)}`);
      expect(reply.status, since.slice(0, 40)).toBe(400);
      expect((await reply.json()).error.message).toMatch(/^The [^{}<>]*\.$/);
    }
    expect((await (await fetch(`${edge.url}/health`)).json()).edge.upstreamReads).toBe(readsBefore);
  });
});
