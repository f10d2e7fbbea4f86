/**
 * The push route's events (docs/push.md, "Events"), as written to a stream, and their counts
 * for /health. Every push log writes through here, so an event has one shape whoever sends it.
 */
import type { UpstreamState } from '../upstream/upstream-socket';
import type { PushStream } from './streams';

/** The counts /health shows under `push`. */
export interface PushCounts {
  /** Messages received from ElizaOS and kept. */
  eventsIn: number;
  /** Message events written to streams (replays included). */
  eventsOut: number;
  /** `memories` events written to streams. */
  memoriesOut: number;
  /** Streams that came back with an event id and were given what they missed. */
  replayed: number;
  /** Sessions told `reset` (their chat read once) because what they missed could not be given. */
  resets: number;
}

/** Writes the push route's events and counts them. */
export class PushEvents {
  readonly counts: PushCounts = { eventsIn: 0, eventsOut: 0, memoriesOut: 0, replayed: 0, resets: 0 };

  /** The first event of a stream: its id is where the stream starts, for a replay later. */
  hello(stream: PushStream, epoch: string, upstream: UpstreamState, id: string): void {
    stream.sse.send('hello', JSON.stringify({ epoch, upstream }), id);
  }

  /** A message of a session (`json` as it was heard and checked: written as it is, not parsed again). */
  message(stream: PushStream, id: string, sessionId: string, json: string): void {
    this.counts.eventsOut++;
    stream.sse.send('message', `{"sessionId":"${sessionId}","message":${json}}`, id);
  }

  /** Sessions whose chat the browser reads once: what it missed cannot be given. */
  reset(stream: PushStream, sessionIds: string[]): void {
    this.counts.resets += sessionIds.length;
    stream.sse.send('reset', JSON.stringify({ sessionIds }));
  }

  /** An agent's memories changed (no id, never replayed: a browser that comes back syncs anyway). */
  memories(streams: Iterable<PushStream>, agentId: string, cursor: string): void {
    const data = JSON.stringify({ agentId, cursor });
    for (const stream of streams) {
      this.counts.memoriesOut++;
      stream.sse.send('memories', data);
    }
  }

  /** The upstream socket's state changed. */
  upstream(streams: Iterable<PushStream>, state: UpstreamState): void {
    const data = JSON.stringify({ state });
    for (const stream of streams) stream.sse.send('upstream', data);
  }

  /** The keep-alive comment: proxies end connections that stay silent. */
  keepAlive(streams: Iterable<PushStream>): void {
    for (const stream of streams) stream.sse.comment('keep-alive');
  }
}
