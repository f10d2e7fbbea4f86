/**
 * The gateway: one origin for the app, its configuration and the agent's API, locked to
 * what the app uses. Wiring only: the parts (server/gateway/parts.ts), their handlers
 * (server/gateway/handlers.ts) and the route table (server/gateway/routes.ts), walked by
 * the door (server/gateway/door/pipeline.ts) in one order for every request: host, route,
 * origin, limits, query, body, handler.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import compression from 'compression';
import express from 'express';
import { createPipeline } from './door/pipeline';
import { makeHandlers } from './handlers';
import type { GatewayOptions } from './options';
import { type GatewayParts, makeParts } from './parts';
import { type Route, ROUTES } from './routes';

export type { GatewayParts } from './parts';

export interface Gateway {
  /** The URL the gateway answers on, once listening. */
  url: string;
  close(): Promise<void>;
}

export function createGatewayServer(options: GatewayOptions, given: GatewayParts = {}): { server: http.Server; close: () => void } {
  const parts = makeParts(options, given);
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', options.trustProxy);
  // The door names the route before any answer starts; a route may refuse compression (an event stream).
  app.use(compression({ filter: (req, res) => (res.locals['route'] as Route | undefined)?.compress !== false && compression.filter(req, res) }));
  app.use(
    createPipeline(ROUTES, makeHandlers(options, parts), {
      allowedHosts: options.allowedHosts,
      people: parts.people,
      ownership: parts.ownership,
      limits: parts.limits,
      maxBodyBytes: options.maxBodyBytes,
    }),
  );
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('Not found.');
  });

  const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, app) : http.createServer(app);
  // The push route is Server-Sent Events, not a WebSocket: every upgrade is refused, so
  // ElizaOS's Socket.IO is not reachable through the gateway (only its own socket uses it).
  server.on('upgrade', (_req, socket) => {
    socket.on('error', () => socket.destroy());
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  return { server, close: parts.close };
}

/** Starts the gateway and resolves once it listens. */
export async function startGateway(options: GatewayOptions, parts: GatewayParts = {}): Promise<Gateway> {
  const { server, close } = createGatewayServer(options, parts);
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
    url: `${options.tls ? 'https' : 'http'}://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
