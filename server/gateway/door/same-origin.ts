/**
 * The gateway answers only under its own names and, for data, only to its own origin.
 *
 * - `Host` must be an IP literal, `localhost` (or a name under `.localhost`), or a name
 *   the operator listed: a DNS-rebinding page (evil.example resolving to 127.0.0.1)
 *   arrives with its own name and is refused. IP literals are safe to allow, because
 *   rebinding needs a name (Vite's `server.allowedHosts` reasons the same way).
 * - Data routes (`/api`, `/health`, `/config.json`) refuse requests a browser marks as
 *   coming from another site or origin (`Origin`, `Sec-Fetch-Site`). Tools without those
 *   headers (curl) are still served: they cannot ride a user's browser.
 * - No `Access-Control-*` header is ever sent, so no other origin can read an answer.
 */
import net from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError } from './errors';

/** The host name of a Host header, lower-case, without port or IPv6 brackets; undefined if malformed. */
export function hostNameOf(hostHeader: string | undefined): string | undefined {
  if (!hostHeader) return undefined;
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]/@\s]+)(?::(\d{1,5}))?$/.exec(hostHeader.trim());
  if (!match) return undefined;
  return match[1]!
    .replace(/^\[|\]$/g, '')
    .toLowerCase()
    .replace(/\.$/, '');
}

export function isAllowedHost(hostHeader: string | undefined, allowedHosts: readonly string[]): boolean {
  const name = hostNameOf(hostHeader);
  if (name === undefined) return false;
  if (net.isIP(name) !== 0) return true;
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  return allowedHosts.includes(name);
}

/** The origin this request was addressed to, as a browser on this origin would name it. */
function ownOrigin(req: IncomingMessage, secure: boolean): string {
  return `${secure ? 'https' : 'http'}://${String(req.headers.host ?? '').toLowerCase()}`;
}

/** Why a browser's request for data must be refused, or undefined when it is the app's own. */
export function crossOriginReason(req: IncomingMessage, secure: boolean): string | undefined {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `Sec-Fetch-Site: ${String(site)}`;
  const origin = req.headers.origin;
  if (origin !== undefined && origin.toLowerCase() !== ownOrigin(req, secure)) return `Origin: ${origin}`;
  return undefined;
}

export const HOST_REFUSED = "This Purl gateway doesn't answer to that host name. If it is yours, add it to PURL_ALLOWED_HOSTS (comma-separated) and restart.";

/** Refuses requests under a foreign Host; returns true when it answered. */
export function refuseForeignHost(req: IncomingMessage, res: ServerResponse, allowedHosts: readonly string[]): boolean {
  if (isAllowedHost(req.headers.host, allowedHosts)) return false;
  sendError(res, 403, 'HOST_NOT_ALLOWED', HOST_REFUSED);
  return true;
}

/** Refuses a data request from another site or origin; returns true when it answered. */
export function refuseCrossOrigin(req: IncomingMessage, res: ServerResponse, secure: boolean): boolean {
  if (crossOriginReason(req, secure) === undefined) return false;
  sendError(res, 403, 'CROSS_ORIGIN', "Purl's gateway answers only its own app; requests from other sites are refused.");
  return true;
}
