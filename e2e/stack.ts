/**
 * The real stack for end-to-end tests: the embedded ElizaOS and the gateway, started
 * with the same code `npm start` uses, with short intervals so each test takes seconds.
 */
import { randomInt } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGateway, type Gateway } from '../server/gateway/app';
import { readGatewayOptions } from '../server/gateway/options';
import { startFaultProxy, type FaultProxy } from './fault-proxy';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Client settings for tests: poll every second so changes show within seconds. Neither the
 * worker's freshness window nor the gateway's edge holds answers back, so each test sees
 * ElizaOS (and the faults it injects) at once; the tests of the edge turn it on.
 */
export const TEST_CLIENT_ENV = {
  FRONTEND_POLL_INTERVAL: '1000',
  FRONTEND_SESSION_POLL_INTERVAL: '1000',
  FRONTEND_CACHE_TTL: '0',
  GATEWAY_CACHE_TTL: '0',
  // One push key for every gateway of the run (a restarted gateway accepts the tokens the
  // one before it made), and none written into the checkout.
  PURL_PUSH_SECRET: 'purl-e2e-push-key-0123456789abcdef0123456789',
};

export interface StackInfo {
  /** The gateway every test's pages load. */
  baseUrl: string;
  /** ElizaOS itself, for posting messages "from elsewhere" and checking what it holds. */
  elizaUrl: string;
  agentId: string;
  gatewaySecret: string;
  /** The embedded ElizaOS's data folder (its database, log and route table). */
  dataDir: string;
}

/** Written by global setup into the environment the test workers inherit. */
export function stackInfo(): StackInfo {
  const raw = process.env['PURL_E2E_STACK'];
  if (!raw) throw new Error('PURL_E2E_STACK is not set: run the tests through Playwright so global setup starts the stack.');
  return JSON.parse(raw) as StackInfo;
}

/**
 * Starts one more gateway on the running ElizaOS (for tests that stop a gateway or
 * need other settings), optionally through another upstream such as the fault proxy.
 */
export async function startExtraGateway(env: Record<string, string> = {}, upstream?: string): Promise<Gateway> {
  const info = stackInfo();
  const { options } = readGatewayOptions(
    {
      ...TEST_CLIENT_ENV,
      PORT: '0',
      PURL_GATEWAY_SECRET: info.gatewaySecret,
      PURL_DIST_DIR: path.join(root, 'dist'),
      // The run's gateways keep their people in one place, as one machine's gateways do: a restarted one knows them.
      PURL_DATA_DIR: path.join(info.dataDir, 'gateways'),
      ...env,
    },
    new URL(upstream ?? info.elizaUrl),
  );
  return startGateway(options);
}

export interface FaultStack {
  proxy: FaultProxy;
  url: string;
  close(): Promise<void>;
}

/**
 * The addresses fault stacks name their client by (198.18.0.0/15, set aside for
 * benchmarks), from a random start so a restarted test worker does not reuse one.
 */
let nextClient = randomInt(1, 60_000);

/**
 * The fault proxy in front of the real ElizaOS, and a gateway with `env` in front of the
 * proxy. Each stack's browser is a user of its own at ElizaOS (its own rate-limit
 * bucket), as each person is: tests do not spend one another's budget.
 */
export async function faultStack(env: Record<string, string> = {}): Promise<FaultStack> {
  nextClient += 1;
  const clientAddress = `198.18.${(nextClient >> 8) & 255}.${nextClient & 255}`;
  const proxy = await startFaultProxy(stackInfo().elizaUrl, { clientAddress });
  const gateway = await startExtraGateway(env, proxy.url);
  return {
    proxy,
    url: gateway.url,
    close: async () => {
      await gateway.close();
      await proxy.close();
    },
  };
}
