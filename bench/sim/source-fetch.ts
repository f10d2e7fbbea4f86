/**
 * fetch from a chosen loopback source address (127.0.0.x), so the gateway sees each
 * simulated browser as its own client, as it would see real users on their own
 * addresses. Connections are kept alive per browser, as a browser would, and so are its
 * cookies (the gateway's identity cookie: each simulated browser is a person of its own).
 */
import type { Socket } from 'node:net';
import { parseSetCookie } from 'cookie';
import { Agent, buildConnector, fetch as undiciFetch } from 'undici';

export type SourceFetch = (request: Request, init?: { signal?: AbortSignal }) => Promise<Response>;

/** Bytes on this browser's connections so far, as they crossed the socket (headers and compressed bodies). */
export interface WireBytes {
  received: number;
  sent: number;
}

export interface SourceFetchHandle {
  fetch: SourceFetch;
  /** Everything received and sent on this browser's connections since it was made. */
  wire(): WireBytes;
  close: () => Promise<void>;
}

/**
 * Counts the bytes of every socket a connector opens: the live ones as they stand,
 * the closed ones as they ended.
 */
function countingConnector(): { connect: buildConnector.connector; wire(): WireBytes } {
  const base = buildConnector({});
  const live = new Set<Socket>();
  const closed: WireBytes = { received: 0, sent: 0 };
  const connect: buildConnector.connector = (options, callback) =>
    base(options, (error, socket) => {
      if (socket) {
        const counted = socket as Socket;
        live.add(counted);
        counted.once('close', () => {
          live.delete(counted);
          closed.received += counted.bytesRead;
          closed.sent += counted.bytesWritten;
        });
      }
      // undici's callback takes (error, null) or (null, socket).
      if (error) callback(error, null);
      else callback(null, socket!);
    });
  const wire = (): WireBytes => {
    let { received, sent } = closed;
    for (const socket of live) {
      received += socket.bytesRead;
      sent += socket.bytesWritten;
    }
    return { received, sent };
  };
  return { connect, wire };
}

export function fetchFrom(localAddress: string | undefined): SourceFetchHandle {
  const counter = countingConnector();
  // undici takes localAddress at the top level of the Agent's options; inside `connect`
  // it is silently ignored (every request would leave from 127.0.0.1). The connector
  // gets it from there with every connection.
  const dispatcher = new Agent({ ...(localAddress ? { localAddress } : {}), keepAliveTimeout: 30_000, connections: 6, connect: counter.connect });
  /** This browser's cookies, by name, as the answers set them. */
  const cookies = new Map<string, string>();
  const fetch: SourceFetch = async (request, init) => {
    const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.arrayBuffer();
    const headers = [...request.headers];
    if (cookies.size > 0) headers.push(['cookie', [...cookies].map(([name, value]) => `${name}=${value}`).join('; ')]);
    const response = await undiciFetch(request.url, {
      method: request.method,
      headers,
      body,
      signal: init?.signal ?? null,
      dispatcher,
    });
    for (const set of response.headers.getSetCookie()) {
      const { name, value } = parseSetCookie(set);
      if (name) cookies.set(name, value ?? '');
    }
    // undici's Response is its own class; hand the core a standard one.
    const hasBody = ![101, 204, 205, 304].includes(response.status);
    return new Response(hasBody ? (response.body as ReadableStream | null) : null, {
      status: response.status,
      statusText: response.statusText,
      headers: [...response.headers],
    });
  };
  return { fetch, wire: counter.wire, close: () => dispatcher.close() };
}

/** The loopback address of simulated user `index` (0-based): 127.0.1.1, 127.0.1.2, … */
export function loopbackAddress(index: number): string {
  return `127.0.${1 + Math.floor(index / 250)}.${1 + (index % 250)}`;
}
