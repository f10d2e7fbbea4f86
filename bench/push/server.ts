/**
 * The server side of the push fan-out bench, forked by bench/push/bench.ts with
 * `--expose-gc` so that what it measures is this process alone. Either:
 *
 * - `gateway`: the gateway as `npm start` starts it (readGatewayOptions, startGateway),
 *   in front of the bench's Socket.IO stand-in. Its upstream socket is made here and
 *   handed in as a part, only so the channels it has joined can be read.
 * - `bare`: the baseline, the least a Node process does to hold event streams: node:http,
 *   a 200 text/event-stream answer left open per request, and one write to each per event.
 *
 * A process of its own rather than in the bench's: RSS and CPU are then the server's, and
 * the heap, which /proc does not show, is read here after a full collection and sent over IPC.
 */
import http, { type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway } from '../../server/gateway/app';
import { readGatewayOptions } from '../../server/gateway/options';
import { OWNS_ALL, TEST_PEOPLE } from '../../server/gateway/test-kit';
import { createUpstreamSocket, type UpstreamSocket } from '../../server/gateway/upstream/upstream-socket';
import type { FromServer, ServerPlan, ServerSample, ToServer } from './protocol';

const send = (message: FromServer) => process.send?.(message);

interface Running {
  url: string;
  channels(): number;
  broadcast(text: string): void;
}

async function startBare(): Promise<Running> {
  const streams = new Set<ServerResponse>();
  let seq = 0;
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store' });
    res.socket?.setNoDelay(true);
    res.write('retry: 1000\nevent: hello\ndata: {}\n\n');
    streams.add(res);
    req.on('close', () => streams.delete(res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    channels: () => streams.size,
    broadcast(text) {
      const frame = `id: ${++seq}\nevent: message\ndata: ${JSON.stringify({ content: text })}\n\n`;
      for (const res of streams) res.write(frame);
    },
  };
}

async function startPushGateway(plan: ServerPlan): Promise<Running> {
  const env = { ELIZA_SERVER_URL: plan.upstream, PORT: '0', PURL_PUSH_SECRET: plan.pushSecret, WS_MAX_CONNECTIONS_PER_IP: String(plan.maxStreamsPerClient) };
  const { options } = readGatewayOptions(env);
  const upstreamSocket: UpstreamSocket = createUpstreamSocket({ upstream: options.upstream });
  // The streams' sessions are minted by the bench, not made by people: one person owns them all.
  // What the people steps cost per request is bench/people's to measure.
  const gateway = await startGateway(options, { upstreamSocket, people: TEST_PEOPLE, ownership: OWNS_ALL });
  return {
    url: gateway.url,
    channels: () => upstreamSocket.stats().channels,
    broadcast: () => {
      throw new Error('the gateway hears its broadcasts from the upstream');
    },
  };
}

function sample(running: Running, collect: boolean): ServerSample {
  // Twice: the first collection may leave what finalisers free for the second.
  if (collect) {
    globalThis.gc?.();
    globalThis.gc?.();
  }
  const memory = process.memoryUsage();
  return { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed, channels: running.channels() };
}

const plan = JSON.parse(process.argv[2] ?? '{}') as ServerPlan;
(plan.kind === 'bare' ? startBare() : startPushGateway(plan))
  .then((running) => {
    process.on('message', (message: ToServer) => {
      if (message.type === 'measure') send({ type: 'measured', sample: sample(running, message.collect) });
      else running.broadcast(message.text);
    });
    // The bench ends this process; it must not outlive a bench that died.
    process.on('disconnect', () => process.exit(0));
    send({ type: 'started', url: running.url });
  })
  .catch((error: unknown) => {
    send({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  });
