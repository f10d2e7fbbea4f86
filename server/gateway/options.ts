/**
 * The gateway's settings, read from the environment and checked once at start.
 * A bad value stops the start with one sentence that names it.
 */
import path from 'node:path';
import { overridesFromEnv, type ConfigOverrides } from '../../src/shared/config';

export interface GatewayOptions {
  host: string;
  port: number;
  /** The ElizaOS server every /api and /socket.io request goes to. */
  upstream: URL;
  /** ElizaOS's ELIZA_SERVER_AUTH_TOKEN, added as X-API-KEY upstream; never sent to browsers. */
  upstreamApiKey?: string;
  /** Proves to the embedded server that X-Forwarded-For comes from this gateway. */
  gatewaySecret?: string;
  /** How long an upstream answer may take before the browser gets a 504, ms. */
  upstreamTimeoutMs: number;
  /** The built app. */
  distDir: string;
  /** What /config.json serves. */
  clientConfig: ConfigOverrides;
  /** Largest JSON answer the gateway will inspect for secrets, bytes. */
  maxJsonBytes: number;
}

export class OptionsError extends Error {
  override readonly name = 'OptionsError';
}

function parsePort(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new OptionsError(`${name} must be a port number from 0 to 65535, got "${raw}".`);
  }
  return port;
}

function parseUrl(raw: string, name: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OptionsError(`${name} must be an http(s) URL such as http://127.0.0.1:3000, got "${raw}".`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OptionsError(`${name} must use http or https, got "${raw}".`);
  }
  return url;
}

function parsePositive(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new OptionsError(`${name} must be a positive whole number, got "${raw}".`);
  return value;
}

export interface ReadOptionsResult {
  options: GatewayOptions;
  /** Sentences about rejected client settings (the defaults are kept for those). */
  warnings: string[];
}

/** Reads the gateway's options; `upstream` may be given when the caller started ElizaOS itself. */
export function readGatewayOptions(env: NodeJS.ProcessEnv, upstream?: URL): ReadOptionsResult {
  const upstreamRaw = env['ELIZA_SERVER_URL'];
  const target = upstream ?? (upstreamRaw ? parseUrl(upstreamRaw, 'ELIZA_SERVER_URL') : undefined);
  if (!target) throw new OptionsError('ELIZA_SERVER_URL is not set, so the gateway has no ElizaOS server to talk to.');
  const { overrides, errors } = overridesFromEnv(env);
  const options: GatewayOptions = {
    host: env['HOST'] || '127.0.0.1',
    port: parsePort(env['PORT'], 'PORT', 5174),
    upstream: target,
    upstreamTimeoutMs: parsePositive(env['GATEWAY_UPSTREAM_TIMEOUT'], 'GATEWAY_UPSTREAM_TIMEOUT', 60_000),
    distDir: path.resolve(env['PURL_DIST_DIR'] || 'dist'),
    clientConfig: overrides,
    maxJsonBytes: parsePositive(env['GATEWAY_MAX_JSON_BYTES'], 'GATEWAY_MAX_JSON_BYTES', 64 * 1024 * 1024),
  };
  if (env['ELIZA_SERVER_AUTH_TOKEN']) options.upstreamApiKey = env['ELIZA_SERVER_AUTH_TOKEN'];
  if (env['PURL_GATEWAY_SECRET']) options.gatewaySecret = env['PURL_GATEWAY_SECRET'];
  return { options, warnings: errors };
}
