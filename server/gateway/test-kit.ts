/**
 * For the gateway's unit tests: a stand-in ElizaOS that records what reaches it and
 * answers as each test says, a built app in a temporary folder, and a raw HTTP client
 * that can set any header (Host, Origin) and leave from any loopback address, and a
 * stand-in for the upstream Socket.IO socket.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type Gateway, type GatewayParts } from './app';
import { readGatewayOptions } from './options';
import type { Ownership } from './people/ownership';
import type { People } from './people/people';
import { matchRoute, ROUTES } from './routes';
import type { SocketLike } from './upstream/upstream-socket';

export const AGENT = '2a6e1e0c-4b7f-4c55-9c1a-1f0e0a7b3c11';
export const SESSION = 'b3c2a1d0-0000-4000-8000-00000000000a';
/** SESSION's channel, and a second session with its own. */
export const CHANNEL = 'c0c0c0c0-0000-4000-8000-00000000000c';
export const OTHER_SESSION = 'b3c2a1d0-0000-4000-8000-00000000000b';
export const OTHER_CHANNEL = 'c0c0c0c0-0000-4000-8000-00000000000d';
/** The user the sessions are made for. */
export const USER_ID = 'aaaaaaaa-0000-4000-8000-00000000000a';
export const MEMORIES = `/api/agents/${AGENT}/memories?tableName=messages&includeEmbedding=false`;
/** The push key tests give the gateway, so none is made under the working directory. */
/**
 * What the route table makes of a request: the name of the route it matches and, for a
 * route whose query the gateway parses itself, the query or the parser's sentence.
 */
export function routedQuery(
  method: string,
  rawUrl: string,
  headers: Record<string, string | undefined> = {},
): { route?: string; query?: unknown; problem?: string } {
  const match = matchRoute(ROUTES, method, rawUrl);
  if (match?.route.query?.kind !== 'parsed') return { route: match?.route.name };
  return { route: match.route.name, ...match.route.query.parse(new URLSearchParams(match.search), headers) };
}

export const TEST_PUSH_KEY = Buffer.alloc(32, 7);

export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type Answer = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export const jsonAnswer =
  (status: number, body: unknown, headers: Record<string, string> = {}): Answer =>
  (_req, res) => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

export interface StandIn {
  url: string;
  port: number;
  seen: Seen[];
  /** Requests to /api only (the health check's /healthz is not one). */
  apiSeen(): Seen[];
  /** How the stand-in answers from now on. */
  answer: Answer;
  /** How it answers `GET /api/system/config` (ElizaOS's: no data isolation, unless a test says otherwise). */
  config: Answer;
  close(): Promise<void>;
}

export async function startStandIn(): Promise<StandIn> {
  const seen: Seen[] = [];
  const standIn = {
    seen,
    apiSeen: () => seen.filter((entry) => entry.url.startsWith('/api')),
    answer: jsonAnswer(200, { success: true, data: { agents: [] } }) as Answer,
    config: jsonAnswer(200, { success: true, data: { requiresAuth: false } }) as Answer,
  } as StandIn;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (req.url === '/healthz') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{"status":"OK"}');
        return;
      }
      if (req.url === '/api/system/config') standIn.config(req, res);
      else standIn.answer(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  standIn.port = (server.address() as AddressInfo).port;
  standIn.url = `http://127.0.0.1:${standIn.port}`;
  standIn.close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return standIn;
}

export function makeDist(): string {
  const dist = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-dist-'));
  fs.mkdirSync(path.join(dist, 'assets'));
  fs.writeFileSync(path.join(dist, 'index.html'), '<!doctype html><title>Purl</title>');
  fs.writeFileSync(path.join(dist, 'assets', 'app-1a2b.js'), 'console.log(1)');
  return dist;
}

/** The header a test names its person by, for TEST_PEOPLE. */
export const TEST_PERSON_HEADER = 'x-test-person';
/**
 * Who asks, for the tests of the other parts: the person a request names in TEST_PERSON_HEADER,
 * else USER_ID, without a cookie. The people's own tests (server/gateway/people/) use the real
 * identity cookie.
 */
