import { randomUUID } from 'node:crypto';
import { expect, type Page } from '@playwright/test';
import type { MetaValues } from '../src/shared/db';
import { stackInfo } from './stack';

/** Opens Purl and waits until its service worker controls the page. */
export async function openPurl(page: Page, url = stackInfo().baseUrl): Promise<void> {
  await page.goto(url);
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 20_000 });
}

interface SessionMessage {
  content: string;
  isAgent: boolean;
}

/**
 * Waits for the agent's reply in a session, asking ElizaOS directly (never through the
 * gateway, so the gateway client's budget is untouched).
 */
export async function waitForReply(sessionId: string): Promise<string> {
  const { elizaUrl } = stackInfo();
  let reply: string | undefined;
  await expect
    .poll(
      async () => {
        const response = await fetch(`${elizaUrl}/api/messaging/sessions/${sessionId}/messages?limit=20`);
        const { messages } = (await response.json()) as { messages: SessionMessage[] };
        reply = messages.find((message) => message.isAgent)?.content;
        return reply;
      },
      { message: 'the agent replies', timeout: 15_000 },
    )
    .toBeTruthy();
  return reply!;
}

/**
 * Posts a message to the agent "from elsewhere": straight to ElizaOS's sessions API, not
 * through Purl, with the default transport (the one that stores the reply as a memory).
 * Resolves the session id, without waiting for the reply. `server`: another ElizaOS than the stack's.
 */
export async function postToAgent(text: string, server: { elizaUrl: string; agentId: string } = stackInfo()): Promise<string> {
  const { elizaUrl, agentId } = server;
  const session = await fetch(`${elizaUrl}/api/messaging/sessions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ agentId, userId: randomUUID() }),
  });
  expect(session.status).toBe(201);
  const { sessionId } = (await session.json()) as { sessionId: string };
  const posted = await fetch(`${elizaUrl}/api/messaging/sessions/${sessionId}/messages`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ content: text }),
  });
  expect(posted.status).toBe(201);
  return sessionId;
}

/** Talks to the agent from elsewhere (see postToAgent) and waits for its reply. */
export async function sendToAgent(text: string): Promise<{ reply: string }> {
  return { reply: await waitForReply(await postToAgent(text)) };
}

/** The texts of the memories on screen, newest first. */
export function memoryTexts(page: Page) {
  return page.locator('.memory .memory-text');
}

/** The conversation rows of the memories view. */
export function conversationRows(page: Page) {
  return page.locator('.conversation-row');
}

/** The conversation whose preview (its first user message) is exactly `text`. */
export function conversationStartingWith(page: Page, text: string) {
  return page.locator('.conversation-row').filter({ has: page.locator('.conversation-preview', { hasText: new RegExp(`^${escapeRegExp(text)}$`) }) });
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * How many user messages with exactly this text ElizaOS holds (asked directly, not through
 * Purl). `server`: another ElizaOS than the stack's.
 */
export async function countOnServer(text: string, server: { elizaUrl: string; agentId: string } = stackInfo()): Promise<number> {
  const { elizaUrl, agentId } = server;
  const response = await fetch(`${elizaUrl}/api/agents/${agentId}/memories?tableName=messages&includeEmbedding=false`);
  const { data } = (await response.json()) as { data: { memories: { entityId: string; content: { text?: string } }[] } };
  return data.memories.filter((memory) => memory.entityId !== agentId && memory.content.text === text).length;
}

/** Opens Purl on its chat view. */
export async function openChat(page: Page, url?: string): Promise<void> {
  await openPurl(page, url);
  await page.getByRole('link', { name: 'Chat' }).click();
  await expect(page.getByRole('heading', { name: /Chat with/ })).toBeVisible();
}

/** Types a message into the chat's composer and presses Enter. */
export async function typeMessage(page: Page, text: string): Promise<void> {
  await page.getByLabel(/Message to/).fill(text);
  await page.getByLabel(/Message to/).press('Enter');
}

/** The chat line of the user's message with exactly this text. */
export function chatLine(page: Page, text: string) {
  return page.locator('.chat-line').filter({ has: page.locator('.memory-text', { hasText: new RegExp(`^${escapeRegExp(text)}$`) }) });
}

/** The agent's reply to a message (the local model quotes what it answers). */
export function replyTo(page: Page, text: string) {
  return page.locator('.chat-line[data-author="agent"] .memory-text').filter({ hasText: `"${text}"` });
}

/**
 * Pages through the conversation list (newest first, 50 a page) until the conversation
 * starting with `text` is on screen: the seeded ones are the oldest, and other tests
 * add conversations before them.
 */
export async function showConversationStartingWith(page: Page, text: string) {
  const row = conversationStartingWith(page, text);
  await expect(conversationRows(page).first()).toBeVisible();
  const next = page.locator('.conversation-list .memories-pager button', { hasText: 'Next' });
  for (let pages = 0; pages < 20 && (await row.count()) === 0; pages += 1) {
    if ((await next.count()) === 0 || (await next.isDisabled())) break;
    await next.click();
    await page.waitForTimeout(100);
  }
  return row;
}

/** One value of the worker's meta store, read from the page's IndexedDB (what the worker last wrote). */
export function workerMeta<K extends keyof MetaValues>(page: Page, key: K): Promise<MetaValues[K] | undefined> {
  return page.evaluate(
    (name) =>
      new Promise<MetaValues[K] | undefined>((resolve, reject) => {
        const open = indexedDB.open('purl');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const get = open.result.transaction('meta').objectStore('meta').get(name);
          get.onsuccess = () => {
            open.result.close();
            resolve(get.result as MetaValues[K] | undefined);
          };
          get.onerror = () => {
            open.result.close();
            reject(get.error);
          };
        };
      }),
    key,
  );
}

/** Waits until the worker says replies come by push. */
export async function pushUp(page: Page): Promise<void> {
  await expect.poll(async () => (await workerMeta(page, 'metrics'))?.push?.state, { timeout: 20_000 }).toBe('up');
}

/** The chat session id the worker keeps. */
export async function chatSessionId(page: Page): Promise<string> {
  const session = await workerMeta(page, 'chatSession');
  if (!session) throw new Error('the worker has no chat session yet');
  return session.sessionId;
}
