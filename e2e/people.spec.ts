import { expect, type Page, test } from '@playwright/test';
import { chatLine, countOnServer, openChat, replyTo, typeMessage, workerMeta } from './helpers';
import { stackInfo } from './stack';

/** A request from the page, as its own scripts could make it: same origin, its cookies. */
function fromPage(page: Page, path: string, init: { method?: string; body?: unknown } = {}) {
  return page.evaluate(
    async ({ path, method, body }) => {
      const answer = await fetch(path, {
        method: method ?? 'GET',
        headers: { 'Content-Type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: answer.status, text: await answer.text() };
    },
    { path, method: init.method, body: init.body },
  );
}

test.describe('people: two browser profiles are two people', () => {
  test("each gets a chat of their own; B's requests for A's chat, by every id A's storage holds, are the 404 of no session, and B cannot post as A", async ({
    browser,
  }) => {
    const a = await browser.newContext();
    const b = await browser.newContext();
    try {
      const alice = await a.newPage();
      const bob = await b.newPage();
      await openChat(alice);
      await openChat(bob);
      const canary = `Alice's canary ${Date.now()}`;
      await typeMessage(alice, canary);
      await expect(replyTo(alice, canary)).toHaveCount(1);
      const hers = await workerMeta(alice, 'chatSession');
      const his = await workerMeta(bob, 'chatSession');
      expect(hers && his).toBeTruthy();
      // The gateway made each session for its person, not for the userId each worker sent.
      expect(hers!.userId).not.toBe(his!.userId);
      expect(hers!.userId).not.toBe(await workerMeta(alice, 'userId'));
      // The identity cookie is the gateway's: no script of the page can read it.
      expect(await alice.evaluate(() => document.cookie)).toBe('');
      expect((await a.cookies()).map((cookie) => [cookie.name, cookie.httpOnly, cookie.sameSite])).toEqual([['purl_id', true, 'Lax']]);

      const forged = `Bob posting as Alice ${Date.now()}`;
      const messages = `/api/messaging/sessions/${hers!.sessionId}/messages`;
      const refused = [
        await fromPage(bob, `${messages}?limit=50`),
        await fromPage(bob, messages, { method: 'POST', body: { content: forged } }),
        await fromPage(bob, `/api/messaging/sessions/${hers!.sessionId.toUpperCase()}/messages?limit=50`),
        await fromPage(bob, `/api/purl/push?session=${hers!.sessionId}.${hers!.channelId}.${hers!.pushToken}`),
      ];
      for (const answer of refused) {
        expect(answer.status).toBe(404);
        expect(JSON.parse(answer.text).error.code).toBe('SESSION_NOT_FOUND');
        expect(answer.text).not.toContain(canary);
      }
      const sync = await fromPage(bob, `/api/purl/sync?session=${hers!.sessionId}&limit=50`);
      expect(sync.status).toBe(200);
      expect(JSON.parse(sync.text).chat).toEqual({ gone: true });
      // From curl, with no cookie at all: no one's session either.
      const curl = await fetch(`${stackInfo().baseUrl}${messages}?limit=50`);
      expect(curl.status).toBe(404);

      // Nothing Bob tried reached ElizaOS or Alice's chat; Alice goes on as before.
      await alice.waitForTimeout(1_500);
      expect(await countOnServer(forged)).toBe(0);
      await expect(chatLine(alice, forged)).toHaveCount(0);
      await expect(chatLine(bob, canary)).toHaveCount(0);
      const more = `Alice again ${Date.now()}`;
      await typeMessage(alice, more);
      await expect(replyTo(alice, more)).toHaveCount(1);
      expect((await workerMeta(alice, 'chatSession'))?.sessionId).toBe(hers!.sessionId);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('a browser whose identity cookie is gone is a new person: its old chat is not theirs, and a new one is made', async ({ browser }) => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await openChat(page);
      const before = `Before the cookie went ${Date.now()}`;
      await typeMessage(page, before);
      await expect(replyTo(page, before)).toHaveCount(1);
      const old = await workerMeta(page, 'chatSession');
      await context.clearCookies();
      const after = `After the cookie went ${Date.now()}`;
      await typeMessage(page, after);
      await expect(replyTo(page, after)).toHaveCount(1, { timeout: 20_000 });
      const made = await workerMeta(page, 'chatSession');
      expect(made?.sessionId).not.toBe(old?.sessionId);
      expect(made?.userId).not.toBe(old?.userId);
      expect(await countOnServer(after)).toBe(1);
    } finally {
      await context.close();
    }
  });
});
