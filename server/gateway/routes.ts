/**
 * The gateway's route table: every request it answers, one entry each, in the order they
 * are matched. The server is built by walking it (server/gateway/door/pipeline.ts), so
 * each entry says everything the door needs: which methods and path, whether only the
 * app's own origin may ask, which per-client limits it counts against, the query and body
 * it accepts, what it may cost ElizaOS's budget, which kind of handler answers it, and why
 * the app needs it.
 *
 * The ElizaOS routes are the allowlist: the only requests of ElizaOS's API a browser may
 * make through the gateway. Anything else under /api is `not-served`, a JSON 404 that never
 * reaches ElizaOS: its admin API (agents started and deleted, memories wiped, the server's
 * `.env` read and rewritten, logs, uploads) stays out of reach. A route added to the app is
 * one entry here, added on purpose, with its reason.
 */
import type { UpstreamCost } from './budget/upstream-budget';
import { checkNewMessage, checkNewSession, exactly, UUID_SEGMENT, wholeNumberIn } from './door/checks';
import { parseSyncQuery, SYNC_PATH, type SyncQuery } from './edge/sync';
import { parsePushQuery, PUSH_PATH, type PushQuery } from './push/push';

/** Which per-client limits a route counts against (express-rate-limit, server/gateway/door/limits.ts). */
export type RouteLimit = 'api' | 'memories';

/**
 * Who answers a route:
 * - `own`: the gateway itself (a handler of the route's own name);
 * - `proxy`: ElizaOS, through the upstream client, the answer relayed with secrets dropped;
 * - `edge`: the shared edge, one upstream read per window for every user (server/gateway/edge/edge.ts);
 * - `chat-edge`: a session's chat from what the upstream socket heard, else `proxy` (server/gateway/edge/chat-edge.ts);
 * - `socket-send`: a message over the upstream socket, else `proxy` (server/gateway/upstream/socket-send.ts);
 * - `not-served`: the JSON 404 of every other /api path;
 * - `app`: the built app's files (server/gateway/door/static.ts).
 */
export type HandlerKind = 'own' | 'proxy' | 'edge' | 'chat-edge' | 'socket-send' | 'not-served' | 'app';

/** A query that is part of the allowlist: exactly these parameters, each once and valid, or the route is not served. */
export interface ExactQuery {
  kind: 'exact';
  params: Readonly<Record<string, (value: string) => boolean>>;
}

/** A query of the gateway's own: parsed, and a 400 with the parser's sentence when it is wrong. */
export interface ParsedQuery<Query> {
  kind: 'parsed';
  parse(params: URLSearchParams, headers: Readonly<Record<string, string | string[] | undefined>>): { query: Query } | { problem: string };
}

/**
 * The chat sessions a request names, each of which must be the asker's (server/gateway/people/ownership.ts):
 * `not-found`: else a 404 and nothing forwarded; `gone`: the handler is told which are not
 * (the sync route answers such a chat as gone, as when ElizaOS lost it).
 */
export interface Owned {
  sessions(ids: readonly string[], query: unknown): readonly string[];
  otherwise: 'not-found' | 'gone';
}

export interface Route {
  /** Unique; an `own` route's handler goes by it. */
  name: string;
  /** The methods it answers; `any` passes every method to the handler. */
  methods: readonly string[] | 'any';
  /** The whole path as sent (no decoding): a string matches exactly; a pattern's groups are ids it has checked. */
  path: string | RegExp;
  /** `same`: data, refused to other sites and origins (server/gateway/door/same-origin.ts). */
  origin: 'same' | 'any';
  limits: readonly RouteLimit[];
  /**
   * Whether the door learns who asks (server/gateway/people/people.ts): `person` for every
   * route whose answer or effect is someone's, `anyone` for what is the same for all.
   */
  who: 'person' | 'anyone';
  /** The sessions it names, each the asker's or not answered (requires `who: 'person'`). */
  owns?: Owned;
  /** What the query may hold; without it the query is not read. */
  query?: ExactQuery | ParsedQuery<unknown>;
  /** Checks a POST's parsed JSON body: a sentence saying what is wrong, or undefined. */
  body?: (body: unknown) => string | undefined;
  /** What one request of it costs ElizaOS's budget, when it goes upstream (server/gateway/budget/). */
  cost?: UpstreamCost;
  handler: HandlerKind;
  /**
   * The answer is the same for every user (the request carries nothing of the user: no
   * session, no body, and the server's key is the gateway's), so the edge may keep it and
   * read it upstream at most once per GATEWAY_CACHE_TTL for everyone. Only body-less GETs.
   */
  shared?: true;
  /** Off for an event stream: compression buffers, and a buffered event is a late one. */
  compress?: false;
  /** Why the app needs it. */
  why: string;
}

