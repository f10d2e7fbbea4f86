/**
 * What a real model needs in its prompt to hold a conversation in character, for agents
 * that run without @elizaos/plugin-bootstrap. ElizaOS's message service builds the
 * prompt only from providers, and without bootstrap none tells the model who it is, what
 * was said, or which message to answer. plugin-bootstrap 1.7.2 would, but it depends on
 * the `bun` package (the Bun runtime's binary, in a project that runs on Node) and adds
 * evaluators that make further model calls after every message; these few providers and two actions are all a chat needs.
 *
 * The actions matter when the model lists providers or several actions: ElizaOS then
 * runs actions instead of sending the text itself, and without a REPLY action the
 * written answer would be dropped.
 */
import { createUniqueUuid, type Action, type Character, type IAgentRuntime, type Memory, type Plugin, type Provider } from '@elizaos/core';

/** How many earlier messages of the conversation the model sees. */
export const HISTORY_MESSAGES = 20;
/** Longest part of one message the prompt carries, in characters. */
export const MAX_MESSAGE_CHARS = 2000;

/** What the user is called in prompts: sessions carry no display name. */
export const USER_NAME = 'User';

function clip(text: string): string {
  return text.length <= MAX_MESSAGE_CHARS ? text : `${text.slice(0, MAX_MESSAGE_CHARS)}…`;
}

function listOf(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  return typeof value === 'string' ? [value] : [...value];
}

/** The character as prompt text: bio, topics, adjectives, style and example exchanges. */
export function describeCharacter(character: Character): string {
  const name = character.name;
  const parts = [`# About ${name}`, ...listOf(character.bio)];
  if (character.topics?.length) parts.push(`${name} knows about: ${character.topics.join(', ')}.`);
  if (character.adjectives?.length) parts.push(`${name} is ${character.adjectives.join(', ')}.`);
  const style = [...(character.style?.all ?? []), ...(character.style?.chat ?? [])];
  if (style.length > 0) parts.push(`# How ${name} writes`, ...style.map((line) => `- ${line}`));
  const examples = (character.messageExamples ?? []).slice(0, 3);
  if (examples.length > 0) {
    parts.push(`# Example conversations of ${name}`);
    for (const exchange of examples) {
      parts.push(exchange.map((turn) => `${turn.name === name ? name : USER_NAME}: ${turn.content.text ?? ''}`).join('\n'), '');
    }
  }
  return parts.join('\n').trim();
}

function isChatLine(memory: Memory): boolean {
  return typeof memory.content.text === 'string' && memory.content.text.trim() !== '' && memory.content.type !== 'action_result';
}

/** The conversation before `message`, oldest first, as `Name: text` lines. */
export function formatHistory(memories: readonly Memory[], message: Memory, agentId: string, agentName: string): string {
  const lines = memories
    .filter((memory) => memory.id !== message.id && isChatLine(memory))
    .sort((a, b) => (a.createdAt ?? 0) - (b.createdAt ?? 0))
    .slice(-HISTORY_MESSAGES)
    .map((memory) => `${memory.entityId === agentId ? agentName : USER_NAME}: ${clip(memory.content.text ?? '')}`);
  return lines.length === 0 ? '' : ['# The conversation so far', ...lines].join('\n');
}

/** The heading and line that carry the message to answer; test stubs look for it. */
export const MESSAGE_HEADING = '# The message to answer';

export function formatMessage(text: string): string {
  return `${MESSAGE_HEADING}\n${USER_NAME}: ${clip(text)}`;
}

const characterProvider: Provider = {
  name: 'CHARACTER',
  description: 'Who the agent is.',
  position: -20,
  get: async (runtime: IAgentRuntime) => ({
    text: describeCharacter(runtime.character),
    values: { agentName: runtime.character.name },
    data: {},
  }),
};

const historyProvider: Provider = {
  name: 'RECENT_MESSAGES',
  description: 'The conversation so far.',
  position: 0,
  get: async (runtime: IAgentRuntime, message: Memory) => {
    const memories = await runtime.getMemories({ tableName: 'messages', roomId: message.roomId, count: HISTORY_MESSAGES + 5 });
    return { text: formatHistory(memories, message, runtime.agentId, runtime.character.name), values: {}, data: {} };
  },
};

const messageProvider: Provider = {
  name: 'PURL_MESSAGE',
  description: 'The message being answered.',
  position: 10,
  get: async (_runtime: IAgentRuntime, message: Memory) => ({
    text: formatMessage(typeof message.content.text === 'string' ? message.content.text : ''),
    values: {},
    data: {},
  }),
};

const actionsProvider: Provider = {
  name: 'ACTIONS',
  description: 'The actions the agent can take.',
  position: 20,
  get: async () => ({
    text: '# Possible actions\nREPLY: answer with the text you write\nIGNORE: say nothing',
    values: { actionNames: 'REPLY, IGNORE' },
    data: {},
  }),
};

function firstContent(responses: readonly Memory[] | undefined): Memory['content'] | undefined {
  return responses?.[0]?.content;
}

/** Sends the text the model already wrote; no second model call. */
const replyAction: Action = {
  name: 'REPLY',
  similes: ['RESPOND', 'ANSWER'],
  description: 'Answer the user with the text already written.',
  validate: async () => true,
  handler: async (runtime, message, _state, _options, callback, responses) => {
    const content = firstContent(responses);
    const text = typeof content?.text === 'string' ? content.text.trim() : '';
    if (text === '' || callback === undefined || message.id === undefined) return { success: false, error: 'no text to send' };
    await callback({ text, thought: content?.thought, actions: ['REPLY'], inReplyTo: createUniqueUuid(runtime, message.id) });
    return { success: true, text };
  },
};

/** Records that the model chose silence, so it does not read as a failure. */
const ignoreAction: Action = {
  name: 'IGNORE',
  similes: ['NONE', 'STOP'],
  description: 'Say nothing.',
  validate: async () => true,
  handler: async (runtime, message, _state, _options, callback, responses) => {
    if (callback === undefined || message.id === undefined) return { success: true };
    await callback({ thought: firstContent(responses)?.thought, actions: ['IGNORE'], inReplyTo: createUniqueUuid(runtime, message.id) });
    return { success: true };
  },
};

/** The plugin; register it with agents served by a real model. */
export function createConversationPlugin(): Plugin {
  return {
    name: 'purl-conversation',
    description: 'Character, history and the message to answer, for real models without plugin-bootstrap.',
    providers: [characterProvider, historyProvider, messageProvider, actionsProvider],
    actions: [replyAction, ignoreAction],
  };
}
