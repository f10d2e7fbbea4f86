/**
 * Starts and stops the real ElizaOS `AgentServer` with PGlite and its agents.
 * Import this module only after `prepareProcessEnv` has run (see process-env.ts).
 */
import type { AddressInfo } from 'node:net';
import { setAllowedEnvVars, type Character, type Plugin, type UUID } from '@elizaos/core';
import sqlPlugin, { createDatabaseAdapter } from '@elizaos/plugin-sql';
import { AgentServer } from '@elizaos/server';
import { createClientIpMiddleware } from './client-ip';
import type { ElizaConfig } from './config';
import { createFailureNoticePlugin, createSubmitPoster } from './failure-notice';

/** One agent to start: its character and the plugins that give it a model. */
export interface AgentSpec {
  readonly character: Character;
  readonly plugins: readonly Plugin[];
}

/** A started agent. */
export interface RunningAgent {
  readonly id: UUID;
  readonly name: string;
  /** The names of the plugins ElizaOS registered with it. */
  readonly plugins: readonly string[];
}

/** A started server with its agents. */
export interface RunningEliza {
  readonly server: AgentServer;
  /** The first agent's id. */
  readonly agentId: UUID;
  readonly agents: readonly RunningAgent[];
  /** Closes HTTP, stops the agents and closes the database. Safe to call once. */
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

/**
 * Gives each agent its database on PostgreSQL. plugin-sql would find the URL only in the
 * character's settings, which `GET /api/agents/:id` returns whole (the password with it);
 * registered here first, the adapter is the one plugin-sql finds and keeps.
 */
function postgresAdapterPlugin(postgresUrl: string): Plugin {
  return {
    name: 'purl-postgres',
    description: "Registers the agent's database on PostgreSQL (POSTGRES_URL) before plugin-sql looks for one.",
    init: async (_config, runtime) => {
      runtime.registerDatabaseAdapter(createDatabaseAdapter({ postgresUrl }, runtime.agentId));
    },
  };
}

async function stopServer(server: AgentServer): Promise<void> {
  await server.stop();
  // stop() only stops accepting; idle keep-alive sockets would hold the port open.
  server.server?.closeAllConnections();
  await Promise.allSettled(server.getAllAgents().map((runtime) => runtime.stop()));
  await server.database?.close();
}

/**
 * Starts the server on `config.host:config.port`, then the agents. Reports each step
 * through `onProgress`. On failure everything already started is stopped again.
 */
export async function startEliza(config: ElizaConfig, agents: readonly AgentSpec[], onProgress: (step: string) => void): Promise<RunningEliza> {
  // ElizaOS core copies every environment variable into the agent's settings.secrets,
  // which GET /api/agents/:id returns; plugin-sql even loads any .env file found above the
  // working directory into the environment first. An empty allow-list copies nothing: the
  // model plugins read their keys from the environment themselves.
  setAllowedEnvVars(new Set());
  const server = constructWithoutSignalHandlers();
  try {
    onProgress(`starting database and HTTP server on ${config.host}:${config.port}`);
    await server.start({
      port: config.port,
      dataDir: config.elizaDataDir,
      ...(config.postgresUrl ? { postgresUrl: config.postgresUrl } : {}),
      middlewares: config.stock ? [] : [createClientIpMiddleware({ gatewaySecret: config.gatewaySecret })],
    });
    // When the port is taken, ElizaOS quietly listens on the next free one instead.
    const bound = (server.server.address() as AddressInfo | null)?.port;
    if (bound !== config.port) {
      throw new Error(`port ${config.port} is already in use`);
    }
    onProgress(`starting ${agents.length === 1 ? 'agent' : 'agents'} ${agents.map((agent) => agent.character.name).join(', ')}`);
    const post = createSubmitPoster({ baseUrl: config.baseUrl, authToken: config.authToken });
    const runtimes = await server.startAgents(
      agents.map((agent) => ({
        // A copy, because startAgents writes the generated id into the character it gets.
        // The character's own plugin names are not loaded: Purl chooses the plugins.
        character: { ...agent.character, plugins: [] },
        plugins: [...(config.postgresUrl ? [postgresAdapterPlugin(config.postgresUrl)] : []), sqlPlugin, ...agent.plugins, createFailureNoticePlugin({ post })],
      })),
    );
    if (runtimes.length !== agents.length) throw new Error(`${agents.length - runtimes.length} of ${agents.length} agents did not start`);
    const first = runtimes[0];
    if (first === undefined) throw new Error('no agent to start');
    let stopped: Promise<void> | undefined;
    return {
      server,
      agentId: first.agentId,
      agents: runtimes.map((runtime) => ({ id: runtime.agentId, name: runtime.character.name, plugins: runtime.plugins.map((plugin) => plugin.name) })),
      stop: () => (stopped ??= stopServer(server)),
    };
  } catch (error) {
    await stopServer(server).catch(() => {
      /* the start error below is the one worth reporting */
    });
    throw error;
  }
}
