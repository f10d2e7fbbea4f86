/**
 * The handlers the route table names (server/gateway/routes.ts `HandlerKind`), made over a
 * gateway's parts. Each answers one exchange that the door has already let through (host,
 * origin, limits, query, body); what goes upstream is counted and kept within ElizaOS's
 * budget here, at the one place a request leaves (`forward`), or by the edge for shared reads.
 */
import { checkAnswer } from '../../src/shared/api';
import { EDGE_HEADER } from '../../src/shared/budget';
import { isRecord } from '../../src/shared/ids';
import type { Exchange, Handler, Handlers, JsonBody } from './door/pipeline';
import { notServed } from './door/pipeline';
import { serveApp } from './door/static';
import type { GatewayOptions } from './options';
import type { Parts } from './parts';
import { withPushToken } from './push/push-token';
import type { SyncQuery } from './edge/sync';
import type { PushQuery } from './push/push';
import type { AddToAnswer } from './upstream/api-proxy';
import { writeBudgetStanding, writeUpstreamBudget } from './upstream/rate-limit-headers';

/**
 * Sends the exchange upstream within the budget, its body as read. `leaving` runs once the
 * budget lets it go, and says what the gateway adds to the answer.
 */
function forwarder(parts: Parts): (exchange: Exchange, leaving?: () => AddToAnswer | undefined) => void {
  const { proxy } = parts;
  // The budget's steps (the user counted, admission, spending, settling) are the upstream client's (upstream/client.ts).
  return ({ req, res, route, client, upstreamPath, body }, leaving) =>
    proxy.forward(req, res, {
      cost: route.cost ?? 'own-read',
      path: upstreamPath,
      client,
      ...(body ? { body: body.raw } : {}),
      ...(leaving ? { admitted: leaving } : {}),
    });
}

/**
 * A create-session request as it goes upstream: its userId is the asker's person, never what
 * the browser said (the door knows who asks; the body check let only a session's fields through).
 */
function forPerson(exchange: Exchange): Exchange {
  const { body, person } = exchange;
  if (!body || !person || !isRecord(body.value)) return exchange;
  const value = { ...body.value, userId: person.id };
  return { ...exchange, body: { value, raw: Buffer.from(JSON.stringify(value)) } };
}

/** Answers a chat read from what the gateway heard: nothing spent upstream, so nothing of the upstream's budget binds it. */
function answerHeard(parts: Parts, { res, client }: Exchange, json: string): void {
  const now = parts.clock.now();
  res.setHeader(EDGE_HEADER, 'chat');
  res.setHeader('Cache-Control', 'no-store');
  if (parts.budget.shared) writeUpstreamBudget(parts.budget.last(now), res, now);
  writeBudgetStanding(parts.budget, client, res, now);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.writeHead(200);
  res.end(json);
}

/** The handlers of ElizaOS's routes: each answered by ElizaOS, unless a part of the gateway can answer for it. */
function elizaHandlers(options: GatewayOptions, parts: Parts): Handlers['kinds'] {
  const { budget, edge, socket, clock, book } = parts;
  const forward = forwarder(parts);
  return {
    // A session is made for the person asking, whatever the body says; the answer gains its push token, and the book learns the session.
    proxy: (exchange) => {
      const pushKey = options.pushKey;
      const made = forPerson(exchange);
      forward(made, () => (status, answer) => {
        book.learn(made.body?.value, status, answer, made.client);
        return pushKey && socket ? withPushToken(pushKey, status, answer) : undefined;
      });
    },
    edge: (exchange) => {
      if (!(options.edgeTtlMs > 0 && exchange.route.shared)) return forward(exchange);
      const { req, res, client, upstreamPath } = exchange;
      const pathname = upstreamPath.split('?')[0]!;
      writeBudgetStanding(budget, client, res, clock.now());
      edge.serve(req, res, { path: upstreamPath, client, check: (body) => checkAnswer('GET', pathname, body) });
    },
    'chat-edge': (exchange) => {
      const sessionId = exchange.ids[0]!;
      const chatEdge = socket?.chatEdge;
      if (!chatEdge) return forward(exchange);
      const limit = Number(new URLSearchParams(exchange.upstreamPath.split('?')[1]).get('limit'));
      const heard = chatEdge.answer(sessionId, limit);
      if (heard !== undefined) return answerHeard(parts, exchange, heard);
      forward(exchange, () => {
        const read = chatEdge.reading(sessionId);
        return (status, answer) => {
          read(status, answer);
          return undefined;
        };
      });
    },
    'socket-send': (exchange) => {
      const sessionId = exchange.ids[0]!;
      if (!socket) return forward(exchange);
      const { sender, chatEdge } = socket;
      const body = exchange.body as JsonBody;
      // Over the socket it costs ElizaOS's HTTP budget nothing: neither counted nor kept back by it.
      sender
        .trySend(sessionId, body.value, exchange.res)
        .then((sent) => {
          if (sent) return;
          forward(exchange, () => {
            sender.sentOverRest(sessionId);
            // ElizaOS's 201 is the only word the gateway gets of a REST message: the chat edge keeps it.
            const posted = chatEdge.posting(sessionId);
            if (posted) exchange.res.on('close', posted.ended);
            return (status, answer) => {
              sender.learnFromMessage(sessionId, status, answer, exchange.client);
              posted?.answered(status, answer);
              return undefined;
            };
          });
        })
        .catch(exchange.next);
    },
  };
}

/** The gateway's own routes, by name. */
function ownHandlers(options: GatewayOptions, parts: Parts): Handlers['own'] {
  const { budget, edge, sync, socket, health, redis, clock, people } = parts;
  const clientConfig = JSON.stringify(options.clientConfig);
  const own: Handlers['own'] = {
    config: ({ res }) => {
      res.setHeader('Cache-Control', 'no-cache');
      res.type('application/json').send(clientConfig);
    },
    liveness: ({ res }) => {
      res.json({ ok: true });
    },
    health: ({ res, next }) => {
      health
        .report()
        .then((report) => {
          res.setHeader('Cache-Control', 'no-store');
          res.json({
            ...report,
            edge: { ...edge.stats(), ...(sync ? { sync: sync.stats() } : {}) },
            ...(budget.shared ? { budget: budget.stats(clock.now()) } : {}),
            ...(socket ? { push: { ...socket.push.stats(), ...socket.sender.stats(), ...socket.chatEdge.stats() } } : {}),
            ...(redis ? { redis: redis.stats() } : {}),
            people: people.stats(),
            ...(options.instanceName ? { instance: options.instanceName } : {}),
          });
        })
        .catch(next);
    },
  };
  if (sync) {
    own['sync'] = ({ req, res, query, client, notOwned }) => {
      const asked = query as SyncQuery;
      const theirs = asked.chat && notOwned.has(asked.chat.session) ? { ...asked, chat: { ...asked.chat, notTheirs: true as const } } : asked;
      sync.serve(req, res, theirs, client);
    };
  }
  if (socket) own['push'] = ({ req, res, query, client }) => socket.push.serve(req, res, query as PushQuery, client);
  return own;
}

/** Every handler of a gateway with these options and parts. */
export function makeHandlers(options: GatewayOptions, parts: Parts): Handlers {
  const [files, page] = serveApp(options.distDir);
  const app: Handler = ({ req, res, next }) => files!(req, res, () => page!(req, res, next));
  return { kinds: { ...elizaHandlers(options, parts), 'not-served': notServed, app }, own: ownHandlers(options, parts) };
}
