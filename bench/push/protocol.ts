/**
 * What the push fan-out bench (bench/push/bench.ts) and its child processes say to each
 * other over IPC: the server (bench/push/server.ts) and the client shards
 * (bench/push/clients.ts), and the clock they share.
 */
import { performance } from 'node:perf_hooks';

/** Epoch ms with the monotonic clock's precision: comparable across the bench's processes. */
export const preciseNow = () => performance.timeOrigin + performance.now();

export interface ServerPlan {
  kind: 'gateway' | 'bare';
  /** The Socket.IO stand-in (gateway only). */
  upstream: string;
  pushSecret: string;
  /** WS_MAX_CONNECTIONS_PER_IP. */
  maxStreamsPerClient: number;
}

export interface ServerSample {
  rssBytes: number;
  heapUsedBytes: number;
  /** Channels the gateway has joined upstream (bare: its open streams). */
  channels: number;
}

/** `measure` with `collect` runs a full collection first (for memory); without, it is cheap (to poll the channels). */
export type ToServer = { type: 'measure'; collect: boolean } | { type: 'broadcast'; text: string };
export type FromServer = { type: 'started'; url: string } | { type: 'measured'; sample: ServerSample } | { type: 'failed'; message: string };

export interface ClientStream {
  /** Path and query of the push route (or anything the baseline serves). */
  path: string;
  /** The loopback address it leaves from. */
  from: string;
}

export type ToClients =
  | { type: 'open'; url: string; streams: ClientStream[]; concurrency: number }
  | { type: 'expect'; text: string; timeoutMs: number }
  | { type: 'close' };

export type FromClients =
  | { type: 'ready' }
  | { type: 'opened'; opened: number; failures: string[] }
  | { type: 'expecting' }
  /** Epoch ms (fractional) when each stream received the text; `missing` streams did not within the timeout. */
  | { type: 'arrived'; at: number[]; missing: number };
