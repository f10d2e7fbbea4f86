/**
 * Gives every client its own rate-limit bucket. ElizaOS limits `/api` to 1000 requests
 * per 15 minutes per `req.ip`, and its agent calls its own server over HTTP from
 * 127.0.0.1 (about three requests per reply). Without this middleware every client that
 * reaches the server from loopback, which is everyone behind Purl's gateway, shares the
 * agent's bucket, and once it is spent the agent silently stops replying.
 *
 * Runs through `ServerConfig.middlewares`, i.e. before the `/api` router and its limiter.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { isIP, isIPv4 } from 'node:net';
import type { NextFunction, Request, Response } from 'express';

/** Header in which the gateway proves itself with the shared secret. */
export const GATEWAY_SECRET_HEADER = 'x-purl-gateway';

/**
 * Identity of loopback requests that do not come from the gateway: the agent's calls to
 * its own server, and local tools. It is an IPv4 address (so express-rate-limit keys it
 * as is, with no IPv6 /56 masking) at the far end of 127.0.0.0/8, where no client of the
 * gateway connects from (local browsers and proxies use 127.0.0.1), and
 * {@link resolveClientIp} refuses it as a forwarded address. So no gateway client, not
 * even a browser on this machine whose forwarded address is 127.0.0.1, can share the
 * agent's bucket.
 */
export const INTERNAL_CLIENT_IP = '127.255.255.254';

/**
 * Identity of requests that prove to come from the gateway but carry no usable
 * `X-Forwarded-For`. A gateway bug must not spend the agent's budget, so this is a bucket
 * of its own rather than {@link INTERNAL_CLIENT_IP}.
 */
export const GATEWAY_UNKNOWN_CLIENT_IP = '127.255.255.253';

/**
 * Identity of a request whose socket has no peer address (the connection is already
 * gone); a valid IP keeps express-rate-limit from logging ERR_ERL_UNDEFINED_IP_ADDRESS.
 */
export const UNKNOWN_PEER_IP = '0.0.0.0';

const RESERVED_IPS: ReadonlySet<string> = new Set([INTERNAL_CLIENT_IP, GATEWAY_UNKNOWN_CLIENT_IP, UNKNOWN_PEER_IP]);

/**
 * Writes an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) as plain IPv4. The rate limiter
 * bundled in ElizaOS 1.7.2 (express-rate-limit before 8.2.2) masks every IPv6 address to
 * its /56, which would put all IPv4-mapped clients into one bucket (CVE-2026-30827).
 */
