/**
 * An OpenAI-compatible model server of our own, standing in for a provider in tests:
 * chat completions (plain and streamed) and embeddings, deterministic answers, and
 * modes to fail (any status, 429 with Retry-After) or to demand one API key. It listens
 * on 127.0.0.1 only, on a free port, and records what it was asked.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the stub answers model requests (`/v1/models` always answers). */
export type StubMode = { readonly kind: 'answer' } | { readonly kind: 'fail'; readonly status: number; readonly retryAfterSeconds?: number };

/** One request the stub received. */
export interface StubRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  readonly body: unknown;
}

export interface OpenAiStub {
  /** The base URL to give as OPENAI_BASE_URL, ending in `/v1`. */
  readonly url: string;
  readonly requests: readonly StubRequest[];
  setMode(mode: StubMode): void;
  close(): Promise<void>;
}

export interface OpenAiStubOptions {
  /** Answer 401 unless this key is sent as `Authorization: Bearer …`. */
  readonly requireKey?: string;
}

/** The heading Purl's conversation plugin puts before the message to answer. */
const MESSAGE_LINE = /# The message to answer\nUser: (.*)/;

/** The stub's reply to a user message, as the chat should show it. */
export function stubReply(message: string): string {
  return `Stub model here. You said: "${message}"`;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The prompt's message to answer, from the chat request's messages. */
function messageOf(body: unknown): string {
  const messages = (body as { messages?: Array<{ content?: unknown }> } | null)?.messages ?? [];
  const text = messages.map((message) => (typeof message.content === 'string' ? message.content : JSON.stringify(message.content ?? ''))).join('\n');
  return MESSAGE_LINE.exec(text)?.[1] ?? '';
}

/** The answer in the XML shape ElizaOS's message service parses. */
function completionText(body: unknown): string {
  return [
    '<response>',
    '<thought>The stub answers every message the same way.</thought>',
    '<actions>REPLY</actions>',
    '<providers></providers>',
    `<text>${escapeXml(stubReply(messageOf(body)))}</text>`,
    '</response>',
  ].join('\n');
}

/** A deterministic unit vector of `dimensions` from the text. */
function embedding(text: string, dimensions: number): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  const digest = createHash('sha256').update(text).digest();
  for (let i = 0; i < digest.length; i += 2) vector[(digest[i]! * 256 + digest[i + 1]!) % dimensions] = 1;
  const norm = Math.hypot(...vector);
  return vector.map((value) => value / norm);
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

function chatCompletion(body: unknown, model: string): unknown {
  return {
    id: 'chatcmpl-stub',
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: completionText(body) }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
  };
}

/** The same answer as server-sent events, in two content chunks. */
function streamCompletion(response: ServerResponse, body: unknown, model: string): void {
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const text = completionText(body);
  const half = Math.floor(text.length / 2);
  const chunk = (delta: Record<string, unknown>, finish: string | null) =>
    `data: ${JSON.stringify({ id: 'chatcmpl-stub', object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  response.write(chunk({ role: 'assistant', content: text.slice(0, half) }, null));
  response.write(chunk({ content: text.slice(half) }, null));
  response.write(chunk({}, 'stop'));
  response.end('data: [DONE]\n\n');
}

async function readBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Starts the stub on 127.0.0.1 and a free port. */
export async function startOpenAiStub(options: OpenAiStubOptions = {}): Promise<OpenAiStub> {
  let mode: StubMode = { kind: 'answer' };
  const requests: StubRequest[] = [];
  const server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      const path = (request.url ?? '/').split('?')[0]!;
      const authorization = request.headers.authorization;
      requests.push({ method: request.method ?? 'GET', path, authorization, body });
      if (options.requireKey !== undefined && authorization !== `Bearer ${options.requireKey}`) {
        sendJson(response, 401, { error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', code: 'invalid_api_key' } });
        return;
      }
      if (request.method === 'GET' && path === '/v1/models') {
        sendJson(response, 200, { object: 'list', data: [{ id: 'stub-model', object: 'model', created: 0, owned_by: 'purl' }] });
        return;
      }
      const isModelCall = request.method === 'POST' && (path === '/v1/chat/completions' || path === '/v1/embeddings');
      if (!isModelCall) {
        sendJson(response, 404, { error: { message: `No route ${request.method} ${path}.`, type: 'invalid_request_error' } });
        return;
      }
      if (mode.kind === 'fail') {
        const headers: Record<string, string> = mode.retryAfterSeconds === undefined ? {} : { 'retry-after': String(mode.retryAfterSeconds) };
        const type = mode.status === 429 ? 'rate_limit_exceeded' : 'server_error';
        sendJson(response, mode.status, { error: { message: `The stub was told to fail with ${mode.status}.`, type } }, headers);
        return;
      }
      const fields = (body ?? {}) as { model?: string; stream?: boolean; input?: unknown; dimensions?: number };
      const model = fields.model ?? 'stub-model';
      if (path === '/v1/embeddings') {
        const dimensions = fields.dimensions ?? 1536;
        const inputs = Array.isArray(fields.input) ? fields.input : [fields.input];
        sendJson(response, 200, {
          object: 'list',
          data: inputs.map((input, index) => ({ object: 'embedding', index, embedding: embedding(String(input ?? ''), dimensions) })),
          model,
          usage: { prompt_tokens: 1, total_tokens: 1 },
        });
        return;
      }
      if (fields.stream) streamCompletion(response, body, model);
      else sendJson(response, 200, chatCompletion(body, model));
    })().catch((error: unknown) => {
      // A broken request must not take the test's process down; answer it as a server would.
      if (!response.headersSent) sendJson(response, 500, { error: { message: String(error), type: 'server_error' } });
      else response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    setMode: (next) => {
      mode = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
