/**
 * Starts and stops the real ElizaOS `AgentServer` with PGlite and the Purl agent.
 * Import this module only after `prepareProcessEnv` has run (see process-env.ts).
 */
import type { AddressInfo } from 'node:net';
import { setAllowedEnvVars, type UUID } from '@elizaos/core';
import sqlPlugin from '@elizaos/plugin-sql';
import { AgentServer } from '@elizaos/server';
import { purlCharacter } from './character';
import { createClientIpMiddleware } from './client-ip';
import type { ElizaConfig } from './config';
import { createLocalModelPlugin } from './local-model-plugin';

/** A started server with its one agent. */
export interface RunningEliza {
  readonly server: AgentServer;
  readonly agentId: UUID;
  /** Closes HTTP, stops the agent and closes the database. Safe to call once. */
  stop(): Promise<void>;
}

type ShutdownSignal = 'SIGTERM' | 'SIGINT';
const SHUTDOWN_SIGNALS: readonly ShutdownSignal[] = ['SIGTERM', 'SIGINT'];

/**
 * `new AgentServer()` installs SIGTERM/SIGINT handlers that end the process on their own
 * schedule (exit 1 after 5 s if a keep-alive connection lingers). Purl's entry point owns
 * shutdown, so the handlers the constructor added are taken off again.
 */
function constructWithoutSignalHandlers(): AgentServer {
  const before = new Map(SHUTDOWN_SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
  const server = new AgentServer();
  for (const signal of SHUTDOWN_SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener);
    }
  }
  return server;
}

async function stopServer(server: AgentServer): Promise<void> {
  await server.stop();
  // stop() only stops accepting; idle keep-alive sockets would hold the port open.
  server.server?.closeAllConnections();
  await Promise.allSettled(server.getAllAgents().map((runtime) => runtime.stop()));
  await server.database?.close();
}

/**
 * Starts the server on `config.host:config.port`, then the Purl agent. Reports each
 * step through `onProgress`. On failure everything already started is stopped again.
 */
export async function startEliza(config: ElizaConfig, onProgress: (step: string) => void): Promise<RunningEliza> {
  // ElizaOS core copies every environment variable into the agent's settings.secrets,
  // which GET /api/agents/:id returns; plugin-sql even loads any .env file found above the
  // working directory into the environment first. An empty allow-list copies nothing.
  setAllowedEnvVars(new Set());
  const server = constructWithoutSignalHandlers();
  try {
    onProgress(`starting database and HTTP server on ${config.host}:${config.port}`);
    await server.start({
      port: config.port,
      dataDir: config.elizaDataDir,
      middlewares: config.stock ? [] : [createClientIpMiddleware({ gatewaySecret: config.gatewaySecret })],
    });
    // When the port is taken, ElizaOS quietly listens on the next free one instead.
    const bound = (server.server.address() as AddressInfo | null)?.port;
    if (bound !== config.port) {
      throw new Error(`port ${config.port} is already in use`);
    }
    onProgress(`starting agent ${purlCharacter.name}`);
    // A copy, because startAgents writes the generated id into the character it gets.
    const [runtime] = await server.startAgents([{ character: { ...purlCharacter }, plugins: [sqlPlugin, createLocalModelPlugin()] }]);
    if (runtime === undefined) throw new Error(`agent ${purlCharacter.name} did not start`);
    let stopped: Promise<void> | undefined;
    return {
      server,
      agentId: runtime.agentId,
      stop: () => (stopped ??= stopServer(server)),
    };
  } catch (error) {
    await stopServer(server).catch(() => {
      /* the start error below is the one worth reporting */
    });
    throw error;
  }
}
