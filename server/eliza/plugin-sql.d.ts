/**
 * @elizaos/plugin-sql 1.7.2 ships no usable types: its package.json points "types" at
 * files that are not in the package. We use only the default export, the plugin.
 */
declare module '@elizaos/plugin-sql' {
  import type { Plugin } from '@elizaos/core';

  const sqlPlugin: Plugin;
  export default sqlPlugin;
}
