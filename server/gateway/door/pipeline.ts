/**
 * The door: one walk over the route table (server/gateway/routes.ts) that every request
 * takes, in this order, each step written once:
 *   1. the Host check (DNS rebinding), for every request, the page included;
 *   2. the route, first match in the table;
 *   3. the origin check, for routes that are data (`origin: 'same'`);
 *   4. the per-client limits the route counts against;
 *   5. the query: an exact one is part of the allowlist (else a 404), a parsed one a 400 when wrong;
 *   6. the body, when the route takes one: JSON within the size limit, then the route's check;
 *   7. the route's handler (whose upstream request goes through the budget and the upstream client).
 * Every refusal is one JSON error with a sentence (server/gateway/door/errors.ts).
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { HandlerKind, Route, RouteLimit } from '../routes';
import { checkExactQuery, matchRoute } from '../routes';
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
  limits: Readonly<Record<RouteLimit, RequestHandler>>;
  maxBodyBytes: number;
}

const NOT_SERVED = "Purl's gateway doesn't serve this path: it passes on only the requests the Purl app makes.";

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

/** Steps 5 and 6: the query and the body, then the handler. */
function checkThenHandle(exchange: Exchange, handler: Handler, maxBodyBytes: number, search: string): void {
  const { route, req, res } = exchange;
  const path = req.originalUrl.split('?')[0]!;
  if (route.query?.kind === 'exact') {
    const upstreamPath = checkExactQuery(route.query, path, search);
    if (upstreamPath === undefined) {
      sendError(res, 404, 'NOT_FOUND', NOT_SERVED);
      return;
    }
    exchange.upstreamPath = upstreamPath;
  } else if (route.query?.kind === 'parsed') {
    const parsed = route.query.parse(new URLSearchParams(search), req.headers);
    if ('problem' in parsed) {
      sendError(res, 400, 'INVALID_QUERY', parsed.problem);
      return;
    }
    exchange.query = parsed.query;
  }
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
    };
    const handler = handlerOf(route, handlers)!;
    withinLimits(
      exchange,
      route.limits.map((limit) => door.limits[limit]),
      () => checkThenHandle(exchange, handler, door.maxBodyBytes, matched.search),
    );
  };
}

/** The not-served handler: the JSON 404 of every /api path the table does not name. */
export const notServed: Handler = ({ res }) => sendError(res, 404, 'NOT_FOUND', NOT_SERVED);