export function normalizeIp(address: string): string {
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:')) {
    const v4 = address.slice('::ffff:'.length);
    if (isIPv4(v4)) return v4;
  }
  return address;
}

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback(address: string): boolean {
  const normalized = normalizeIp(address);
  if (isIPv4(normalized)) return normalized.startsWith('127.');
  return normalized === '::1' || normalized === '0:0:0:0:0:0:0:1';
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Compares in constant time. Hashing first gives both sides the same length, as
 * `timingSafeEqual` requires, without revealing the secret's length.
 */
function isGatewaySecret(header: string | string[] | undefined, secret: string | undefined): boolean {
  if (secret === undefined || secret === '' || typeof header !== 'string') return false;
  return timingSafeEqual(sha256(header), sha256(secret));
}

/** The one client address in `X-Forwarded-For`, or undefined when there is not exactly one. */
function singleForwardedIp(header: string | string[] | undefined): string | undefined {
  // Node joins repeated X-Forwarded-For headers with ", ", so one string covers both cases.
  if (typeof header !== 'string') return undefined;
  const candidate = header.trim();
  if (isIP(candidate) === 0) return undefined;
  const normalized = normalizeIp(candidate);
  return RESERVED_IPS.has(normalized) || isInternalKey(normalized) ? undefined : normalized;
}

/** True for the addresses {@link internalKey} hands out (fd00:7075:726c::/48). */
function isInternalKey(address: string): boolean {
  return /^fd00:7075:726c:/i.test(address);
}

/** Input of {@link resolveClientIp}. */
export interface ClientIpInput {
  /** `req.socket.remoteAddress`: the address that really connected. */
  readonly peer: string | undefined;
  readonly headers: IncomingHttpHeaders;
  /** The secret shared with the gateway; without one no request is trusted. */
  readonly gatewaySecret: string | undefined;
}

/**
 * Decides the address a request is rate-limited under:
 * - from loopback with the right gateway secret → the single address in `X-Forwarded-For`
 *   (or {@link GATEWAY_UNKNOWN_CLIENT_IP} when that is missing, a list or garbage);
 * - from loopback otherwise → {@link INTERNAL_CLIENT_IP};
 * - from anywhere else → the peer address itself, headers ignored.
 */
export function resolveClientIp({ peer, headers, gatewaySecret }: ClientIpInput): string {
  if (peer === undefined || isIP(peer) === 0) return UNKNOWN_PEER_IP;
  if (!isLoopback(peer)) return normalizeIp(peer);
  if (!isGatewaySecret(headers[GATEWAY_SECRET_HEADER], gatewaySecret)) return INTERNAL_CLIENT_IP;
  return singleForwardedIp(headers['x-forwarded-for']) ?? GATEWAY_UNKNOWN_CLIENT_IP;
}

/**
 * The agent is not a client: it calls its own server about three times per reply, so one
 * bucket of 1000 per 15 minutes would cap the replies to every user together at about
 * 300 per quarter hour, after which the agent goes silent for everyone. ElizaOS 1.7's
 * limiter cannot be told to skip a request, so the agent's own calls are spread over
 * 256 internal keys: IPv6 addresses in the unique-local range, one per /56 (the limiter
 * keys IPv6 by /56). No client can reach these keys (clients are keyed by their real
 * address or the gateway's X-Forwarded-For, and forwarded addresses must be public or
 * loopback IPv4/IPv6 of a real peer), and together they allow 256,000 internal calls per
 * window while the store holds at most 256 entries for them.
 */
export const INTERNAL_KEY_COUNT = 256;

/** The internal key for the `n`-th internal request: fd00:7075:726c:XX00::1 with XX = n mod 256. */
export function internalKey(n: number): string {
  const slot = (((n % INTERNAL_KEY_COUNT) + INTERNAL_KEY_COUNT) % INTERNAL_KEY_COUNT).toString(16).padStart(2, '0');
  return `fd00:7075:726c:${slot}00::1`;
}

/** Options of {@link createClientIpMiddleware}. */
export interface ClientIpMiddlewareOptions {
  /** The gateway's secret; undefined or empty trusts nobody. */
  readonly gatewaySecret: string | undefined;
}

/**
 * Express middleware that sets `req.ip` to {@link resolveClientIp}'s answer, then removes
 * the gateway and forwarding headers: nothing downstream should see the secret, and
 * express-rate-limit logs ERR_ERL_UNEXPECTED_X_FORWARDED_FOR (or ERR_ERL_FORWARDED_HEADER)
 * when those headers arrive while `trust proxy` is off.
 */
export function createClientIpMiddleware({ gatewaySecret }: ClientIpMiddlewareOptions) {
  let internalCalls = 0;
  return (req: Request, _res: Response, next: NextFunction): void => {
    const resolved = resolveClientIp({ peer: req.socket.remoteAddress, headers: req.headers, gatewaySecret });
    const ip = resolved === INTERNAL_CLIENT_IP ? internalKey(internalCalls++) : resolved;
    // Express 5 defines `ip` as a getter on the request prototype; an own property shadows it
    // for this request only.
    Object.defineProperty(req, 'ip', { value: ip, configurable: true, enumerable: true });
    delete req.headers[GATEWAY_SECRET_HEADER];
    delete req.headers['x-forwarded-for'];
    delete req.headers.forwarded;
    next();
  };
}
