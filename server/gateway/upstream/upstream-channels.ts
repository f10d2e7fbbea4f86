/**
 * The channels the upstream socket listens to, as plain data with pure functions over it:
 * no I/O, no timers (server/gateway/upstream/upstream-socket.ts sends the joins and runs
 * the linger). A channel is kept while anyone listens to it and, after the last listener
 * left, until the socket forgets it (a while later, so a browser that reconnects finds it
 * still heard). `joined` is ElizaOS's confirmation (`channel_joined`), lost with every
 * connection: the socket joins every kept channel again once it is up.
 *
 * Ids are taken as given: the socket lower-cases them first. Every change returns a new table.
 */

export interface Channel {
  /** Subscriptions held now. */
  readonly listeners: number;
  /** ElizaOS confirmed the join on this connection. */
  readonly joined: boolean;
}

/** The kept channels by id. */
export type Channels = ReadonlyMap<string, Channel>;

export const noChannels: Channels = new Map();

function withChannel(channels: Channels, channelId: string, channel: Channel | undefined): Channels {
  const next = new Map(channels);
  if (channel) next.set(channelId, channel);
  else next.delete(channelId);
  return next;
}

/** One more listener of `channelId`; `isNew` when the channel was not kept (it needs a join). */
export function listenedTo(channels: Channels, channelId: string): { channels: Channels; isNew: boolean } {
  const channel = channels.get(channelId);
  const listeners = (channel?.listeners ?? 0) + 1;
  return { channels: withChannel(channels, channelId, { listeners, joined: channel?.joined ?? false }), isNew: !channel };
}

/** One listener fewer; `isIdle` when that was the last one (the linger starts). A channel not kept is left alone. */
export function releasedFrom(channels: Channels, channelId: string): { channels: Channels; isIdle: boolean } {
  const channel = channels.get(channelId);
  if (!channel) return { channels, isIdle: false };
  const listeners = channel.listeners - 1;
  return { channels: withChannel(channels, channelId, { ...channel, listeners }), isIdle: listeners <= 0 };
}

/** The table without `channelId` once its linger is over, unless someone listens again. */
export function forgotten(channels: Channels, channelId: string): Channels {
  const channel = channels.get(channelId);
  return channel && channel.listeners === 0 ? withChannel(channels, channelId, undefined) : channels;
}

/** Every channel not joined: a connection began or ended. */
export function unjoined(channels: Channels): Channels {
  return new Map([...channels].map(([channelId, channel]) => [channelId, { ...channel, joined: false }]));
}

/** ElizaOS confirmed a join; `isNewJoin` only for a kept channel not yet joined on this connection. */
export function confirmed(channels: Channels, channelId: string): { channels: Channels; isNewJoin: boolean } {
  const channel = channels.get(channelId);
  if (!channel || channel.joined) return { channels, isNewJoin: false };
  return { channels: withChannel(channels, channelId, { ...channel, joined: true }), isNewJoin: true };
}

/** True while ElizaOS has confirmed the channel's join and it is kept. */
export function isJoined(channels: Channels, channelId: string): boolean {
  return channels.get(channelId)?.joined === true;
}

/** The kept channels ElizaOS confirmed. */
export function joinedCount(channels: Channels): number {
  let count = 0;
  for (const channel of channels.values()) if (channel.joined) count += 1;
  return count;
}
