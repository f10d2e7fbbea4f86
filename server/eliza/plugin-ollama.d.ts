/**
 * @elizaos/plugin-ollama 1.0.8 ships no types: its package.json points "types" at a file
 * that is not in the package. We use only the default export, the plugin.
 */
declare module '@elizaos/plugin-ollama' {
  import type { Plugin } from '@elizaos/core';

  const ollamaPlugin: Plugin;
  export default ollamaPlugin;
}
