/**
 * The door: one walk over the route table (server/gateway/routes.ts) that every request
 * takes, in this order, each step written once:
 *   1. the Host check (DNS rebinding), for every request, the page included;
 *   2. the route, first match in the table;
 *   3. the origin check, for routes that are data (`origin: 'same'`);
 *   4. who asks, for routes that are someone's (`who: 'person'`): the gateway's identity of them;
 *   5. the per-client limits the route counts against;
 *   6. the query: an exact one is part of the allowlist (else a 404), a parsed one a 400 when wrong;
 *   7. ownership: each chat session the request names is the asker's, or it is not served;
 *   8. the body, when the route takes one: JSON within the size limit, then the route's check;
 *   9. the route's handler (whose upstream request goes through the budget and the upstream client).
 * Every refusal is one JSON error with a sentence (server/gateway/door/errors.ts).
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { HandlerKind, Route, RouteLimit } from '../routes';
import { checkExactQuery, matchRoute } from '../routes';
import type { Ownership } from '../people/ownership';
import type { People, Person } from '../people/people';
import { BodyError, readJsonBody } from './body';
import { sendError } from './errors';
import { refuseCrossOrigin, refuseForeignHost } from './same-origin';

/** A POST's body as read and checked: the bytes to send on, and their parsed value. */
export interface JsonBody {
  raw: Buffer;
  value: unknown;
}

/** One request on its way through the door, as a handler gets it. */
export interface Exchange<Query = unknown> {
  req: Request;
  res: Response;
  next: NextFunction;
  route: Route;
  /** Who asked: the address Express names (`trust proxy`), the key of every per-client count. */
  client: string;
  /** The ids the route's path pattern checked, in order. */
  ids: readonly string[];
  /** An exact query's path and query to send upstream (rebuilt from what was checked); else the path. */
  upstreamPath: string;
  /** A parsed query's value. */
  query: Query;
  /** Who asks, on a route that is someone's (`who: 'person'`). */
  person?: Person;
  /** The sessions the request names that are not the asker's, on a route that answers them as gone. */
  notOwned: ReadonlySet<string>;
  body?: JsonBody;
}

export type Handler = (exchange: Exchange) => void;

/** The handlers of one gateway: by kind, and the `own` routes by name. A route whose handler is absent is not served. */
export interface Handlers {
  kinds: Partial<Record<Exclude<HandlerKind, 'own'>, Handler>>;
  own: Partial<Record<string, Handler>>;
}

export interface DoorOptions {
  allowedHosts: readonly string[];
  people: People;
  ownership: Ownership;
  limits: Readonly<Record<RouteLimit, RequestHandler>>;
  maxBodyBytes: number;
}

const NOT_SERVED = "Purl's gateway doesn't serve this path: it passes on only the requests the Purl app makes.";
/** To someone whose session it is not: the same as for a session that does not exist. */
const NO_SUCH_SESSION = 'There is no such chat session. Purl starts a new one.';
const OWNER_UNKNOWN = "Purl cannot tell right now whose chat session this is, as the agent's server does not answer; it tries again shortly.";

/** The handler of a route in this gateway, or undefined when it has none (a part that is off). */
function handlerOf(route: Route, handlers: Handlers): Handler | undefined {
  return route.handler === 'own' ? handlers.own[route.name] : handlers.kinds[route.handler];
}

/** Runs the route's limits one after another, then `then`. */
function withinLimits(exchange: Pick<Exchange, 'req' | 'res' | 'next'>, limits: readonly RequestHandler[], then: () => void): void {
  const [first, ...rest] = limits;
  if (!first) {
    then();
    return;
  }
  first(exchange.req, exchange.res, (error?: unknown) => (error ? exchange.next(error) : withinLimits(exchange, rest, then)));
}

/** Step 6: the query; false when it was refused (the answer sent). */
function checkQuery(exchange: Exchange, search: string): boolean {
  const { route, req, res } = exchange;
  if (route.query?.kind === 'exact') {
    const upstreamPath = checkExactQuery(route.query, req.originalUrl.split('?')[0]!, search);
    if (upstreamPath === undefined) {
      sendError(res, 404, 'NOT_FOUND', NOT_SERVED);
      return false;
    }
    exchange.upstreamPath = upstreamPath;
  } else if (route.query?.kind === 'parsed') {
    const parsed = route.query.parse(new URLSearchParams(search), req.headers);
    if ('problem' in parsed) {
      sendError(res, 400, 'INVALID_QUERY', parsed.problem);
      return false;
    }
    exchange.query = parsed.query;
  }
  return true;
}