export const TEST_PEOPLE: People = {
  identify: async (req) => {
    const named = req.headers[TEST_PERSON_HEADER];
    return { id: typeof named === 'string' ? named : USER_ID, signIn: 'device' };
  },
  stats: () => ({ identities: 1 }),
  close: () => undefined,
};
/** Whose sessions are whose, for the tests of the other parts: every session is the asker's. */
export const OWNS_ALL: Ownership = { of: async () => 'theirs' };

/**
 * A gateway in front of `upstream`. Its people are TEST_PEOPLE and OWNS_ALL unless `parts`
 * says otherwise; `realPeople()` gives the real ones (the identity cookie, the session book).
 */
export async function gatewayFor(upstream: StandIn, dist: string, env: Record<string, string> = {}, parts: GatewayParts = {}): Promise<Gateway> {
  const { options } = readGatewayOptions({ ELIZA_SERVER_URL: upstream.url, PORT: '0', PURL_DIST_DIR: dist, ...env }, undefined, { pushKey: TEST_PUSH_KEY });
  return startGateway(options, { people: TEST_PEOPLE, ownership: OWNS_ALL, ...parts });
}

/** The parts to give gatewayFor for the real people: the identity cookie and the real ownership. */
export const realPeople = (): GatewayParts => ({ people: undefined, ownership: undefined });

/** A gateway in front of `upstream` whose upstream socket is the fake `socket`. */
export async function gatewayWithFakeSocket(
  upstream: StandIn,
  dist: string,
  socket: FakeSocket,
  env: Record<string, string> = {},
  parts: GatewayParts = {},
): Promise<Gateway> {
  return gatewayFor(upstream, dist, env, { connectUpstream: () => socket.connect() as unknown as SocketLike, ...parts });
}

/** The /health push counts of messages sent and chats read, before any was. */
export const NO_SENDS = {
  sentOverSocket: 0,
  sentOverRest: 0,
  ackTimeouts: 0,
  socketFailures: 0,
  renewals: 0,
  sessions: 0,
  chatReadsFromEdge: 0,
  chatReadsUpstream: 0,
};

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON the gateway answered, field by field.
  json(): any;
}

export interface AskOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** The loopback address to leave from (another user). */
  from?: string;
  /** Send the body in chunks without a Content-Length. */
  chunked?: boolean;
  /** For https gateways: the certificate to trust. */
  ca?: Buffer;
}

/** One request with full control of its headers; never throws on a status. */
export function ask(base: string, pathAndQuery: string, options: AskOptions = {}): Promise<Reply> {
  const url = new URL(pathAndQuery, base);
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        ...(options.from ? { localAddress: options.from } : {}),
        ...(options.ca ? { ca: options.ca } : {}),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) });
        });
      },
    );
    request.on('error', reject);
    if (options.body !== undefined && options.chunked) {
      const body = Buffer.from(options.body);
      for (let at = 0; at < body.length; at += 16_384) request.write(body.subarray(at, at + 16_384));
      request.end();
    } else {
      request.end(options.body);
    }
  });
}

/** True when no header of the answer is a CORS header. */
export const hasNoCors = (reply: Reply): boolean => Object.keys(reply.headers).every((name) => !name.startsWith('access-control-'));

export interface Certificate {
  certFile: string;
  keyFile: string;
  /** The base64 SHA-256 of the certificate's public key, as Chromium's --ignore-certificate-errors-spki-list takes it. */
  spki: string;
}

/** A self-signed certificate (ECDSA P-256, valid two days) for `subjectAltName`, made with openssl in `folder`. */
export function makeCertificate(folder: string, commonName: string, subjectAltName: string): Certificate {
  const certFile = path.join(folder, 'cert.pem');
  const keyFile = path.join(folder, 'key.pem');
  const request = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'];
  execFileSync('openssl', [...request, '-subj', `/CN=${commonName}`, '-addext', `subjectAltName=${subjectAltName}`, '-keyout', keyFile, '-out', certFile], {
    stdio: 'ignore',
  });
  const publicKey = execFileSync('openssl', ['x509', '-in', certFile, '-pubkey', '-noout']);
  const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'der'], { input: publicKey });
  const spki = execFileSync('openssl', ['dgst', '-sha256', '-binary'], { input: der }).toString('base64');
  return { certFile, keyFile, spki };
}

