/**
 * Says in the chat when the agent's model gave no answer.
 *
 * Measured on ElizaOS 1.7.2: when a model call throws, the message service logs the
 * error, emits RUN_ENDED with `error` set to the error's message, and the message bus
 * logs it again; nothing is written to the conversation. The user's message was stored
 * before the model was asked (by the sessions API and as the agent's memory), so it
 * stays, once; but the chat would wait for a reply that never comes. A run that ends
 * without error can also leave no reply: the model's text had no readable
 * `<response>`, three times. This plugin listens for RUN_ENDED and, when a finished run
 * left no reply to its message, posts one sentence into the conversation as the agent,
 * the way ElizaOS posts replies (`POST /api/messaging/submit`). The sentence is not kept
 * as a memory, so the model never reads it back as something the agent said.
 *
 * Runs that ElizaOS drops on purpose (a newer message in the same room replaced the
 * run) end without RUN_ENDED, so they get no sentence: the newer message gets the reply.
 */
import { ChannelType, createUniqueUuid, EventType, type IAgentRuntime, type Plugin, type RunEventPayload, type UUID } from '@elizaos/core';
import { failureFromRunError, failureNotice, SERVER_FAILURE_NOTICE } from './model-failure';

/** A sentence to post into a conversation as the agent. */
export interface AgentNotice {
  readonly channelId: UUID;
  readonly messageServerId: UUID;
  readonly agentId: UUID;
  readonly agentName: string;
  readonly text: string;
  /** The central id of the user's message it answers, when known. */
  readonly inReplyTo: UUID | undefined;
  readonly isDm: boolean;
  /** Why, for the message's metadata: a failure code or `server-error`. */
  readonly reason: string;
}

/** Options of {@link createFailureNoticePlugin}. */
export interface FailureNoticeOptions {
  /** Puts the notice into the conversation. */
  post(notice: AgentNotice): Promise<void>;
}

/** How many of the room's newest memories are searched for the reply. */
const REPLY_SEARCH_DEPTH = 20;

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

/**
 * Whether the agent answered `messageId`: the message service marks its reply (and its
 * deliberate silence, an IGNORE) with `inReplyTo` = the message's id made unique to the
 * agent, and the message bus stores it before RUN_ENDED is emitted.
 */
async function hasAnswered(runtime: IAgentRuntime, messageId: UUID, roomId: UUID): Promise<boolean> {
  const replyTo = createUniqueUuid(runtime, messageId);
  const recent = await runtime.getMemories({ tableName: 'messages', roomId, count: REPLY_SEARCH_DEPTH });
  return recent.some((memory) => memory.entityId === runtime.agentId && memory.content.inReplyTo === replyTo);
}

/** The notice for a finished run, or undefined when the agent answered. */
async function noticeFor(payload: RunEventPayload): Promise<{ text: string; reason: string } | undefined> {
  if (payload.error !== undefined) {
    const failure = failureFromRunError(payload.error);
    return failure ? { text: failureNotice(failure), reason: failure.code } : { text: SERVER_FAILURE_NOTICE, reason: 'server-error' };
  }
  if (await hasAnswered(payload.runtime, payload.messageId, payload.roomId)) return undefined;
  return { text: failureNotice({ code: 'unreadable' }), reason: 'unreadable' };
}

async function onRunEnded(payload: RunEventPayload, options: FailureNoticeOptions): Promise<void> {
  // Other statuses ("self", "muted", …) are runs that rightly end without a reply.
  if (payload.source !== 'messageHandler' || payload.status !== 'completed') return;
  const { runtime } = payload;
  const notice = await noticeFor(payload);
  if (notice === undefined) return;
  const room = await runtime.getRoom(payload.roomId);
  const world = room?.worldId ? await runtime.getWorld(room.worldId) : null;
  const channelId = room?.channelId as UUID | undefined;
  const messageServerId = field(world, 'messageServerId') as UUID | undefined;
  if (!channelId || !messageServerId) return;
  const message = await runtime.getMemoryById(payload.messageId);
  const sourceId = field(message?.metadata, 'sourceId');
  await options.post({
    channelId,
    messageServerId,
    agentId: runtime.agentId,
    agentName: runtime.character.name,
    text: notice.text,
    inReplyTo: typeof sourceId === 'string' ? (sourceId as UUID) : undefined,
    isDm: room?.type === ChannelType.DM,
    reason: notice.reason,
  });
}

/** The plugin; register it with every agent. */
export function createFailureNoticePlugin(options: FailureNoticeOptions): Plugin {
  return {
    name: 'purl-failure-notice',
    description: "Says in the chat when the agent's model gave no answer.",
    events: {
      [EventType.RUN_ENDED]: [
        async (payload: RunEventPayload) => {
          try {
            await onRunEnded(payload, options);
          } catch (error) {
            // Never let the notice replace the run's own error, which ElizaOS rethrows after this event.
            payload.runtime.logger.warn(
              { src: 'purl:failure-notice', error: error instanceof Error ? error.message : String(error) },
              'Could not post the failure notice',
            );
          }
        },
      ],
    },
  };
}

/** Options of {@link createSubmitPoster}. */
export interface SubmitPosterOptions {
  /** The server itself, e.g. `http://127.0.0.1:3901`. */
  readonly baseUrl: string;
  /** ELIZA_SERVER_AUTH_TOKEN, sent as X-API-KEY when set. */
  readonly authToken: string | undefined;
  readonly timeoutMs?: number;
}

/** Posts a notice through the server's own route for agent messages, as the message bus posts replies. */
export function createSubmitPoster({ baseUrl, authToken, timeoutMs = 10_000 }: SubmitPosterOptions): FailureNoticeOptions['post'] {
  return async (notice) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (authToken !== undefined) headers['x-api-key'] = authToken;
    const response = await fetch(new URL('/api/messaging/submit', baseUrl), {
      method: 'POST',
      headers,
      signal: AbortSignal.timeout(timeoutMs),
      body: JSON.stringify({
        channel_id: notice.channelId,
        message_server_id: notice.messageServerId,
        author_id: notice.agentId,
        content: notice.text,
        in_reply_to_message_id: notice.inReplyTo,
        source_type: 'agent_response',
        raw_message: { text: notice.text, thought: `No answer from the model (${notice.reason}).`, actions: ['REPLY'] },
        metadata: { agent_id: notice.agentId, agentName: notice.agentName, isDm: notice.isDm, purlNotice: notice.reason },
      }),
    });
    if (!response.ok) throw new Error(`POST /api/messaging/submit answered ${response.status}`);
  };
}
