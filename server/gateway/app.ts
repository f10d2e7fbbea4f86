/**
 * The gateway: one origin for the app, its configuration and the agent's API.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import compression from 'compression';
import express from 'express';
import { createApiProxy } from './api-proxy';
import type { GatewayOptions } from './options';
import { serveApp } from './static';

export interface Gateway {
  /** The URL the gateway answers on, once listening. */
  url: string;
  close(): Promise<void>;
}

const isProxied = (url: string | undefined): boolean => /^\/(api|socket\.io)(\/|$|\?)/.test(url ?? '');

export function createGatewayServer(options: GatewayOptions): { server: http.Server; close: () => void } {
  const proxy = createApiProxy(options);
  const app = express();
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  });
  app.use(compression());
  const clientConfig = JSON.stringify(options.clientConfig);
  app.get('/config.json', (_req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.type('application/json').send(clientConfig);
  });
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.use((req, res, next) => (isProxied(req.url) ? proxy.web(req, res) : next()));
  app.use(serveApp(options.distDir));
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('Not found.');
  });

  const server = http.createServer(app);
  server.on('upgrade', (req, socket, head) => {
    if (isProxied(req.url)) proxy.upgrade(req, socket, head);
    else socket.destroy();
  });
  return { server, close: () => proxy.close() };
}

/** Starts the gateway and resolves once it listens. */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { server, close } = createGatewayServer(options);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
