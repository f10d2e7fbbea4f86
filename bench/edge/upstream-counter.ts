/**
 * A counting proxy between the gateway and ElizaOS: what ElizaOS itself received, not
 * what the gateway says it sent. It passes every request through unchanged and notes its
 * kind, status and answer size. It connects to ElizaOS from an address of its own, so
 * each counter spends a rate-limit bucket of its own at a stock server (one per row of
 * the bench, as a gateway on another machine would; see BENCHMARKS.md).
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { quantile } from './shards';

/** What a request to ElizaOS was for. `api` kinds count against its budget; the others do not. */
export type UpstreamKind = 'memories' | 'agents' | 'chat-poll' | 'message-post' | 'session' | 'other-api' | 'health' | 'socket' | 'other';

export const API_KINDS: readonly UpstreamKind[] = ['memories', 'agents', 'chat-poll', 'message-post', 'session', 'other-api'];

export interface UpstreamEntry {
  /** Epoch ms the request reached the counter. */
  at: number;
  kind: UpstreamKind;
  /** ElizaOS's status, or 0 when it gave no answer. */
  status: number;
  /** Bytes of the answer's body as ElizaOS sent it. */
  bytes: number;
  /** From the request reaching the counter to the answer's end, once it has ended. */
  ms?: number;
}

/** The kind of a request from its method and path (with or without its query). */
export function classifyUpstream(method: string, url: string): UpstreamKind {
  const path = url.split('?')[0] ?? '';
  if (path === '/healthz') return 'health';
  if (path.startsWith('/socket.io')) return 'socket';
  if (!path.startsWith('/api/')) return 'other';
  if (/^\/api\/(agents|memory)\/[^/]+\/(rooms\/[^/]+\/)?memories$/.test(path) && method === 'GET') return 'memories';
  if (/^\/api\/agents(\/[^/]+)?$/.test(path) && method === 'GET') return 'agents';
  if (/^\/api\/messaging\/sessions\/[^/]+\/messages$/.test(path)) return method === 'POST' ? 'message-post' : 'chat-poll';
  if (path.startsWith('/api/messaging/sessions')) return 'session';
  return 'other-api';
}

export interface UpstreamSummary {
  /** Requests that count against ElizaOS's budget (every /api request). */
  api: number;
  byKind: Record<UpstreamKind, number>;
  /** ElizaOS's 429s. */
  rateLimited: number;
  /** Answer bytes of the /api requests. */
  apiBytes: number;
  /** How long ElizaOS took over the /api requests that were answered (to the answer's end): the median and the 95th percentile, ms. */
  answerP50Ms?: number;
  answerP95Ms?: number;
}

/** Totals of the entries that arrived within [from, to), epoch ms. */
export function summarizeUpstream(entries: readonly UpstreamEntry[], from: number, to: number): UpstreamSummary {
  const byKind = Object.fromEntries(
    (['memories', 'agents', 'chat-poll', 'message-post', 'session', 'other-api', 'health', 'socket', 'other'] as const).map((kind) => [kind, 0]),
  ) as Record<UpstreamKind, number>;
  const summary: UpstreamSummary = { api: 0, byKind, rateLimited: 0, apiBytes: 0 };
  const answerMs: number[] = [];
  for (const entry of entries) {
    if (entry.at < from || entry.at >= to) continue;
    byKind[entry.kind] += 1;
    if (!API_KINDS.includes(entry.kind)) continue;
    summary.api += 1;
    summary.apiBytes += entry.bytes;
    if (entry.status === 429) summary.rateLimited += 1;
    if (entry.ms !== undefined) answerMs.push(entry.ms);
  }
  const [p50, p95] = [quantile(answerMs, 0.5), quantile(answerMs, 0.95)];
  if (p50 !== undefined && p95 !== undefined) Object.assign(summary, { answerP50Ms: p50, answerP95Ms: p95 });
  return summary;
}

export interface UpstreamCounter {
  url: string;
  entries: UpstreamEntry[];
  close(): Promise<void>;
}

export interface UpstreamCounterOptions {
  /** ElizaOS, e.g. http://127.0.0.1:3000 */
  target: string;
  /** The address the counter connects from: ElizaOS's client key when it trusts no proxy. */
  localAddress: string;
}

export async function startUpstreamCounter(options: UpstreamCounterOptions): Promise<UpstreamCounter> {
  const target = new URL(options.target);
  const port = Number(target.port || 80);
  const agent = new http.Agent({ keepAlive: true, localAddress: options.localAddress, maxSockets: 64 });
  const entries: UpstreamEntry[] = [];

  const server = http.createServer((req, res) => {
    const entry: UpstreamEntry = { at: Date.now(), kind: classifyUpstream(req.method ?? 'GET', req.url ?? '/'), status: 0, bytes: 0 };
    entries.push(entry);
    const outgoing = http.request(
      { host: target.hostname, port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host }, agent },
      (answer) => {
        entry.status = answer.statusCode ?? 502;
        res.writeHead(entry.status, answer.rawHeaders);
        answer.on('data', (chunk: Buffer) => {
          entry.bytes += chunk.length;
        });
        answer.on('end', () => {
          entry.ms = Date.now() - entry.at;
        });
        answer.pipe(res);
      },
    );
    outgoing.on('error', () => {
      // ElizaOS went away mid-request (a row's stop): the gateway sees a reset, as it would.
      res.destroy();
    });
    req.pipe(outgoing);
  });

  // Socket.IO's WebSocket upgrade: counted once, then bytes pass both ways untouched.
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    entries.push({ at: Date.now(), kind: classifyUpstream(req.method ?? 'GET', req.url ?? '/'), status: 101, bytes: 0 });
    const upstream = net.connect({ host: target.hostname, port, localAddress: options.localAddress }, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    const end = () => {
      upstream.destroy();
      socket.destroy();
    };
    upstream.on('error', end);
    socket.on('error', end);
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    entries,
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
