/**
 * Per-client limits at the gateway (express-rate-limit, one-minute windows): every API
 * request counts against API_RATE_LIMIT_REQUESTS, memories reads also against
 * MEMORY_API_RATE_LIMIT_REQUESTS. The client is `req.ip`: the socket's address, or the
 * X-Forwarded-For of a proxy listed in TRUST_PROXY (express's `trust proxy`). Answers
 * carry draft-8 `RateLimit` / `RateLimit-Policy` members and, on 429, `Retry-After` and a
 * sentence, which the service worker already obeys.
 */
import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { sendError } from './errors';

export const API_POLICY = 'purl-api';
export const MEMORIES_POLICY = 'purl-memories';

export interface GatewayLimits {
  api: RequestHandler;
  memories: RequestHandler;
}

function limiter(policy: string, perMinute: number, what: string): RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    identifier: policy,
    // A forged X-Forwarded-For from an untrusted client is expected and ignored
    // (req.ip is the socket's address then); it is not a misconfiguration to log.
    validate: { xForwardedForHeader: false, forwardedHeader: false },
    handler: (_req, res, _next, options) => {
      const retryAfter = String(res.getHeader('Retry-After') ?? Math.ceil(options.windowMs / 1000));
      sendError(
        res,
        options.statusCode,
        'RATE_LIMITED',
        `Too many ${what} from this address: at most ${perMinute} a minute. Purl waits ${retryAfter} s and goes on by itself.`,
        { 'Retry-After': retryAfter },
      );
    },
  });
}

export function createLimits(apiPerMinute: number, memoriesPerMinute: number): GatewayLimits {
  return {
    api: limiter(API_POLICY, apiPerMinute, 'requests'),
    memories: limiter(MEMORIES_POLICY, memoriesPerMinute, 'memories reads'),
  };
}
