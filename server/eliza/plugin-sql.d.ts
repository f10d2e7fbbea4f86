/**
 * @elizaos/plugin-sql 1.7.2 ships no usable types: its package.json points "types" at
 * files that are not in the package. We use the default export, the plugin, and
 * `createDatabaseAdapter` (POSTGRES_URL, server/eliza/eliza-server.ts).
 */
declare module '@elizaos/plugin-sql' {
  import type { IDatabaseAdapter, Plugin, UUID } from '@elizaos/core';

  const sqlPlugin: Plugin;
  export default sqlPlugin;
  export function createDatabaseAdapter(config: { postgresUrl?: string; dataDir?: string }, agentId: UUID): IDatabaseAdapter;
}
