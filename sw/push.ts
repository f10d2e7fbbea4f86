/**
 * The worker's side of push (docs/push.md): the tab that holds the gateway's stream hands
 * each event here, and the worker stays the only writer of IndexedDB. A pushed message
 * is stored exactly as a polled one (same parser, same write path, keyed by the server's
 * id), so a message that comes both ways is kept once. This module only keeps the
 * stream's state and last event id; what push being up or down changes (the chat poll's
 * cadence, catching up) is the core's, told through `onChange`.
 */
import { parsePushEvent, parseSessionMessages, PUSH_EVENT_ID, type ChatMessage, type ChatSession, type PushUpstream } from '../src/shared/api';
import type { PurlDatabase } from '../src/shared/db';
import type { PushView } from '../src/shared/network';
import { setMeta } from './store';

export interface PushOptions {
  getDb: () => Promise<PurlDatabase>;
  now: () => number;
  /** The chat's session now (pushed messages of any other session are not this browser's business any more). */
  session: () => Promise<ChatSession | undefined>;
  /** Stores messages as the chat poll stores what it reads. */
  receive: (messages: ChatMessage[]) => Promise<unknown>;
  /** Events were missed (the gateway could not replay them): the chat must be read once. */
  readChat: () => Promise<void>;
  /** An agent's memories changed and the gateway's sync stands at `cursor`: sync them now if that is news here. */
  memoriesChanged: (agentId: string, cursor: string) => Promise<void>;
  /** The state changed (`previous` is what it was). */
  onChange: (view: PushView, previous: PushView) => void;
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
}

function stateOf(upstream: PushUpstream): PushView['state'] {
  return upstream === 'up' ? 'up' : 'upstream-down';
}

export function createPush(options: PushOptions): Push {
  let view: PushView = { state: 'down', since: options.now(), events: 0 };

  function move(state: PushView['state'], counted: number): void {
    const previous = view;
    view = { state, since: state === previous.state ? previous.since : options.now(), events: previous.events + counted };
    if (state !== previous.state || counted > 0) options.onChange(view, previous);
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
      case 'reset': {
        const session = await options.session();
        move(view.state, 1);
        if (session && event.sessionIds.includes(session.sessionId)) await options.readChat();
        return;
      }
      case 'memories':
        move(view.state, 1);
        await options.memoriesChanged(event.agentId, event.cursor);
        return;
      case 'message': {
        const session = await options.session();
        if (session?.sessionId === event.sessionId) {
          // Checked with its session as a polled answer is: one that does not parse changes nothing.
          await options.receive(parseSessionMessages({ messages: [event.message] }, session));
        }
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
  };
}
