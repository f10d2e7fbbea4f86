/**
 * `npm run cluster` for real: three gateway processes behind Debian's HAProxy, sharing a
 * real Redis, in front of the run's ElizaOS, and Chromium through the one address. A
 * reply reaches the tab by push whichever instance took the message; an instance killed
 * mid-conversation loses and doubles nothing; a client's limit holds across instances.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { freePort } from '../server/eliza-process';
import { countOnServer, openChat, pushUp, replyTo, typeMessage } from './helpers';
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

/** One command to HAProxy's runtime API; its answer. */
function haproxyCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const client = net.connect(socket);
    let answer = '';
    client.on('data', (chunk) => (answer += chunk.toString()));
    client.on('end', () => resolve(answer));
    client.on('error', reject);
    client.write(`${command}\n`);
  });
}

interface InstanceHealth {
  instance: string;
  redis?: { state: string };
  push?: { streams: number; sentOverSocket: number; sentOverRest: number };
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

/** The instance holding the page's push stream. */
async function streamHolder(cluster: Cluster): Promise<string> {
  let holders: string[] = [];
  // Exactly one: the streams of an earlier test's closed pages are gone.
  await expect
    .poll(async () => {
      holders = [...(await healthOf(cluster)).values()].filter((health) => (health.push?.streams ?? 0) > 0).map((health) => health.instance);
      return holders.length;
    })
    .toBe(1);
  return holders[0]!;
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

    await openChat(page, cluster.url);
    await pushUp(page);
    const second = await context.newPage();
    await openChat(second, cluster.url);
    // The stream's instance takes no new request (drained, as before a restart): the message goes to another.
    const holder = await streamHolder(cluster);
    expect(await haproxyCommand(cluster.socket, `set server gateways/${holder} state drain`)).toBe('\n');
    try {
      const before = await healthOf(cluster);
      const text = `Across the cluster ${Date.now()}`;
      const sentAt = Date.now();
      await typeMessage(second, text);
      await expect(replyTo(page, text)).toHaveCount(1, { timeout: 5_000 });
      await expect(replyTo(second, text)).toHaveCount(1, { timeout: 5_000 });
      const visibleAfterMs = Date.now() - sentAt;
      const after = await healthOf(cluster);
      const took = [...after.keys()].filter((name) => sent(after.get(name)) > sent(before.get(name)));
      expect(took).toHaveLength(1);
      expect(took[0]).not.toBe(holder);
      // Still the stream that carried it.
      expect(after.get(holder)?.push?.streams).toBeGreaterThan(0);
      console.log(
        `cluster: message taken by ${took[0]}, pushed by ${holder}; reply in both tabs ${visibleAfterMs} ms after Enter (includes typing and the POST)`,
      );
      expect(await countOnServer(text)).toBe(1);
    } finally {
      await haproxyCommand(cluster.socket, `set server gateways/${holder} state ready`);
    }
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
    await openChat(page, cluster.url);
    await pushUp(page);
    const first = `Before the instance died ${Date.now()}`;
    await typeMessage(page, first);
    await expect(replyTo(page, first)).toHaveCount(1, { timeout: 5_000 });

    const holder = await streamHolder(cluster);
    const pid = Number(new RegExp(`${holder} 127\\.0\\.0\\.1:\\d+ \\(pid (\\d+)\\)`).exec(cluster.output())?.[1]);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    const during = `While an instance was dead ${Date.now()}`;
    await typeMessage(page, during);
    await expect(replyTo(page, during)).toHaveCount(1, { timeout: 10_000 });
    // The stream moved: exactly one instance holds it now, and not the one killed.
    await expect
      .poll(async () => {
        const holders = [...(await healthOf(cluster)).values()].filter((health) => (health.push?.streams ?? 0) > 0).map((health) => health.instance);
        return holders.length === 1 && holders[0] !== holder;
      })
      .toBe(true);
    await pushUp(page);
    const after = `After the instance died ${Date.now()}`;
    await typeMessage(page, after);
    await expect(replyTo(page, after)).toHaveCount(1, { timeout: 5_000 });
    await page.waitForTimeout(1_000);
    for (const text of [first, during, after]) {
      await expect(replyTo(page, text)).toHaveCount(1);
      expect(await countOnServer(text), `"${text}" is on the server once`).toBe(1);
    }
    // The runner starts the killed instance again.
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