export interface SseEvent {
  event: string;
  id?: string;
  retry?: number;
  /** The data lines joined; comments have event ':' and the comment as data. */
  data: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON the gateway sent, field by field.
  json(): any;
  /** Date.now() when it arrived. */
  at: number;
}

export interface EventStream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Every event and comment so far, in order. */
  events: SseEvent[];
  /** The body of an answer that is not a stream. */
  body(): string;
  /** The first event (from `from` on) that matches, waiting up to `timeoutMs`; throws when none comes. */
  next(match: (event: SseEvent) => boolean, timeoutMs?: number, from?: number): Promise<SseEvent>;
  /** True once the gateway ended the stream. */
  ended(): boolean;
  close(): void;
}

/** Opens a Server-Sent Events request and parses what arrives, as EventSource would. */
export function openEventStream(base: string, pathAndQuery: string, options: Pick<AskOptions, 'headers' | 'from'> = {}): Promise<EventStream> {
  const url = new URL(pathAndQuery, base);
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      { headers: { Accept: 'text/event-stream', ...options.headers }, ...(options.from ? { localAddress: options.from } : {}), agent: false },
      (res) => {
        const events: SseEvent[] = [];
        let text = '';
        let ended = false;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
            const block = text.slice(0, end);
            text = text.slice(end + 2);
            const event: SseEvent = { event: 'message', data: '', at: Date.now(), json: () => JSON.parse(event.data) };
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) {
                event.event = ':';
                data.push(line.slice(1).trim());
                continue;
              }
              const colon = line.indexOf(':');
              const field = line.slice(0, colon);
              const value = line.slice(colon + 1).replace(/^ /, '');
              if (field === 'event') event.event = value;
              else if (field === 'id') event.id = value;
              else if (field === 'retry') event.retry = Number(value);
              else if (field === 'data') data.push(value);
            }
            event.data = data.join('\n');
            events.push(event);
          }
        });
        res.on('end', () => (ended = true));
        res.on('close', () => (ended = true));
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          events,
          body: () => text,
          async next(match, timeoutMs = 5_000, from = 0) {
            const deadline = Date.now() + timeoutMs;
            for (;;) {
              const found = events.slice(from).find(match);
              if (found) return found;
              if (Date.now() > deadline) throw new Error(`No such event within ${timeoutMs} ms; got ${JSON.stringify(events.map((e) => [e.event, e.data]))}`);
              await new Promise((wait) => setTimeout(wait, 5));
            }
          },
          ended: () => ended,
          close: () => request.destroy(),
        });
      },
    );
    request.on('error', reject);
    request.end();
  });
}

/** A stand-in for socket.io-client's socket: records what the gateway emits, and delivers what a test says ElizaOS sends. */
export class FakeSocket {
  readonly emitted: [string, unknown][] = [];
  readonly handlers = new Map<string, ((...args: unknown[]) => void)[]>();
  connects = 0;
  active = true;
  /** As socket.io-client's: true between a `connect` and a `disconnect`. */
  connected = false;
  /** How a join is answered. */
  joins: 'accept' | 'deny' | 'ignore' = 'accept';
  /** How a user's message (`emit("2")`) is answered: stored (its echo, then messageAck), an error, or nothing. */
  sends: 'ack' | 'error' | 'ignore' = 'ack';
  /** The ids of the rows the fake stores, in order. */
  readonly rows: string[] = [];

