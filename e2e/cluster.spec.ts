/**
 * `npm run cluster` for real: three gateway processes behind Debian's HAProxy, sharing a
 * real Redis, in front of the run's ElizaOS, and Chromium through the one address. A
 * reply reaches the tab by push whichever instance took the message; an instance killed
 * mid-conversation loses and doubles nothing; a client's limit holds across instances.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, type Page, test } from '@playwright/test';
import { haproxyCommand } from '../server/cluster/parts';
import { freePort } from '../server/eliza-process';
import { countOnServer, openChat, pushUp, replyTo, typeMessage, workerMeta } from './helpers';
import { launchPurl } from './launch';
import { stackInfo, TEST_CLIENT_ENV } from './stack';

interface Cluster {
  url: string;
  instances: { name: string; url: string }[];
  socket: string;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `npm run cluster` in front of the run's ElizaOS; resolves once it says it is running. */
async function startCluster(env: Record<string, string>): Promise<Cluster> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-cluster-'));
  const { elizaUrl, gatewaySecret } = stackInfo();
  const settings = {
    ...TEST_CLIENT_ENV,
    PORT: String(await freePort()),
    PURL_DATA_DIR: dataDir,
    ELIZA_SERVER_URL: elizaUrl,
    PURL_GATEWAY_SECRET: gatewaySecret,
    ...env,
  };
  const launched = await launchPurl('server/cluster/main.ts', settings, (output) => /HAProxy's admin socket: \S+/.test(output));
  const output = launched.output();
  const listed = /gateway instances: (.*)/.exec(output)?.[1] ?? '';
  return {
    url: launched.url,
    instances: [...listed.matchAll(/(gateway\d+) (127\.0\.0\.1:\d+)/g)].map(([, name, address]) => ({ name: name!, url: `http://${address}` })),
    socket: /HAProxy's admin socket: (\S+)/.exec(output)![1]!,
    output: launched.output,
    stop: async () => {
      await launched.stop('SIGTERM');
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

interface InstanceHealth {
  instance: string;
  redis?: { state: string };
  push?: {
    streams: number;
    sentOverSocket: number;
    sentOverRest: number;
    replayed: number;
    resets: number;
    log?: { mode: string; epoch?: string; n?: number; clusterChannels: number; coveredChannels: number };
  };
}

/** Each instance's own /health, asked directly (not through HAProxy). */
async function healthOf(cluster: Cluster): Promise<Map<string, InstanceHealth>> {
  const entries = await Promise.all(
    cluster.instances.map(async ({ name, url }) => {
      try {
        return [name, (await (await fetch(`${url}/health`)).json()) as InstanceHealth] as const;
      } catch {
        return undefined;
      }
    }),
  );
  return new Map(entries.filter((entry) => entry !== undefined));
}

/** Each instance's open push streams. */
async function streamCounts(cluster: Cluster): Promise<Map<string, number>> {
  return new Map([...(await healthOf(cluster)).entries()].map(([name, health]) => [name, health.push?.streams ?? 0]));
}

/**
 * The instance holding the page's push stream: the one instance (but `not`) with more
 * streams than `before`, taken before the page opened (an earlier test's page may still be
 * closing).
 */
async function streamHolder(cluster: Cluster, before: Map<string, number>, not?: string): Promise<string> {
  let holders: string[] = [];
  await expect
    .poll(async () => {
      holders = [...(await streamCounts(cluster))].filter(([name, count]) => name !== not && count > (before.get(name) ?? 0)).map(([name]) => name);
      return holders.length;
    })
    .toBe(1);
  return holders[0]!;
}

/** Notes in the page when an agent's line quoting `text` first shows (Date.now(), this machine's clock, as ElizaOS's). */
async function watchReply(page: Page, text: string): Promise<void> {
  await page.evaluate((quoted) => {
    const shown = window as unknown as { purlReplyShownAt?: number };
    shown.purlReplyShownAt = undefined;
    const observer = new MutationObserver(() => {
      for (const line of document.querySelectorAll('.chat-line[data-author="agent"] .memory-text')) {
        if (!line.textContent?.includes(quoted)) continue;
        shown.purlReplyShownAt = Date.now();
        observer.disconnect();
        return;
      }
    });
    observer.observe(document.body, { subtree: true, childList: true, characterData: true });
  }, `"${text}"`);
}

const replyShownAt = (page: Page) => page.evaluate(() => (window as unknown as { purlReplyShownAt?: number }).purlReplyShownAt);

/** When ElizaOS made the agent's reply quoting `text` (its createdAt), from the worker's store. */
function replyMadeAt(page: Page, text: string): Promise<number | undefined> {
  return page.evaluate(
    (quoted) =>
      new Promise<number | undefined>((resolve, reject) => {
        const open = indexedDB.open('purl');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const all = open.result.transaction('chat').objectStore('chat').getAll();
          all.onsuccess = () => {
            open.result.close();
            const reply = (all.result as { isAgent: boolean; text: string; createdAt: number }[]).find(
              (message) => message.isAgent && message.text.includes(quoted),
            );
            resolve(reply?.createdAt);
          };
          all.onerror = () => reject(all.error);
        };
      }),
    `"${text}"`,
  );
}

/** Every instance follows the cluster's push log and has joined the same channels (each one's streams' and the others'), each heard since a known point. */
async function clusterJoined(cluster: Cluster): Promise<void> {
  await expect
    .poll(
      async () => {
        const logs = [...(await healthOf(cluster)).values()].map((health) => health.push?.log);
        // Each has heard every channel it joins for the cluster since a known point of the log.
        return (
          logs.length === cluster.instances.length &&
          logs.every((log) => log?.mode === 'shared' && log.clusterChannels > 0 && log.coveredChannels >= log.clusterChannels)
        );
      },
      { timeout: 15_000 },
    )
    .toBe(true);
}

const sent = (health: InstanceHealth | undefined) => (health?.push?.sentOverSocket ?? 0) + (health?.push?.sentOverRest ?? 0);

test.describe('a cluster of three gateways behind HAProxy', () => {
  let cluster: Cluster;
  test.beforeAll(async () => {
    test.setTimeout(60_000);
    cluster = await startCluster({ PURL_INSTANCES: '3' });
  });
  test.afterAll(async () => {
    await cluster?.stop();
  });

  test('requests spread over the instances; a message taken by one is pushed to both tabs by another', async ({ context, page }) => {
    const answered = new Set<string>();
    for (let i = 0; i < 6; i++) answered.add(((await (await fetch(`${cluster.url}/health`)).json()) as InstanceHealth).instance);
    expect([...answered].sort()).toEqual(['gateway1', 'gateway2', 'gateway3']);
    for (const health of (await healthOf(cluster)).values()) expect(health.redis?.state).toBe('up');

    const before = await streamCounts(cluster);
    await openChat(page, cluster.url);
    await pushUp(page);
    const second = await context.newPage();
    await openChat(second, cluster.url);
    // The stream's instance takes no new request (drained, as before a restart): the message goes to another.
    const holder = await streamHolder(cluster, before);
    expect(await haproxyCommand(cluster.socket, `set server gateways/${holder} state drain`)).toBe('\n');
    try {
      const before = await healthOf(cluster);
      const text = `Across the cluster ${Date.now()}`;
      for (const tab of [page, second]) await watchReply(tab, text);
      const sentAt = Date.now();
      await typeMessage(second, text);
      await expect(replyTo(page, text)).toHaveCount(1, { timeout: 5_000 });
      await expect(replyTo(second, text)).toHaveCount(1, { timeout: 5_000 });
      const visibleAfterMs = Date.now() - sentAt;
      // From ElizaOS making the reply to its line showing in the later of the two tabs: ElizaOS's broadcast, the holder's append to
      // the cluster's log on Redis and its read back, the stream, the worker's store and both tabs' render.
      const madeAt = await replyMadeAt(page, text);
      const shownAt = Math.max((await replyShownAt(page)) ?? Infinity, (await replyShownAt(second)) ?? Infinity);
      expect(madeAt).toBeDefined();
      const pushedMs = shownAt - madeAt!;
      expect(pushedMs).toBeGreaterThanOrEqual(0);
      // By push, not by the chat poll (60 s). The goal is 0.3 s: 19–140 ms measured here with HAProxy's http-no-delay
      // (0.24–0.28 s without it); a speed, measured by the cluster bench (reply stored p50/p95), not asserted to the ms.
      expect(pushedMs).toBeLessThan(2_000);
      const after = await healthOf(cluster);
      const took = [...after.keys()].filter((name) => sent(after.get(name)) > sent(before.get(name)));
      expect(took).toHaveLength(1);
      expect(took[0]).not.toBe(holder);
      // Still the stream that carried it.
      expect(after.get(holder)?.push?.streams).toBeGreaterThan(0);
      console.log(
        `cluster: message taken by ${took[0]}, pushed by ${holder}; reply shown in both tabs ${pushedMs} ms after ElizaOS made it, ${visibleAfterMs} ms after Enter (typing, the POST and the agent's model included)`,
      );
      expect(await countOnServer(text)).toBe(1);
    } finally {
      await haproxyCommand(cluster.socket, `set server gateways/${holder} state ready`);
    }
  });

  test("an agent's syncs reach one instance, so a browser's cursor stays valid; every other request goes round robin", async () => {
    const agents = (await (await fetch(`${cluster.url}/api/agents`)).json()) as { data: { agents: { id: string }[] } };
    const agentId = agents.data.agents[0]!.id;
    const answeredBy = new Set<string>();
    let cursor: string | undefined;
    const resets: boolean[] = [];
    for (let i = 0; i < 6; i++) {
      const answer = await fetch(`${cluster.url}/api/purl/sync?agentId=${agentId}${cursor ? `&since=${cursor}` : ''}`);
      expect(answer.status).toBe(200);
      answeredBy.add(answer.headers.get('x-purl-instance') ?? 'unnamed');
      const body = (await answer.json()) as { cursor: string; reset: boolean };
      resets.push(body.reset);
      cursor = body.cursor;
    }
    expect(answeredBy.size).toBe(1);
    // The first answer replaces what the browser keeps; the next ones are deltas from its cursor.
    expect(resets).toEqual([true, false, false, false, false, false]);
    const others = new Set<string>();
    for (let i = 0; i < 6; i++) others.add((await fetch(`${cluster.url}/api/purl/sync`)).headers.get('x-purl-instance') ?? 'unnamed');
    expect(others.size).toBe(3);
  });

  test('Redis killed mid-conversation: the chat goes on, every instance says so, and shares again once the runner has it back', async ({ page }) => {
    await openChat(page, cluster.url);
    await pushUp(page);
    const pid = Number(/Redis is running at \S+ \(pid (\d+)\)/.exec(cluster.output())?.[1]);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    // Each instance says so once in the runner's log (its down spell is too short for /health to be caught reliably: the runner restarts Redis after 1 s).
    await expect.poll(() => cluster.output().match(/gateway\d: Redis at \S+ is unreachable/g)?.length ?? 0).toBe(3);
    const during = `While Redis was down ${Date.now()}`;
    await typeMessage(page, during);
    await expect(replyTo(page, during)).toHaveCount(1, { timeout: 5_000 });
    await expect.poll(() => cluster.output(), { timeout: 10_000 }).toMatch(/Redis is running again at/);
    await expect
      .poll(async () => [...(await healthOf(cluster)).values()].map((health) => health.redis?.state), { timeout: 15_000 })
      .toEqual(['up', 'up', 'up']);
    const after = `Once Redis was back ${Date.now()}`;
    await typeMessage(page, after);
    await expect(replyTo(page, after)).toHaveCount(1, { timeout: 5_000 });
    for (const text of [during, after]) expect(await countOnServer(text), `"${text}" is on the server once`).toBe(1);
    // Once each, for the one outage.
    expect(cluster.output().match(/gateway\d: Redis at \S+ is unreachable/g)).toHaveLength(3);
  });

  test('the instance holding the stream killed mid-conversation: the stream comes back through another, nothing lost or doubled', async ({ page }) => {
    const before = await streamCounts(cluster);
    await openChat(page, cluster.url);
    await pushUp(page);
    const holder = await streamHolder(cluster, before);
    // Every instance joins the page's channel (announced by the holder every 2 s, read by each every 2 s: two rounds, then
    // each join confirmed), so whichever instance the stream comes back to has heard everything after the next message.
    await page.waitForTimeout(4_500);
    await clusterJoined(cluster);
    const logBefore = (await healthOf(cluster)).get(holder)?.push?.log;
    const first = `Before the instance died ${Date.now()}`;
    await typeMessage(page, first);
    await expect(replyTo(page, first)).toHaveCount(1, { timeout: 5_000 });
    // The worker keeps the last event id once it has stored the reply: the stream comes back from there. The message and its
    // reply are two entries of the log past where it stood; a memories notice (an entry no stream gets an id for) may come
    // between or after them, so the reply's number is at least two past, and at most the log's end.
    await expect
      .poll(async () => {
        const [epoch, n] = String(await workerMeta(page, 'pushLastEventId')).split('.');
        const logEnd = (await healthOf(cluster)).get(holder)?.push?.log;
        return epoch === logBefore?.epoch && Number(n) >= (logBefore?.n ?? 0) + 2 && Number(n) <= (logEnd?.n ?? 0);
      })
      .toBe(true);
    const counted = (healths: Map<string, InstanceHealth>, name: 'replayed' | 'resets') =>
      [...healths.values()].reduce((sum, health) => sum + (health.push?.[name] ?? 0), 0);
    const beforeKill = await healthOf(cluster);
    const pid = Number(new RegExp(`${holder} 127\\.0\\.0\\.1:\\d+ \\(pid (\\d+)\\)`).exec(cluster.output())?.[1]);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    // Kept out of the balancer until the stream has moved: the runner restarts it within a second, and a fresh process has heard nothing to replay.
    await haproxyCommand(cluster.socket, `set server gateways/${holder} state maint`);
    const during = `While an instance was dead ${Date.now()}`;
    await typeMessage(page, during);
    await expect(replyTo(page, during)).toHaveCount(1, { timeout: 10_000 });
    // The stream moved: exactly one other instance holds one more stream than before.
    await streamHolder(cluster, before, holder);
    await pushUp(page);
    // It came back with the last id it saw and was given what it missed from the cluster's log: no chat read for it.
    beforeKill.delete(holder);
    const afterKill = async () => {
      const healths = await healthOf(cluster);
      healths.delete(holder);
      return healths;
    };
    // The replay is counted once the log has answered, just after the stream's hello.
    await expect.poll(async () => counted(await afterKill(), 'replayed')).toBeGreaterThan(counted(beforeKill, 'replayed'));
    expect(counted(await afterKill(), 'resets')).toBe(counted(beforeKill, 'resets'));
    const after = `After the instance died ${Date.now()}`;
    await typeMessage(page, after);
    await expect(replyTo(page, after)).toHaveCount(1, { timeout: 5_000 });
    await page.waitForTimeout(1_000);
    for (const text of [first, during, after]) {
      await expect(replyTo(page, text)).toHaveCount(1);
      expect(await countOnServer(text), `"${text}" is on the server once`).toBe(1);
    }
    // The runner starts the killed instance again.
    await haproxyCommand(cluster.socket, `set server gateways/${holder} state ready`);
    // The page closed: its stream is closed on its instance at once (HAProxy's abortonclose), not at the next keep-alive.
    await page.close();
    await expect
      .poll(async () => [...(await streamCounts(cluster))].filter(([name]) => name !== holder).reduce((sum, [, count]) => sum + count, 0), { timeout: 3_000 })
      .toBe([...before].filter(([name]) => name !== holder).reduce((sum, [, count]) => sum + count, 0));
    await expect.poll(() => cluster.output(), { timeout: 15_000 }).toMatch(new RegExp(`${holder} \\(pid ${pid}\\) exited`));
    await expect.poll(async () => (await healthOf(cluster)).has(holder), { timeout: 15_000 }).toBe(true);
  });
});

test('a client gets its limit once across the instances of a cluster, whichever answers', async () => {
  test.setTimeout(60_000);
  const cluster = await startCluster({ PURL_INSTANCES: '2', API_RATE_LIMIT_REQUESTS: '8', PURL_PUSH: 'off' });
  try {
    const statuses: number[] = [];
    const answeredBy = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const answer = await fetch(`${cluster.url}/api/agents`);
      statuses.push(answer.status);
      answeredBy.add(answer.headers.get('x-purl-instance') ?? 'unnamed');
    }
    expect([...answeredBy].sort()).toEqual(['gateway1', 'gateway2']);
    expect(statuses).toEqual([...Array(8).fill(200), ...Array(4).fill(429)]);
  } finally {
    await cluster.stop();
  }
});
