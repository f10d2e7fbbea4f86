/**
 * A fault proxy of Purl's own, between the gateway and the real ElizaOS: it passes
 * everything through, logs each request with its start and end time, and injects one
 * fault at a time on demand — things a real server cannot be asked to do.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import httpProxy from 'http-proxy';

export type Fault =
  | { kind: 'none' }
  /** Answer with this status, headers and body instead of asking ElizaOS. */
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /** Drop the connection without an answer. */
  | { kind: 'reset' }
  /** Never answer. */
  | { kind: 'hang' };

export interface LoggedRequest {
  method: string;
  path: string;
  startedAt: number;
  endedAt?: number;
  /** The status sent back, or 0 for a reset or hang. */
  status?: number;
}

export interface FaultProxy {
  url: string;
  log: LoggedRequest[];
  /** Requests to /api only (Socket.IO and health checks left out). */
  apiRequests(): LoggedRequest[];
  /** Sets the fault for every following request; `times` limits it to that many requests. */
  inject(fault: Fault, times?: number): void;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const proxy = httpProxy.createProxyServer({ target, changeOrigin: true });
  const log: LoggedRequest[] = [];
  let fault: Fault = { kind: 'none' };
  let remaining = Infinity;
  const hanging = new Set<http.ServerResponse>();

  proxy.on('error', (_error, _req, res) => {
    if ('writeHead' in res && !res.headersSent) {
      res.writeHead(502);
      res.end();
    }
  });

  const server = http.createServer((req, res) => {
    const entry: LoggedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', startedAt: Date.now() };
    log.push(entry);
    res.on('finish', () => {
      entry.endedAt = Date.now();
      entry.status = res.statusCode;
    });
    res.on('close', () => {
      entry.endedAt ??= Date.now();
      entry.status ??= 0;
    });
    const active = req.url?.startsWith('/api/') && remaining > 0 ? fault : ({ kind: 'none' } as Fault);
    if (active.kind !== 'none') remaining -= 1;
    switch (active.kind) {
      case 'none':
        proxy.web(req, res);
        return;
      case 'status':
        res.writeHead(active.status, { 'Content-Type': 'application/json', ...active.headers });
        res.end(active.body ?? JSON.stringify({ success: false, error: { code: 'INJECTED', message: 'Injected by the fault proxy' } }));
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'hang':
        hanging.add(res);
        return;
    }
  });
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
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        proxy.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
