/**
 * The gateway's allowlist: the only ElizaOS routes a browser may reach through it.
 *
 * Each entry is one request the app makes (method, path pattern, the query it sends,
 * the body it posts), with the reason it is needed. Anything else is a 404 that never
 * reaches ElizaOS: its admin API (agents started and deleted, memories wiped, the
 * server's `.env` read and rewritten, logs, uploads) stays out of reach. A route added
 * to the app must be added here on purpose, with its reason.
 */
import { MAX_MESSAGE_LENGTH } from '../../../src/shared/api';
import { MAX_METADATA_BYTES } from '../../../src/shared/limits';
import { isRecord, isUuid, UUID_SEGMENT } from '../../../src/shared/ids';

/** Which per-client limit a route counts against, besides the API-wide one. */
export type RouteLimit = 'api' | 'memories';

export interface ApiRoute {
  /** A short name for logs and the note. */
  name: string;
  method: 'GET' | 'POST';
  /** Matches the whole path; its groups are ids, checked as UUIDs by the pattern itself. */
  path: RegExp;
  /** Each query parameter the app sends, with a check of its value: all of them, and no others. */
  query: Readonly<Record<string, (value: string) => boolean>>;
  /** Checks a POST's parsed JSON body; returns a sentence saying what is wrong, or undefined. */
  body?: (body: unknown) => string | undefined;
  limit: RouteLimit;
  /**
   * The answer is the same for every user (the request carries nothing of the user: no
   * session, no body, and the server's key is the gateway's), so the edge keeps it and
   * reads it upstream at most once per GATEWAY_CACHE_TTL for everyone (server/gateway/edge/edge.ts).
   * Only GET routes without a body may say so.
   */
  shared?: true;
  /** Why the app needs it. */
  why: string;
}

/** Fields a body may hold, and nothing else. */
function onlyFields(body: Record<string, unknown>, allowed: readonly string[]): string | undefined {
  const extra = Object.keys(body).find((key) => !allowed.includes(key));
  return extra === undefined ? undefined : `The field "${extra}" is not accepted here.`;
}

function checkMetadata(metadata: unknown): string | undefined {
  if (metadata === undefined) return undefined;
  if (!isRecord(metadata)) return 'metadata must be an object.';
  if (Buffer.byteLength(JSON.stringify(metadata)) > MAX_METADATA_BYTES) return `metadata must be at most ${MAX_METADATA_BYTES} bytes as JSON.`;
  return undefined;
}

function checkNewSession(body: unknown): string | undefined {
  if (!isRecord(body)) return 'The body must be a JSON object.';
  const extra = onlyFields(body, ['agentId', 'userId', 'metadata']);
  if (extra) return extra;
  if (typeof body['agentId'] !== 'string' || !isUuid(body['agentId'])) return 'agentId must be a UUID.';
  if (typeof body['userId'] !== 'string' || !isUuid(body['userId'])) return 'userId must be a UUID.';
  return checkMetadata(body['metadata']);
}

function checkNewMessage(body: unknown): string | undefined {
  if (!isRecord(body)) return 'The body must be a JSON object.';
  const extra = onlyFields(body, ['content', 'metadata']);
  if (extra) return extra;
  const content = body['content'];
  if (typeof content !== 'string' || content.trim() === '') return 'content must be a non-empty string.';
  if (content.length > MAX_MESSAGE_LENGTH) return `A message may be at most ${MAX_MESSAGE_LENGTH} characters long; this one has ${content.length}.`;
  return checkMetadata(body['metadata']);
}

const exactly =
  (expected: string) =>
  (value: string): boolean =>
    value === expected;

const wholeNumberIn =
  (min: number, max: number) =>
  (value: string): boolean =>
    /^\d{1,6}$/.test(value) && Number(value) >= min && Number(value) <= max;

export const API_ROUTES: readonly ApiRoute[] = [
  {
    name: 'agents',
    method: 'GET',
    path: /^\/api\/agents$/,
    query: {},
    limit: 'api',
    shared: true,
    why: 'the agent picker and the default agent (sw/sync.ts)',
  },
  {
    name: 'memories',
    method: 'GET',
    path: new RegExp(`^/api/agents/${UUID_SEGMENT}/memories$`),
    // Embeddings are large and of no use to a browser: the app never asks for them.
    query: { tableName: exactly('messages'), includeEmbedding: exactly('false') },
    limit: 'memories',
    shared: true,
    why: "the memories browser: the agent's conversations (sw/sync.ts)",
  },
  {
    name: 'create-session',
    method: 'POST',
    path: /^\/api\/messaging\/sessions$/,
    query: {},
    body: checkNewSession,
    limit: 'api',
    why: 'the chat: one session per agent, replaced when the server lost it (sw/chat.ts)',
  },
  {
    name: 'session-messages',
    method: 'GET',
    path: new RegExp(`^/api/messaging/sessions/${UUID_SEGMENT}/messages$`),
    query: { limit: wholeNumberIn(1, 100) },
    limit: 'api',
    why: 'the chat poll, and the check before a retry whether a message already arrived (sw/chat.ts)',
  },
  {
    name: 'send-message',
    method: 'POST',
    path: new RegExp(`^/api/messaging/sessions/${UUID_SEGMENT}/messages$`),
    query: {},
    body: checkNewMessage,
    limit: 'api',
    why: 'the outbox: a typed message, with its client id in metadata (sw/chat.ts)',
  },
];

export interface MatchedRoute {
  route: ApiRoute;
  /** The path and query to send upstream: rebuilt from what was checked, not copied. */
  upstreamPath: string;
}

/**
 * The allowlisted route for a request, or undefined. The raw path is matched as sent
 * (no decoding, no dot-segment folding), so `..`, `%2e` or a doubled slash never
 * matches an id pattern; a query with a missing, unknown, repeated or invalid parameter
 * does not match either.
 */
export function matchApiRoute(method: string, rawUrl: string): MatchedRoute | undefined {
  const questionMark = rawUrl.indexOf('?');
  const path = questionMark < 0 ? rawUrl : rawUrl.slice(0, questionMark);
  const search = questionMark < 0 ? '' : rawUrl.slice(questionMark + 1);
  const params = new URLSearchParams(search);
  const names = [...params.keys()];
  for (const route of API_ROUTES) {
    if (route.method !== method || !route.path.test(path)) continue;
    // Exactly the parameters the app sends, each once: none missing, none added.
    if (new Set(names).size !== names.length || names.length !== Object.keys(route.query).length) return undefined;
    if (!names.every((name) => Object.hasOwn(route.query, name) && route.query[name]!(params.get(name)!))) return undefined;
    const query = new URLSearchParams(names.map((name): [string, string] => [name, params.get(name)!])).toString();
    return { route, upstreamPath: query ? `${path}?${query}` : path };
  }
  return undefined;
}
