import { describe, expect, it } from 'vitest';
import {
  ackOf,
  channelOf,
  echoOf,
  errorOf,
  isAccessDenied,
  joinRequest,
  MESSAGE_SERVER_ID,
  messageOfBroadcast,
  SOCKET_SOURCE,
  sendRequest,
} from './upstream-protocol';

const ROW = 'eeeeeeee-0000-4000-8000-000000000001';
const CHANNEL = 'CCCCCCCC-0000-4000-8000-000000000002';
const SENDER = '11111111-0000-4000-8000-000000000003';

describe('what the gateway and ElizaOS say over the socket', () => {
  it('lists a broadcast as the sessions GET would, on its lower-cased channel', () => {
    const checked = messageOfBroadcast({
      id: ROW,
      roomId: CHANNEL,
      senderId: SENDER,
      text: 'hi',
      createdAt: 5,
      source: 'agent_response',
      thought: 't',
      actions: ['REPLY', 3],
    });
    expect(checked).toEqual({
      channelId: CHANNEL.toLowerCase(),
      message: { id: ROW, content: 'hi', authorId: SENDER, isAgent: true, createdAt: 5, metadata: { thought: 't', actions: ['REPLY'] } },
    });
  });

  it('drops a broadcast that fails the check', () => {
    const good = { id: ROW, roomId: CHANNEL, senderId: SENDER, text: 'hi', createdAt: 5 };
    for (const bad of [null, [], { ...good, id: 'x' }, { ...good, text: 1 }, { ...good, createdAt: Number.NaN }, { ...good, roomId: undefined }]) {
      expect(messageOfBroadcast(bad)).toBeUndefined();
    }
  });

  it('reads the channel, the error, the acknowledgement and the echo only when well formed', () => {
    expect(channelOf({ channelId: CHANNEL })).toBe(CHANNEL.toLowerCase());
    expect(channelOf({ channelId: 'general' })).toBeUndefined();
    expect(errorOf({ error: 'Access denied: no' })).toBe('Access denied: no');
    expect(errorOf('boom')).toBe('');
    expect(isAccessDenied('Access denied: no')).toBe(true);
    expect(isAccessDenied('Error processing your message')).toBe(false);
    expect(ackOf({ clientMessageId: 'm-1', messageId: ROW })).toEqual({ messageId: 'm-1', rowId: ROW });
    expect(ackOf({ clientMessageId: 'm-1', messageId: 'not-a-row' })).toBeUndefined();
    expect(echoOf({ clientMessageId: 'm-1' })).toBe('m-1');
    expect(echoOf({ clientMessageId: 1 })).toBeUndefined();
  });

  it('sends a join as the gateway’s own entity and a message under the gateway’s source, on the default server', () => {
    expect(joinRequest(CHANNEL, 'entity')).toEqual({ channelId: CHANNEL, entityId: 'entity', messageServerId: MESSAGE_SERVER_ID });
    const sent = sendRequest({ channelId: CHANNEL, senderId: SENDER, senderName: 'Ann', text: 'hello', clientMessageId: 'c-1' }, 'm-1');
    expect(sent).toEqual({
      channelId: CHANNEL,
      messageServerId: MESSAGE_SERVER_ID,
      senderId: SENDER,
      senderName: 'Ann',
      message: 'hello',
      source: SOCKET_SOURCE,
      metadata: { clientMessageId: 'c-1' },
      messageId: 'm-1',
      attachments: [],
    });
    expect(sendRequest({ channelId: CHANNEL, senderId: SENDER, senderName: 'Ann', text: 'hello' }, 'm-2')['metadata']).toEqual({});
  });
});
