/**
 * What the gateway and ElizaOS say to each other over the upstream Socket.IO connection
 * (docs/push.md, "Upstream"; ElizaOS 1.7.2's SocketIORouter in @elizaos/server), as pure
 * functions: the requests the gateway sends, built from its own data, and each event
 * ElizaOS sends, checked at the boundary. What fails a check is undefined here, and the
 * socket drops it.
 */
import { isRecord, isUuid } from '../../../src/shared/ids';

/** A message as `GET /api/messaging/sessions/:id/messages` lists it. */
export interface PushedMessage {
  id: string;
  content: string;
  authorId: string;
  isAgent: boolean;
  createdAt: number;
  metadata: { thought?: string; actions?: string[]; clientMessageId?: string };
}

/** A user's message, as the gateway sends it over the socket (docs/push.md, "Messages over the socket"). */
export interface SocketMessage {
  channelId: string;
  /** The session's userId, from the gateway's own record: never the browser's word. */
  senderId: string;
  senderName: string;
  text: string;
  /** The browser's clientMessageId, kept in the row's metadata. */
  clientMessageId?: string;
}

/** ElizaOS's default message server, the one its sessions' channels are on. */
export const MESSAGE_SERVER_ID = '00000000-0000-0000-0000-000000000000';
/**
 * The `source` of every message the gateway sends. ElizaOS 1.7 files a session's messages
 * in a GROUP room, where an agent answers without first asking its model only messages
 * whose source contains one of ALWAYS_RESPOND_SOURCES: always "client_chat" (core's
 * `shouldRespond`, a substring match), plus what the character adds. "client_chat" in the
 * name makes a stock ElizaOS answer it as surely as Purl's own; "purl" says who sent it.
 */
export const SOCKET_SOURCE = 'purl_client_chat';
const ACCESS_DENIED = /^Access denied/;

/**
 * A `messageBroadcast` as the sessions GET lists it, with its channel; undefined when it
 * fails the check (`id`, `roomId`, `senderId` UUIDs, `text` a string, `createdAt` a number).
 */
export function messageOfBroadcast(data: unknown): { channelId: string; message: PushedMessage } | undefined {
  if (!isRecord(data)) return undefined;
  const { id, roomId, senderId, text, createdAt, source, thought, actions } = data;
  if (!isUuid(id) || !isUuid(roomId) || !isUuid(senderId) || typeof text !== 'string') return undefined;
  if (typeof createdAt !== 'number' || !Number.isFinite(createdAt)) return undefined;
  const metadata: PushedMessage['metadata'] = {};
  if (typeof thought === 'string') metadata.thought = thought;
  if (Array.isArray(actions)) metadata.actions = actions.filter((action): action is string => typeof action === 'string');
  return {
    channelId: roomId.toLowerCase(),
    message: { id, content: text, authorId: senderId, isAgent: source === 'agent_response', createdAt, metadata },
  };
}

/** The channel an event names (`channel_joined`, `messageDeleted`, `channelCleared`, `channelDeleted`), lower-cased; undefined without a UUID. */
export function channelOf(data: unknown): string | undefined {
  return isRecord(data) && isUuid(data['channelId']) ? data['channelId'].toLowerCase() : undefined;
}

/** The sentence of a `messageError` ('' without one). */
export function errorOf(data: unknown): string {
  return isRecord(data) && typeof data['error'] === 'string' ? data['error'] : '';
}

/** Whether a `messageError` is ElizaOS refusing a join (ENABLE_DATA_ISOLATION): "Access denied: …". */
export function isAccessDenied(error: string): boolean {
  return ACCESS_DENIED.test(error);
}

/** A `messageAck`: the `messageId` the gateway sent (its `clientMessageId`) and the stored row's id; undefined when either is missing. */
export function ackOf(data: unknown): { messageId: string; rowId: string } | undefined {
  if (!isRecord(data) || typeof data['clientMessageId'] !== 'string') return undefined;
  const rowId = data['messageId'];
  return isUuid(rowId) ? { messageId: data['clientMessageId'], rowId } : undefined;
}

/** The `messageId` of the gateway's own send a broadcast echoes (its top-level `clientMessageId`), when it is one. */
export function echoOf(data: unknown): string | undefined {
  return isRecord(data) && typeof data['clientMessageId'] === 'string' ? data['clientMessageId'] : undefined;
}

/** The join the gateway sends for a channel (`emit("1")`), as its own entity. */
export function joinRequest(channelId: string, entityId: string): Record<string, string> {
  return { channelId, entityId, messageServerId: MESSAGE_SERVER_ID };
}

/** A user's message as the gateway sends it (`emit("2")`), with a fresh `messageId` the acknowledgement names. */
export function sendRequest(message: SocketMessage, messageId: string): Record<string, unknown> {
  return {
    channelId: message.channelId,
    messageServerId: MESSAGE_SERVER_ID,
    senderId: message.senderId,
    senderName: message.senderName,
    message: message.text,
    source: SOCKET_SOURCE,
    metadata: message.clientMessageId === undefined ? {} : { clientMessageId: message.clientMessageId },
    messageId,
    attachments: [],
  };
}
