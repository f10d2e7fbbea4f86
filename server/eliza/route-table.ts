/**
 * The embedded ElizaOS's own route table, read from its express app and written beside
 * its database (`<data>/eliza-routes.json`) at each start. It says what a gateway that
 * forwarded everything would expose; the end-to-end tests check that each route the
 * app does not use stays closed at Purl's gateway.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface RouteEntry {
  method: string;
  /** The express path pattern, with `:params`. */
  path: string;
}

/** The parts of express 5's router layers this reads (router@2: `rawPath`, `route`, `handle.stack`). */
interface LayerLike {
  rawPath?: unknown;
  route?: { path: unknown; methods: Record<string, boolean> };
  handle?: { stack?: LayerLike[] };
}

function join(prefix: string, part: unknown): string | undefined {
  if (typeof part !== 'string') return undefined; // a RegExp or array mount: not a plain route
  const joined = `${prefix}/${part}`.replace(/\/{2,}/g, '/');
  return joined.length > 1 ? joined.replace(/\/$/, '') : joined;
}

/** Every method + path the app routes, nested routers included, in registration order. */
export function routeTable(app: { router: { stack: readonly object[] } }): RouteEntry[] {
  const routes: RouteEntry[] = [];
  const walk = (stack: LayerLike[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        const full = join(prefix, layer.route.path);
        if (full === undefined) continue;
        for (const [method, on] of Object.entries(layer.route.methods)) {
          if (on && method !== '_all') routes.push({ method: method.toUpperCase(), path: full });
        }
      } else if (Array.isArray(layer.handle?.stack)) {
        const mount = layer.rawPath === undefined ? prefix : join(prefix, layer.rawPath);
        if (mount !== undefined) walk(layer.handle.stack, mount);
      }
    }
  };
  walk(app.router.stack as LayerLike[], '');
  return routes;
}

export function writeRouteTable(app: { router: { stack: readonly object[] } }, dataDir: string): void {
  fs.writeFileSync(path.join(dataDir, 'eliza-routes.json'), `${JSON.stringify(routeTable(app), null, 1)}\n`);
}