  on(event: string, handler: (...args: unknown[]) => void): this {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), handler]);
    return this;
  }

  emit(event: string, data: unknown): this {
    this.emitted.push([event, data]);
    if (event === '1' && this.joins !== 'ignore') {
      const channelId = (data as { channelId: string }).channelId;
      queueMicrotask(() =>
        this.joins === 'accept'
          ? this.deliver('channel_joined', { channelId, roomId: channelId, message: 'joined' })
          : this.deliver('messageError', { error: "Access denied: You don't have permission to join this channel" }),
      );
    }
    if (event === '2') queueMicrotask(() => this.answerSend(data as Record<string, string>));
    return this;
  }

  /** As ElizaOS 1.7.2's handleMessageSubmission answers its sender: the echo (top-level clientMessageId), then the ack naming the new row. */
  answerSend(sent: Record<string, string>): void {
    if (this.sends === 'ignore') return;
    if (this.sends === 'error') {
      this.deliver('messageError', { error: 'Error processing your message: the database is away' });
      return;
    }
    const id = `eeeeeeee-0000-4000-8000-${String(this.rows.length + 1).padStart(12, '0')}`;
    this.rows.push(id);
    const { channelId, senderId, senderName, message, source, messageServerId, messageId } = sent;
    const broadcast = {
      id,
      senderId,
      senderName,
      text: message,
      channelId,
      roomId: channelId,
      messageServerId,
      createdAt: 1_700_000_500_000 + this.rows.length,
      source,
    };
    this.deliver('messageBroadcast', { ...broadcast, clientMessageId: messageId });
    this.deliver('messageAck', { clientMessageId: messageId, messageId: id, status: 'received_by_server_and_processing', channelId, roomId: channelId });
  }

  /** The user's messages the gateway sent. */
  sent(): Record<string, unknown>[] {
    return this.emitted.filter(([event]) => event === '2').map(([, data]) => data as Record<string, unknown>);
  }

  deliver(event: string, ...args: unknown[]): void {
    if (event === 'connect') this.connected = true;
    if (event === 'disconnect' || event === 'connect_error') this.connected = false;
    for (const handler of this.handlers.get(event) ?? []) handler(...args);
  }

  joinsOf(channelId: string): number {
    return this.emitted.filter(([event, data]) => event === '1' && (data as { channelId: string }).channelId === channelId).length;
  }

  connect(): this {
    this.connects++;
    queueMicrotask(() => this.deliver('connect'));
    return this;
  }

  disconnect(): this {
    return this;
  }
}

export interface Stock {
  /** What the server has left in its window. */
  remaining: number;
  /** 429s it answered. */
  refused: number;
  answer: (req: http.IncomingMessage, res: http.ServerResponse) => void;
}

/** A stock ElizaOS's one budget (draft-6 headers; a 429 with Retry-After once it is spent), answering each allowlisted route. */
export function stockServer(limit: number, windowS: number, answerMs = 0): Stock {
  let resetAt = Date.now() + windowS * 1000;
  /** What the server makes of a request as it arrives (its limiter runs first): the answer, sent `answerMs` later (a busy server). */
  function answerTo(req: http.IncomingMessage): Answer {
    const now = Date.now();
    if (now >= resetAt) {
      stock.remaining = limit;
      resetAt = now + windowS * 1000;
    }
    const resetS = String(Math.ceil((resetAt - now) / 1000));
    const headers = { 'RateLimit-Policy': `${limit};w=${windowS}`, 'RateLimit-Limit': String(limit), 'RateLimit-Reset': resetS };
    if (stock.remaining <= 0) {
      stock.refused += 1;
      return jsonAnswer(
        429,
        { success: false, error: { code: 'RATE_LIMIT_EXCEEDED', message: 'Too many requests' } },
        { ...headers, 'RateLimit-Remaining': '0', 'Retry-After': resetS },
      );
    }
    stock.remaining -= 1;
    const stated = { ...headers, 'RateLimit-Remaining': String(stock.remaining) };
    if (req.url?.includes('/memories')) {
      const memory = { id: 'm-1', agentId: AGENT, entityId: 'u-1', roomId: 'r-1', createdAt: 1_700_000_000_000, content: { text: 'hello' } };
      return jsonAnswer(200, { success: true, data: { memories: [memory] } }, stated);
    }
    if (req.method === 'POST') return jsonAnswer(201, { success: true, userMessage: { id: 'u-1' } }, stated);
    return jsonAnswer(200, { messages: [], hasMore: false, cursors: {} }, stated);
  }
  const stock: Stock = {
    remaining: limit,
    refused: 0,
    answer(req, res) {
      const answer = answerTo(req);
      if (answerMs > 0) setTimeout(() => answer(req, res), answerMs);
      else answer(req, res);
    },
  };
  return stock;
}
