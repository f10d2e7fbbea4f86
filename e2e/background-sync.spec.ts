import { expect, test } from '@playwright/test';
import { chatLine as line, countOnServer, openChat, typeMessage as type } from './helpers';
import { OUTBOX_SYNC_TAG } from '../src/shared/messages';
import { faultStack } from './stack';

interface Registration {
  registrationId: string;
  scopeURL: string;
  isDeleted: boolean;
}

const isPostToSession = (request: { method: string; path: string }) => request.method === 'POST' && /\/sessions\/[^/]+\/messages$/.test(request.path);

// The outage is made by the fault proxy, not `context.setOffline`: Playwright's way back
// online waits on the stopped worker's target (about a minute).
test('a message that could not leave before its last tab closed is sent on a Background Sync event, with the worker stopped', async ({ context }) => {
  // A breaker that stays closed through the failed tries, so the sync event may send at once.
  const stack = await faultStack({ CIRCUIT_BREAKER_THRESHOLD: '100' });
  try {
    const page = await context.newPage();
    await openChat(page, stack.url);
    await expect.poll(() => stack.proxy.log.some((entry) => entry.method === 'POST' && entry.path === '/api/messaging/sessions')).toBe(true);
    // ElizaOS fails messages: over HTTP (503), and its socket, which the gateway would send them over, is refused.
    stack.proxy.cutSockets(true);
    stack.proxy.inject({ kind: 'status', status: 503, only: isPostToSession });
    const text = `Typed just before the last tab closed ${Date.now()}`;
    await type(page, text);
    await expect(line(page, text)).toHaveAttribute('data-state', /retrying/);
    // Saved, the page asked the browser to wake the worker for the outbox.
    const tags = await page.evaluate(async () => {
      const registration = (await navigator.serviceWorker.ready) as ServiceWorkerRegistration & { sync: { getTags(): Promise<string[]> } };
      return registration.sync.getTags();
    });
    expect(tags).toContain(OUTBOX_SYNC_TAG);

    // A page of another origin drives DevTools: no Purl tab is left open.
    const observer = await context.newPage();
    await page.close();
    const cdp = await context.newCDPSession(observer);
    const registrations: Registration[] = [];
    cdp.on('ServiceWorker.workerRegistrationUpdated', (event: { registrations: Registration[] }) => registrations.push(...event.registrations));
    await cdp.send('ServiceWorker.enable');
    const origin = new URL(stack.url).origin;
    const ours = () => registrations.find((registration) => registration.scopeURL.startsWith(origin) && !registration.isDeleted);
    await expect.poll(ours).toBeTruthy();
    await cdp.send('ServiceWorker.stopAllWorkers');
    stack.proxy.inject({ kind: 'none' });
    stack.proxy.cutSockets(false);

    // The server is back, but with no tab and no running worker nothing sends the message.
    await observer.waitForTimeout(3_000);
    expect(await countOnServer(text)).toBe(0);

    // What Chromium does once it is online: the sync event wakes the worker, which sends it.
    await cdp.send('ServiceWorker.dispatchSyncEvent', { origin, registrationId: ours()!.registrationId, tag: OUTBOX_SYNC_TAG, lastChance: false });
    await expect.poll(() => countOnServer(text), { timeout: 20_000 }).toBe(1);
  } finally {
    await stack.close();
  }
});
