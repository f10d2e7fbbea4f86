/**
 * One GET to ElizaOS for the edge, read whole into memory (at most GATEWAY_MAX_JSON_BYTES),
 * so its answer can be checked, kept and given to every browser that waited for it. The
 * request carries the same gateway headers as a forwarded one; a server that is down,
 * too slow or too large becomes the same 502/504 error the proxy gives.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { gatewayRequestHeaders } from './api-proxy';
import type { GatewayOptions } from '../options';

export type FailedRead = { kind: 'failed'; status: 502 | 504; code: string; message: string };
export type UpstreamRead = { kind: 'answer'; status: number; headers: IncomingHttpHeaders; body: Buffer } | FailedRead;

const UNAVAILABLE: FailedRead = {
  kind: 'failed',
  status: 502,
  code: 'UPSTREAM_UNAVAILABLE',
  message: "The agent's server isn't reachable right now. Purl will try again shortly.",
};

/**
 * Reads `path` (an allowlisted path and query) from the upstream on behalf of `client`,
 * conditional on `ifNoneMatch` when given (then a 304 may come back). Never rejects.
 * `method` POST is for the gateway's own body-less requests (a session's heartbeat).
 */
export function readUpstream(
  options: GatewayOptions,
  path: string,
  client: string,
  ifNoneMatch?: string,
  signal?: AbortSignal,
  method: 'GET' | 'POST' = 'GET',
): Promise<UpstreamRead> {
  const target = new URL(path, options.upstream);
  const transport = target.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const request = transport.request(target, {
      method,
      headers: { accept: 'application/json', ...gatewayRequestHeaders(options, client), ...(ifNoneMatch ? { 'if-none-match': ifNoneMatch } : {}) },
      timeout: options.upstreamTimeoutMs,
    });
    request.on('timeout', () => {
      resolve({ kind: 'failed', status: 504, code: 'UPSTREAM_TIMEOUT', message: "The agent's server took too long to answer. Purl will try again." });
      request.destroy();
    });
    request.on('error', () => resolve(UNAVAILABLE));
    // Everyone who waited for it left: nobody needs the answer (the caller answers them, if anyone).
    signal?.addEventListener('abort', () => {
      resolve({ ...UNAVAILABLE, code: 'UPSTREAM_ABANDONED', message: "The agent's server took too long to answer. Purl will try again." });
      request.destroy();
    });
    request.on('response', (answer) => {
      const chunks: Buffer[] = [];
      let size = 0;
      answer.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxJsonBytes) {
          resolve({
            kind: 'failed',
            status: 502,
            code: 'UPSTREAM_TOO_LARGE',
            message: `The agent's server sent an answer larger than ${options.maxJsonBytes} bytes, which the gateway does not pass on.`,
          });
          request.destroy();
          return;
        }
        chunks.push(chunk);
      });
      answer.on('error', () =>
        resolve({ ...UNAVAILABLE, code: 'UPSTREAM_BROKEN', message: "The agent's server stopped halfway through an answer. Purl will try again." }),
      );
      answer.on('end', () => resolve({ kind: 'answer', status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(chunks) }));
    });
    request.end();
  });
}
