/**
 * The worker's side of push (docs/push.md): the tab that holds the gateway's stream hands
 * each event here, and the worker stays the only writer of IndexedDB. A pushed message
 * is stored exactly as a polled one (same parser, same write path, keyed by the server's
 * id), so a message that comes both ways is kept once. This module only keeps the
 * stream's state and last event id, and tells its listener what each event brings; what
 * that means for this browser (the chat poll's cadence, catching up, which session is
 * open) is sw/push-policy.ts's.
 */
import { parsePushEvent, PUSH_EVENT_ID, type PushUpstream } from '../src/shared/api';
import type { PurlDatabase } from '../src/shared/db';
import type { PushView } from '../src/shared/network';
import { setMeta } from './store';

export interface PushOptions {
  getDb: () => Promise<PurlDatabase>;
  now: () => number;
}

/**
 * What the stream's events bring, heard by the part that acts on them. Each is awaited
 * before the next event is applied (and before a message's event id is kept).
 */
export interface PushListener {
  /** A message of `sessionId` (its shape not yet checked: that needs the session); rejecting refuses the event. */
  message(sessionId: string, message: unknown): Promise<void>;
  /** Events of these sessions were missed (the gateway could not replay them). */
  reset(sessionIds: readonly string[]): Promise<void>;
  /** An agent's memories changed and the gateway's sync stands at `cursor`. */
  memoriesChanged(agentId: string, cursor: string): Promise<void>;
  /** The state changed, or an event was counted (`previous` is what it was). */
  onChange(view: PushView, previous: PushView): void;
}

/** One event as the holding tab hands it on (the `push` command). */
export interface PushCommand {
  event: string;
  id?: string;
  data?: string;
}

export interface Push {
  /** Takes one event of the stream; rejects (and changes nothing) when it is not one the gateway sends. */
  handle(command: PushCommand): Promise<void>;
  /** True while replies arrive as they are made. */
  isUp(): boolean;
  view(): PushView;
  /** Picks up the state an earlier worker published (the stream lives in a tab and outlives the worker). */
  restore(view: PushView | undefined): void;
  /** Tells `listener` what the events bring from now on (one listener: a second replaces the first); returns its remover. */
  onEvents(listener: PushListener): () => void;
}

/** Until a listener is registered, events move the state and bring nothing else. */
const NO_LISTENER: PushListener = {
  message: async () => undefined,
  reset: async () => undefined,
  memoriesChanged: async () => undefined,
  onChange: () => undefined,
};

function stateOf(upstream: PushUpstream): PushView['state'] {
  return upstream === 'up' ? 'up' : 'upstream-down';
}

export function createPush(options: PushOptions): Push {
  let view: PushView = { state: 'down', since: options.now(), events: 0 };
  let listener = NO_LISTENER;

  function move(state: PushView['state'], counted: number): void {
    const previous = view;
    view = { state, since: state === previous.state ? previous.since : options.now(), events: previous.events + counted };
    if (state !== previous.state || counted > 0) listener.onChange(view, previous);
  }

  async function remember(id: string | undefined): Promise<void> {
    if (id !== undefined && PUSH_EVENT_ID.test(id)) await setMeta(await options.getDb(), 'pushLastEventId', id);
  }

  /**
   * Events are taken one at a time, in the order they came: a `hello` saying the upstream is
   * down and the `upstream: up` right after it must not be applied the other way round
   * (a hello waits for its event id to be written).
   */
  let queue: Promise<unknown> = Promise.resolve();
  function handle(command: PushCommand): Promise<void> {
    const next = queue.then(() => apply(command));
    queue = next.catch(() => undefined);
    return next;
  }

  async function apply(command: PushCommand): Promise<void> {
    if (command.event === 'down') {
      move('down', 0);
      return;
    }
    const event = parsePushEvent(command.event, command.data ?? '');
    switch (event.event) {
      case 'hello':
        await remember(command.id);
        move(stateOf(event.upstream), 1);
        return;
      case 'upstream':
        move(stateOf(event.upstream), 1);
        return;
      case 'reset':
        move(view.state, 1);
        await listener.reset(event.sessionIds);
        return;
      case 'memories':
        move(view.state, 1);
        await listener.memoriesChanged(event.agentId, event.cursor);
        return;
      case 'message': {
        // A message the listener refuses (it does not parse with its session) changes nothing here either.
        await listener.message(event.sessionId, event.message);
        await remember(command.id);
        // A message proves the stream carries replies, whatever an earlier event said.
        move('up', 1);
        return;
      }
    }
  }

  return {
    handle,
    isUp: () => view.state === 'up',
    view: () => view,
    restore(restored) {
      if (restored) view = { ...restored };
    },
    onEvents(next) {
      listener = next;
      return () => {
        if (listener === next) listener = NO_LISTENER;
      };
    },
  };
}
