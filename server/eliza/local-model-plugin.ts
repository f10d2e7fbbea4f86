/**
 * An ElizaOS plugin with deterministic, offline model handlers, because no model API is
 * reachable from this machine. Without plugin-bootstrap nothing puts the user's message
 * into the reply prompt, so the plugin also brings a provider that does, between markers
 * the TEXT_LARGE handler looks for.
 */
import { randomUUID } from 'node:crypto';
import {
  ModelType,
  type DetokenizeTextParams,
  type GenerateTextParams,
  type IAgentRuntime,
  type Memory,
  type ObjectGenerationParams,
  type Plugin,
  type Provider,
  type TextEmbeddingParams,
  type TokenizeTextParams,
} from '@elizaos/core';
import { composeReply, decodeTokens, embedText, encodeTokens, toResponseXml, toShouldRespondXml } from './local-model';

export { composeReply, type LocalReply } from './local-model';

/** Name of the provider that carries the current message into the prompt. */
export const CURRENT_MESSAGE_PROVIDER = 'PURL_CURRENT_MESSAGE';

/** Options of {@link createLocalModelPlugin}. */
export interface LocalModelPluginOptions {
  /**
   * Makes the prompt marker unguessable. The prompt also carries conversation history,
   * where a user could otherwise plant a fake marker. Random by default; tests fix it.
   */
  readonly markerNonce?: string;
}

/** The line prefix that carries the current message in a prompt. */
export function currentMessageMarker(nonce: string): string {
  return `<<purl-current-message ${nonce}>>`;
}

/**
 * The provider's text: the marker followed by the message as a JSON string literal, so
 * quotes and newlines in the message cannot end it early. Braces are escaped too,
 * because ElizaOS replaces `{{name1}}`…`{{name10}}` anywhere in a finished prompt.
 */
export function formatCurrentMessage(marker: string, text: string): string {
  const literal = JSON.stringify(text).replace(/[{}]/g, (brace) => (brace === '{' ? '\\u007b' : '\\u007d'));
  return `${marker}${literal}`;
}

/** Reads back what {@link formatCurrentMessage} put into `prompt`, or undefined. */
export function findCurrentMessage(prompt: string, marker: string): string | undefined {
  const start = prompt.indexOf(marker);
  if (start === -1) return undefined;
  const literal = /^"(?:[^"\\]|\\.)*"/u.exec(prompt.slice(start + marker.length))?.[0];
  if (literal === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(literal);
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** ElizaOS's should-respond prompt starts with this task line (core `shouldRespondTemplate`). */
function isShouldRespondPrompt(prompt: string): boolean {
  return prompt.includes('<task>Decide on behalf of');
}

/** The channel-title prompt of the server's `generate-title` route asks for a bare title. */
function isTitlePrompt(prompt: string): boolean {
  return prompt.includes('Respond with just the title');
}

/** TEXT_EMBEDDING is called with an object, a bare string, or null (to learn the size). */
function embeddingInput(params: TextEmbeddingParams | string | null): string {
  if (params === null) return '';
  return typeof params === 'string' ? params : (params.text ?? '');
}

/** Embeddings and a tokenizer, offline: for a model plugin that has neither (plugin-anthropic). */
const localEmbeddingModels: NonNullable<Plugin['models']> = {
  [ModelType.TEXT_EMBEDDING]: async (_runtime: IAgentRuntime, params: TextEmbeddingParams | string | null) => embedText(embeddingInput(params)),
  [ModelType.TEXT_TOKENIZER_ENCODE]: async (_runtime: IAgentRuntime, params: TokenizeTextParams) => encodeTokens(params.prompt),
  [ModelType.TEXT_TOKENIZER_DECODE]: async (_runtime: IAgentRuntime, params: DetokenizeTextParams) => decodeTokens(params.tokens),
};

/**
 * Creates the plugin. Each instance has its own marker nonce; register one instance
 * per agent.
 */
export function createLocalModelPlugin(options: LocalModelPluginOptions = {}): Plugin {
  const marker = currentMessageMarker(options.markerNonce ?? randomUUID());

  const currentMessageProvider: Provider = {
    name: CURRENT_MESSAGE_PROVIDER,
    description: "The text of the message being answered, for Purl's local model.",
    // First in the prompt, ahead of any history that might quote an older message.
    position: -100,
    get: async (_runtime: IAgentRuntime, message: Memory) => {
      const text = typeof message.content.text === 'string' ? message.content.text : '';
      return { text: formatCurrentMessage(marker, text), values: {}, data: {} };
    },
  };

  // Without plugin-bootstrap no provider lists actions, and the message service warns on
  // every reply that `actionNames` is missing. REPLY is the one action the model uses.
  const actionsProvider: Provider = {
    name: 'PURL_ACTIONS',
    description: 'The actions available to the local model.',
    get: async () => ({ text: '', values: { actionNames: 'REPLY' }, data: {} }),
  };

  const replyFromPrompt = (runtime: IAgentRuntime, prompt: string): string =>
    toResponseXml(composeReply(findCurrentMessage(prompt, marker) ?? '', runtime.character.name));

  return {
    name: 'purl-local-model',
    description: 'Deterministic offline model handlers for the Purl demo agent.',
    providers: [currentMessageProvider, actionsProvider],
    models: {
      [ModelType.TEXT_LARGE]: async (runtime: IAgentRuntime, params: GenerateTextParams) => replyFromPrompt(runtime, params.prompt),
      [ModelType.TEXT_SMALL]: async (runtime: IAgentRuntime, params: GenerateTextParams) => {
        if (isShouldRespondPrompt(params.prompt)) return toShouldRespondXml(runtime.character.name);
        if (isTitlePrompt(params.prompt)) return `Conversation with ${runtime.character.name}`;
        return replyFromPrompt(runtime, params.prompt);
      },
      ...localEmbeddingModels,
      [ModelType.OBJECT_SMALL]: async (runtime: IAgentRuntime, params: ObjectGenerationParams) => ({
        ...composeReply(findCurrentMessage(params.prompt, marker) ?? '', runtime.character.name),
      }),
      [ModelType.OBJECT_LARGE]: async (runtime: IAgentRuntime, params: ObjectGenerationParams) => ({
        ...composeReply(findCurrentMessage(params.prompt, marker) ?? '', runtime.character.name),
      }),
    },
  };
}

/**
 * Only the local embedding and tokenizer, for agents whose model plugin lacks them:
 * ElizaOS asks for an embedding at start to size its vectors and will not start without one.
 */
export function createLocalEmbeddingPlugin(): Plugin {
  return {
    name: 'purl-local-embedding',
    description: 'Deterministic offline embeddings and tokenizer.',
    models: localEmbeddingModels,
  };
}
