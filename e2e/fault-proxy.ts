/**
 * A fault proxy of Purl's own, between the gateway and the real ElizaOS: it passes
 * everything through, logs each request with its start and end time, and injects one
 * fault at a time on demand — things a real server cannot be asked to do.
 *
 * A fault hits every /api request (or only those its `only` picks); Socket.IO and anything
 * else always pass (its WebSockets too, which `cutSockets` cuts or refuses on demand),
 * except ElizaOS's `/healthz` when the fault is a dead server (a reset or a hang that never
 * reaches ElizaOS, or `health: true`): a dead server is dead on every path, so the
 * gateway's own health check sees the outage too. With `forward`, the request first reaches ElizaOS, which
 * acts on it (a posted message is stored), and only its answer is replaced or lost:
 * the case where a client must not send again blindly.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

/** What a fault sees of a request. */
export interface RequestInfo {
  method: string;
  /** Path and query, as sent. */
  path: string;
}

/** ElizaOS's answer, as a `rewrite` fault receives and returns it. */
export interface UpstreamAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

type Headers = Record<string, string>;

export type Fault = {
  /** Only these requests get the fault; the others pass through. Default: every /api request. */
  only?: (request: RequestInfo) => boolean;
  /**
   * Whether ElizaOS's `/healthz` gets the fault too. Default: yes for a dead server (a
   * `reset` or `hang` without `forward`, and no `only`), no otherwise.
   */
  health?: boolean;
} & (
  | { kind: 'none' }
  /** Answer with this status, headers and body instead of ElizaOS's answer (`headers` may be made per request). */
  | { kind: 'status'; status: number; headers?: Headers | (() => Headers); body?: string | Buffer; forward?: boolean }
  /** Drop the connection without an answer. */
  | { kind: 'reset'; forward?: boolean }
  /** Never answer (until the client gives up). */
  | { kind: 'hang'; forward?: boolean }
  /** ElizaOS's real answer, its status and headers at once and then its body `bytes` at a time every `everyMs`. */
  | { kind: 'trickle'; bytes: number; everyMs: number }
  /** ElizaOS's real answer, changed on the way. */
  | { kind: 'rewrite'; rewrite: (answer: UpstreamAnswer, request: RequestInfo) => UpstreamAnswer }
);

export interface LoggedRequest {
  method: string;
  path: string;
  startedAt: number;
  endedAt?: number;
  /** The status sent back, or 0 for a reset or hang. */
  status?: number;
  /** The fault this request got, if any. */
  fault?: Fault['kind'];
  /** When ElizaOS answered a request the fault forwarded (its answer then replaced, held or dropped). */
  upstreamAnsweredAt?: number;
}

export interface FaultProxy {
  url: string;
  log: LoggedRequest[];
  /** Requests to /api only (Socket.IO and health checks left out). */
  apiRequests(): LoggedRequest[];
  /** Sets the fault for every following request; `times` limits it to that many requests. */
  inject(fault: Fault, times?: number): void;
  /** Requests held open by a 'hang' fault right now. */
  holding(): number;
  /** Cuts every WebSocket passing through; with `refuse`, new ones are refused until called again without. */
  cutSockets(refuse: boolean): void;
  close(): Promise<void>;
}

const NONE: Fault = { kind: 'none' };
/** ElizaOS's health check, outside its /api rate limit. */
const HEALTH_PATH = '/healthz';

export interface FaultProxyOptions {
  /**
   * The client address to name in `X-Forwarded-For` instead of the gateway's, so the
   * requests through this proxy get a rate-limit bucket of their own at ElizaOS (the
   * gateway's secret header still passes, so ElizaOS trusts it).
   */
  clientAddress?: string;
}

/** Whether `fault` also hits ElizaOS's `/healthz` (see {@link Fault.health}). */
export function hitsHealth(fault: Fault): boolean {
  if (fault.health !== undefined) return fault.health;
  return (fault.kind === 'reset' || fault.kind === 'hang') && !fault.forward && !fault.only;
}

/** Health checks (`/healthz`) that reached the proxy within [from, to), epoch ms. */
export function countHealthChecks(proxy: FaultProxy, from: number, to: number): number {
  return proxy.log.filter((entry) => entry.path === HEALTH_PATH && entry.startedAt >= from && entry.startedAt < to).length;
}

/** API requests that reached the proxy within [from, to), epoch ms. */
export function countApiRequests(proxy: FaultProxy, from: number, to: number): number {
  return proxy.apiRequests().filter((entry) => entry.startedAt >= from && entry.startedAt < to).length;
}