const GET = ['GET', 'HEAD'] as const;
/** The session a path names (its one id). */
const PATH_SESSION: Owned = { sessions: (ids) => ids.slice(0, 1), otherwise: 'not-found' };

export const ROUTES: readonly Route[] = [
  {
    name: 'config',
    methods: GET,
    path: '/config.json',
    origin: 'same',
    limits: [],
    who: 'anyone',
    handler: 'own',
    why: "the settings the worker applies over its defaults, from the gateway's environment (src/shared/config.ts)",
  },
  {
    name: 'liveness',
    methods: GET,
    path: '/healthz',
    origin: 'any',
    limits: [],
    who: 'anyone',
    handler: 'own',
    why: "the gateway's own liveness for a load balancer: it answers whatever ElizaOS does",
  },
  {
    name: 'health',
    methods: GET,
    path: '/health',
    origin: 'same',
    limits: [],
    who: 'anyone',
    handler: 'own',
    why: "the monitor panel and operators: ElizaOS's reachability, the edge, the budget, push, Redis",
  },
  {
    name: 'sync',
    methods: ['GET'],
    path: SYNC_PATH,
    origin: 'same',
    // It reads the memories: both limits count it, as they count a memories read.
    limits: ['api', 'memories'],
    who: 'person',
    owns: { sessions: (_ids, query) => ((query as SyncQuery).chat ? [(query as SyncQuery).chat!.session] : []), otherwise: 'gone' },
    query: { kind: 'parsed', parse: (params) => parseSyncQuery(params) },
    handler: 'own',
    why: "the worker's one-request delta sync of agents, memories and the open chat (server/gateway/edge/sync.ts)",
  },
  {
    name: 'push',
    methods: ['GET'],
    path: PUSH_PATH,
    origin: 'same',
    limits: ['api'],
    who: 'person',
    owns: { sessions: (_ids, query) => (query as PushQuery).sessions.map((session) => session.sessionId), otherwise: 'not-found' },
    query: { kind: 'parsed', parse: (params, headers) => parsePushQuery(params, headers['last-event-id']) },
    handler: 'own',
    compress: false,
    why: "the push stream of a browser's sessions: replies as they are heard (server/gateway/push/push.ts)",
  },
  {
    name: 'agents',
    methods: ['GET'],
    path: '/api/agents',
    origin: 'same',
    limits: ['api'],
    who: 'anyone',
    query: { kind: 'exact', params: {} },
    cost: 'shared-read',
    handler: 'edge',
    shared: true,
    why: 'the agent picker and the default agent (sw/sync.ts)',
  },
  {
    name: 'memories',
    methods: ['GET'],
    path: new RegExp(`^/api/agents/${UUID_SEGMENT}/memories$`),
    origin: 'same',
    limits: ['api', 'memories'],
    who: 'anyone',
    // Embeddings are large and of no use to a browser: the app never asks for them.
    query: { kind: 'exact', params: { tableName: exactly('messages'), includeEmbedding: exactly('false') } },
    cost: 'shared-read',
    handler: 'edge',
    shared: true,
    why: "the memories browser: the agent's conversations (sw/sync.ts)",
  },
  {
    name: 'create-session',
    methods: ['POST'],
    path: '/api/messaging/sessions',
    origin: 'same',
    limits: ['api'],
    who: 'person',
    query: { kind: 'exact', params: {} },
    body: checkNewSession,
    cost: 'message',
    handler: 'proxy',
    why: 'the chat: one session per agent, replaced when the server lost it (sw/chat.ts)',
  },
  {
    name: 'session-messages',
    methods: ['GET'],
    path: new RegExp(`^/api/messaging/sessions/${UUID_SEGMENT}/messages$`),
    origin: 'same',
    limits: ['api'],
    who: 'person',
    owns: PATH_SESSION,
    query: { kind: 'exact', params: { limit: wholeNumberIn(1, 100) } },
    cost: 'own-read',
    handler: 'chat-edge',
    why: 'the chat poll, and the check before a retry whether a message already arrived (sw/chat.ts)',
  },
  {
    name: 'send-message',
    methods: ['POST'],
    path: new RegExp(`^/api/messaging/sessions/${UUID_SEGMENT}/messages$`),
    origin: 'same',
    limits: ['api'],
    who: 'person',
    owns: PATH_SESSION,
    query: { kind: 'exact', params: {} },
    body: checkNewMessage,
    cost: 'message',
    handler: 'socket-send',
    why: 'the outbox: a typed message, with its client id in metadata (sw/chat.ts)',
  },
  {
    name: 'not-served',
    methods: 'any',
    // As Express mounted /api: any case, the path itself or under it.
    path: /^\/api(?:\/|$)/i,
    origin: 'same',
    limits: [],
    who: 'anyone',
    handler: 'not-served',
    why: "everything else under /api: ElizaOS's admin API stays out of reach",
  },
  {
    name: 'app',
    methods: 'any',
    path: /^\//,
    origin: 'any',
    limits: [],
    who: 'anyone',
    handler: 'app',
    why: 'the built app: the page, its assets, the service worker and the manifest',
  },
];

