/**
 * Prepares `process.env` for ElizaOS. Must run before any `@elizaos/*` module is loaded:
 * the core logger reads LOG_LEVEL once, at import time.
 */
import type { ElizaConfig } from './config';

/**
 * A DSN that Sentry parses but rejects (its protocol is neither http nor https), so the
 * Sentry client ElizaOS always initialises gets no transport and sends nothing. An empty
 * SENTRY_DSN would not do: ElizaOS then falls back to its own built-in DSN, and there is
 * no switch to turn Sentry off.
 */
export const DISABLED_SENTRY_DSN = 'disabled://disabled@127.0.0.1/0';

/**
 * Sets what ElizaOS reads from the environment and removes what it must not see:
 * ElizaOS core copies the environment into the agent's `settings.secrets`, which
 * `GET /api/agents/:id` returns, so the gateway secret is deleted here.
 */
export function prepareProcessEnv(config: ElizaConfig, env: NodeJS.ProcessEnv): void {
  delete env.PURL_GATEWAY_SECRET;
  // ELIZA_* are this program's interface; the SERVER_* twins are what ElizaOS reads.
  env.SERVER_HOST = config.host;
  env.SERVER_PORT = String(config.port);
  env.ELIZA_UI_ENABLE = 'false';
  env.PGLITE_DATA_DIR = config.elizaDataDir;
  // Quiet, but warnings such as "Rate limit exceeded" still show.
  if (!env.LOG_LEVEL) env.LOG_LEVEL = 'warn';
  env.SENTRY_DSN = DISABLED_SENTRY_DSN;
  // The agent calls its own server; by default at "localhost", which may resolve to ::1
  // first while we listen on 127.0.0.1. ElizaOS accepts only localhost, 127.0.0.1 and ::1
  // here, and compares "::1" without the brackets a URL needs, so only 127.0.0.1 is pinned.
  if (config.baseUrl.startsWith('http://127.0.0.1:')) env.CENTRAL_MESSAGE_SERVER_URL = config.baseUrl;
}