export async function startFaultProxy(target: string, options: FaultProxyOptions = {}): Promise<FaultProxy> {
  const upstream = new URL(target);
  const log: LoggedRequest[] = [];
  let fault: Fault = NONE;
  let remaining = Infinity;
  const hanging = new Set<http.ServerResponse>();
  const headersTo = (req: http.IncomingMessage) => ({ ...req.headers, host: upstream.host });

  /** Passes a request through untouched, its answer streamed back as it comes; a failure upstream is a 502. */
  function passThrough(req: http.IncomingMessage, res: http.ServerResponse): void {
    const outgoing = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: headersTo(req) }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    outgoing.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) outgoing.destroy();
    });
    req.pipe(outgoing);
  }

  /** Passes a WebSocket upgrade through: the request as it came (to ElizaOS's host), then bytes both ways. */
  function tunnel(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const onward = net.connect(Number(upstream.port), upstream.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i] ?? '';
        lines.push(`${name}: ${name.toLowerCase() === 'host' ? upstream.host : req.rawHeaders[i + 1]}`);
      }
      onward.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) onward.write(head);
      socket.pipe(onward).pipe(socket);
    });
    const end = () => {
      onward.destroy();
      socket.destroy();
    };
    onward.on('error', end).on('close', end);
    socket.on('error', end).on('close', end);
  }

  /** Sends the request to ElizaOS and collects the whole answer. */
  function askUpstream(req: http.IncomingMessage): Promise<UpstreamAnswer> {
    return new Promise((resolve, reject) => {
      const outgoing = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: headersTo(req) }, (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('error', reject);
        answer.on('end', () => resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(chunks) }));
      });
      outgoing.on('error', reject);
      req.pipe(outgoing);
    });
  }

  /** Copies an answer's headers, with its length made to fit `body`. */
  function headersFor(answer: UpstreamAnswer, body: Buffer): http.OutgoingHttpHeaders {
    const headers: http.OutgoingHttpHeaders = { ...answer.headers, 'content-length': String(body.length) };
    delete headers['transfer-encoding'];
    delete headers['connection'];
    delete headers['keep-alive'];
    return headers;
  }

  function hang(res: http.ServerResponse): void {
    hanging.add(res);
    res.on('close', () => hanging.delete(res));
  }

  function trickle(res: http.ServerResponse, answer: UpstreamAnswer, bytes: number, everyMs: number): void {
    res.writeHead(answer.status, headersFor(answer, answer.body));
    let offset = 0;
    const timer = setInterval(() => {
      res.write(answer.body.subarray(offset, offset + bytes));
      offset += bytes;
      if (offset >= answer.body.length) {
        clearInterval(timer);
        res.end();
      }
    }, everyMs);
    res.on('close', () => clearInterval(timer));
  }

  async function applyFault(
    active: Exclude<Fault, { kind: 'none' }>,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    entry: LoggedRequest,
  ): Promise<void> {
    const ask = async (request: http.IncomingMessage) => {
      const answer = await askUpstream(request);
      entry.upstreamAnsweredAt = Date.now();
      return answer;
    };
    switch (active.kind) {
      case 'status': {
        if (active.forward) await ask(req);
        const headers = typeof active.headers === 'function' ? active.headers() : active.headers;
        res.writeHead(active.status, { 'Content-Type': 'application/json', ...headers });
        res.end(active.body ?? JSON.stringify({ success: false, error: { code: 'INJECTED', message: 'Injected by the fault proxy' } }));
        return;
      }
      case 'reset':
        if (active.forward) await ask(req);
        req.socket.destroy();
        return;
      case 'hang':
        hang(res);
        if (active.forward) await ask(req);
        return;
      case 'trickle':
        trickle(res, await ask(req), active.bytes, active.everyMs);
        return;
      case 'rewrite': {
        // A whole answer to rewrite, not a 304; and no validator on the rewritten one, or
        // the browser's HTTP cache would serve it again for ElizaOS's next 304.
        delete req.headers['if-none-match'];
        delete req.headers['if-modified-since'];
        const answer = active.rewrite(await ask(req), { method: entry.method, path: entry.path });
        const headers = headersFor(answer, answer.body);
        delete headers['etag'];
        delete headers['last-modified'];
        res.writeHead(answer.status, headers);
        res.end(answer.body);
        return;
      }
    }
  }

  const server = http.createServer((req, res) => {
    if (options.clientAddress) req.headers['x-forwarded-for'] = options.clientAddress;
    const info: RequestInfo = { method: req.method ?? 'GET', path: req.url ?? '/' };
    const entry: LoggedRequest = { ...info, startedAt: Date.now() };
    log.push(entry);
    res.on('finish', () => {
      entry.endedAt = Date.now();
      entry.status = res.statusCode;
    });
    res.on('close', () => {
      entry.endedAt ??= Date.now();
      entry.status ??= 0;
    });
    const isHealth = info.path.split('?')[0] === HEALTH_PATH;
    const isTarget = isHealth ? hitsHealth(fault) : info.path.startsWith('/api/') && (fault.only?.(info) ?? true);
    const hits = isTarget && remaining > 0 && fault.kind !== 'none';
    if (!hits || fault.kind === 'none') {
      passThrough(req, res);
      return;
    }
    // A health check does not use up a fault limited to `times` API requests.
    if (!isHealth) remaining -= 1;
    entry.fault = fault.kind;
    applyFault(fault, req, res, entry).catch(() => {
      // ElizaOS itself failed while we forwarded: answer as a proxy would.
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
  });
  // WebSockets (the gateway's Socket.IO connection to ElizaOS) pass through, as through any
  // reverse proxy, unless a test cuts or refuses them.
  const sockets = new Set<Duplex>();
  let refuseSockets = false;
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    log.push({ method: req.method ?? 'GET', path: req.url ?? '/', startedAt: Date.now() });
    if (refuseSockets) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    tunnel(req, socket, head);
  });
  const cutSockets = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    apiRequests: () => log.filter((entry) => entry.path.startsWith('/api/')),
    inject(next, times = Infinity) {
      fault = next;
      remaining = times;
    },
    holding: () => hanging.size,
    cutSockets(refuse) {
      refuseSockets = refuse;
      cutSockets();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        cutSockets();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
