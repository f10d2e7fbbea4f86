/**
 * The ElizaOS plugins that give an agent its model, from the {@link ModelChoice}. Only the
 * chosen provider's package is loaded. Each instance belongs to one agent.
 */
import { createRequire } from 'node:module';
import type { Character, Plugin } from '@elizaos/core';
import { createConversationPlugin } from './conversation-plugin';
import { createLocalEmbeddingPlugin, createLocalModelPlugin } from './local-model-plugin';
import { withModelFailures } from './model-failure';
import type { ModelChoice } from './model-provider';

/**
 * plugin-ollama 1.0.8 catches every error of its text handlers and returns this sentence
 * as if the model had written it.
 */
export const OLLAMA_FAILURE_ANSWER = 'Error generating text. Please try again later.';

/** The installed version of a model plugin, for the line that says what answers. */
export function pluginVersion(name: string): string | undefined {
  try {
    const manifest = createRequire(import.meta.url)(`${name}/package.json`) as { version?: unknown };
    return typeof manifest.version === 'string' ? manifest.version : undefined;
  } catch {
    return undefined;
  }
}

/** The plugin list for one agent (plugin-sql is added by the server). */
export async function modelPlugins(choice: ModelChoice): Promise<Plugin[]> {
  switch (choice.kind) {
    case 'local':
      return [createLocalModelPlugin()];
    case 'openai': {
      const { default: openai } = await import('@elizaos/plugin-openai');
      return [withModelFailures(openai), createConversationPlugin()];
    }
    case 'anthropic': {
      const { default: anthropic } = await import('@elizaos/plugin-anthropic');
      // Anthropic has no embeddings API; ElizaOS needs one to size its vectors at start.
      return [withModelFailures(anthropic), createLocalEmbeddingPlugin(), createConversationPlugin()];
    }
    case 'ollama': {
      const { default: ollama } = await import('@elizaos/plugin-ollama');
      return [withModelFailures(ollama, { isFailureAnswer: (answer) => answer === OLLAMA_FAILURE_ANSWER }), createConversationPlugin()];
    }
    default: {
      const unknown: never = choice;
      return unknown;
    }
  }
}

/**
 * Settings every agent gets unless its character sets them. ElizaOS 1.7 files a
 * session's messages under source "user" in a room of type GROUP, so before answering it
 * asks the model whether to answer at all (one more model call per message, and a real
 * model may say no). A session is a conversation with this agent alone: always answer.
 */
export const SESSION_SETTINGS: Readonly<Record<string, string>> = { ALWAYS_RESPOND_SOURCES: 'user' };

/**
 * The character as the agent runs it: with {@link SESSION_SETTINGS} and the provider
 * settings that the plugin reads only from the agent (plugin-ollama's endpoint and model
 * names; never a key).
 */
export function characterFor(character: Character, choice: ModelChoice): Character {
  const providerSettings = choice.kind === 'local' ? {} : choice.agentSettings;
  return { ...character, settings: { ...SESSION_SETTINGS, ...character.settings, ...providerSettings } };
}
