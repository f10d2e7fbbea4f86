/**
 * The push route against the real embedded ElizaOS 1.7.2 (one start for the file, 3–9 s):
 * a session made through the gateway, its stream, a message posted through the gateway,
 * and the agent's reply as a `message` event with the id the sessions GET lists. Between
 * the gateway and ElizaOS sits a TCP relay the test can cut, to drop the upstream socket.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedEliza, startEmbeddedEliza } from '../../eliza-process';
import { type Gateway, startGateway } from '../app';
import { readGatewayOptions } from '../options';
import { PUSH_PATH } from './push';
import { mintPushToken } from './push-token';
import { ask, type EventStream, makeDist, openEventStream, TEST_PEOPLE, TEST_PUSH_KEY } from '../test-kit';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Relays TCP to `target`; `cut()` ends every connection under way (new ones still go through). */
async function startRelay(target: URL): Promise<{ url: string; cut(): void; close(): Promise<void> }> {
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    open.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    cut: () => {
      for (const socket of open) socket.destroy();
    },
    close: () => {
      for (const socket of open) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the push route against the embedded ElizaOS', () => {
  let eliza: EmbeddedEliza;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let gateway: Gateway;
  let dataDir: string;
  let dist: string;
  const streams: EventStream[] = [];

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-push-eliza-'));
    dist = makeDist();
    eliza = await startEmbeddedEliza({ root, dataDir });
    relay = await startRelay(eliza.url);
    const { options } = readGatewayOptions(
      { ELIZA_SERVER_URL: relay.url, PORT: '0', PURL_DIST_DIR: dist, PURL_GATEWAY_SECRET: eliza.gatewaySecret },
      undefined,
      { pushKey: TEST_PUSH_KEY },
    );
    gateway = await startGateway(options, { people: TEST_PEOPLE });
  }, 120_000);

  afterAll(async () => {
    for (const stream of streams) stream.close();
    await gateway?.close();
    await relay?.close();
    await eliza?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(dist, { recursive: true, force: true });
  }, 30_000);

  const json = { 'Content-Type': 'application/json' };
  const health = async () => (await ask(gateway.url, '/health')).json().push;
  async function until(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}.`);
      await sleep(20);
    }
  }

  /** Posts through the gateway; returns Date.now() at the start of the POST. */
  async function post(sessionId: string, content: string): Promise<number> {
    const at = Date.now();
    const sent = await ask(gateway.url, `/api/messaging/sessions/${sessionId}/messages`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ content, metadata: { clientMessageId: randomUUID() } }),
    });
    expect(sent.status).toBe(201);
    return at;
  }

  it('pushes the agent’s reply with the id the sessions GET lists, within a second; survives an upstream drop', async () => {
    const created = await ask(gateway.url, '/api/messaging/sessions', {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ agentId: eliza.agentId, userId: randomUUID() }),
    });
    expect(created.status).toBe(201);
    const { sessionId, channelId, pushToken } = created.json() as { sessionId: string; channelId: string; pushToken: string };
    expect(pushToken).toBe(mintPushToken(TEST_PUSH_KEY, sessionId, channelId));

    const stream = await openEventStream(gateway.url, `${PUSH_PATH}?session=${sessionId}.${channelId}.${pushToken}`);
    streams.push(stream);
    expect(stream.status).toBe(200);
    await stream.next((event) => event.event === 'hello');
    await until(async () => (await health()).channels === 1, 'the channel to be joined');

    // Someone without the token (another session's) gets nothing.
    const other = (
      await ask(gateway.url, '/api/messaging/sessions', {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ agentId: eliza.agentId, userId: randomUUID() }),
      })
    ).json() as { pushToken: string };
    const intruder = await ask(gateway.url, `${PUSH_PATH}?session=${sessionId}.${channelId}.${other.pushToken}`);
    expect(intruder.status).toBe(403);
    expect(intruder.json().error.code).toBe('PUSH_FORBIDDEN');

    const latencies: number[] = [];
    const askAndHear = async (text: string) => {
      const from = stream.events.length;
      const posted = await post(sessionId, text);
      const pushed = await stream.next(
        (event) => event.event === 'message' && event.json().message.isAgent && event.json().message.content.includes(text),
        5_000,
        from,
      );
      latencies.push(pushed.at - posted);
      return pushed;
    };

    const pushed = await askAndHear(`hello push ${randomUUID().slice(0, 8)}`);
    expect(pushed.id).toMatch(/^[0-9a-f]{12}\.\d+$/);
    const { message } = pushed.json();
    expect(pushed.json().sessionId).toBe(sessionId);
    expect(message).toMatchObject({ authorId: eliza.agentId, isAgent: true, createdAt: expect.any(Number) });
    const listed = (await ask(gateway.url, `/api/messaging/sessions/${sessionId}/messages?limit=20`)).json().messages as { id: string; content: string }[];
    expect(listed.find((row) => row.id === message.id)?.content).toBe(message.content);

    // The upstream socket drops: down, then up (socket.io's backoff: about a second), the channel joined again.
    const from = stream.events.length;
    relay.cut();
    await stream.next((event) => event.event === 'upstream' && event.json().state === 'down', 5_000, from);
    await stream.next((event) => event.event === 'upstream' && event.json().state === 'up', 10_000, from);
    await stream.next((event) => event.event === 'reset', 5_000, from);
    await until(async () => (await health()).channels === 1, 'the channel to be joined again');
    await askAndHear(`after the drop ${randomUUID().slice(0, 8)}`);
    for (let i = 0; i < 3; i++) await askAndHear(`again ${i} ${randomUUID().slice(0, 8)}`);

    console.log(`push latency, start of the POST → the reply's event: ${latencies.map((ms) => `${ms} ms`).join(', ')}`);
    for (const latency of latencies) expect(latency).toBeLessThan(1_000);
    const stats = await health();
    expect(stats).toMatchObject({ upstream: { state: 'up' }, streams: 1, dropped: 0 });
    expect(stats.eventsIn).toBeGreaterThanOrEqual(latencies.length);
  }, 60_000);
});