/** Step 7: the sessions the request names that are not the asker's; undefined when it was refused (the answer sent). */
async function checkOwnership(exchange: Exchange, ownership: Ownership): Promise<ReadonlySet<string> | undefined> {
  const { route, res, person } = exchange;
  const named = route.owns?.sessions(exchange.ids, exchange.query) ?? [];
  if (named.length === 0) return new Set();
  // A route that names sessions is someone's: without a person, none is theirs.
  const owned = person ? await Promise.all(named.map((sessionId) => ownership.of(sessionId, person.id, exchange.client))) : named.map(() => 'not-theirs');
  if (owned.includes('unknown')) {
    sendError(res, 503, 'OWNER_UNKNOWN', OWNER_UNKNOWN, { 'Retry-After': '5' });
    return undefined;
  }
  const notOwned = new Set(named.filter((_, index) => owned[index] !== 'theirs'));
  if (notOwned.size > 0 && route.owns?.otherwise === 'not-found') {
    sendError(res, 404, 'SESSION_NOT_FOUND', NO_SUCH_SESSION);
    return undefined;
  }
  return notOwned;
}

/** Step 8: the body, when the route takes one; then the handler. */
function readBodyThenHandle(exchange: Exchange, handler: Handler, maxBodyBytes: number): void {
  const { route, req, res } = exchange;
  const check = route.body;
  if (!check) {
    handler(exchange);
    return;
  }
  readJsonBody(req, maxBodyBytes)
    .then((body) => {
      const problem = check(body.value);
      if (problem) sendError(res, 400, 'INVALID_BODY', problem);
      else handler({ ...exchange, body });
    })
    .catch((error: unknown) => {
      if (!(error instanceof BodyError)) return exchange.next(error);
      res.setHeader('Connection', 'close');
      sendError(res, error.status, error.code, error.message);
    });
}

/** Steps 6 to 9, once the limits let the request through. */
function afterLimits(exchange: Exchange, handler: Handler, door: DoorOptions, search: string): void {
  if (!checkQuery(exchange, search)) return;
  // A route that names no session goes on at once: nothing to wait for.
  if (!exchange.route.owns) {
    readBodyThenHandle(exchange, handler, door.maxBodyBytes);
    return;
  }
  checkOwnership(exchange, door.ownership)
    .then((notOwned) => {
      if (!notOwned) return;
      exchange.notOwned = notOwned;
      readBodyThenHandle(exchange, handler, door.maxBodyBytes);
    })
    .catch(exchange.next);
}

/** The door as one Express handler over `routes`, answered by `handlers`. */
export function createPipeline(routes: readonly Route[], handlers: Handlers, door: DoorOptions): RequestHandler {
  const served = routes.filter((route) => handlerOf(route, handlers) !== undefined);
  return (req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    if (refuseForeignHost(req, res, door.allowedHosts)) return;
    const matched = matchRoute(served, req.method, req.originalUrl);
    if (!matched) return next();
    const { route } = matched;
    // Read when the answer starts (compression's filter), so an event stream goes uncompressed.
    res.locals['route'] = route;
    if (route.origin === 'same' && refuseCrossOrigin(req, res, req.protocol === 'https')) return;
    const exchange: Exchange = {
      req,
      res,
      next,
      route,
      client: req.ip ?? '',
      ids: matched.ids,
      upstreamPath: req.originalUrl.split('?')[0]!,
      query: undefined,
      notOwned: new Set(),
    };
    const handler = handlerOf(route, handlers)!;
    const limits = route.limits.map((limit) => door.limits[limit]);
    const limitThenHandle = () => withinLimits(exchange, limits, () => afterLimits(exchange, handler, door, matched.search));
    if (route.who === 'anyone') return limitThenHandle();
    door.people
      .identify(req, res, req.protocol === 'https')
      .then((person) => {
        exchange.person = person;
        limitThenHandle();
      })
      .catch(next);
  };
}

/** The not-served handler: the JSON 404 of every /api path the table does not name. */
export const notServed: Handler = ({ res }) => sendError(res, 404, 'NOT_FOUND', NOT_SERVED);