/** A request matched to its route: the ids its path pattern checked, and its raw query. */
export interface RouteMatch {
  route: Route;
  ids: readonly string[];
  search: string;
}

/**
 * The route of a request, first match in table order, or undefined. The raw path is
 * matched as sent (no decoding, no dot-segment folding), so `..`, `%2e` or a doubled
 * slash never matches an id pattern. The query is checked later, in the door's order.
 */
export function matchRoute(routes: readonly Route[], method: string, rawUrl: string): RouteMatch | undefined {
  const questionMark = rawUrl.indexOf('?');
  const path = questionMark < 0 ? rawUrl : rawUrl.slice(0, questionMark);
  const search = questionMark < 0 ? '' : rawUrl.slice(questionMark + 1);
  for (const route of routes) {
    if (route.methods !== 'any' && !route.methods.includes(method)) continue;
    if (typeof route.path === 'string') {
      if (route.path === path) return { route, ids: [], search };
      continue;
    }
    const found = route.path.exec(path);
    if (found) return { route, ids: found.slice(1), search };
  }
  return undefined;
}

/**
 * An exact query, checked: the path and query to send upstream, rebuilt from what was
 * checked (not copied), or undefined when a parameter is missing, unknown, repeated or invalid.
 */
export function checkExactQuery(query: ExactQuery, path: string, search: string): string | undefined {
  const params = new URLSearchParams(search);
  const names = [...params.keys()];
  // Exactly the parameters the app sends, each once: none missing, none added.
  if (new Set(names).size !== names.length || names.length !== Object.keys(query.params).length) return undefined;
  if (!names.every((name) => Object.hasOwn(query.params, name) && query.params[name]!(params.get(name)!))) return undefined;
  const canonical = new URLSearchParams(names.map((name): [string, string] => [name, params.get(name)!])).toString();
  return canonical ? `${path}?${canonical}` : path;
}

/** The ElizaOS routes: those a browser's request may reach ElizaOS by. */
export const ELIZA_ROUTES: readonly Route[] = ROUTES.filter((route) => route.cost !== undefined);

/**
 * The allowlisted ElizaOS route of a request and the path to send upstream, or undefined:
 * what the table lets through to ElizaOS (tests, and the e2e check of ElizaOS's own route list).
 */
export function matchElizaRoute(method: string, rawUrl: string): { route: Route; upstreamPath: string } | undefined {
  const matched = matchRoute(ELIZA_ROUTES, method, rawUrl);
  if (matched?.route.query?.kind !== 'exact') return undefined;
  const path = rawUrl.split('?')[0]!;
  const upstreamPath = checkExactQuery(matched.route.query, path, matched.search);
  return upstreamPath === undefined ? undefined : { route: matched.route, upstreamPath };
}
