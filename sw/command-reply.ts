/**
 * Answers a page's command on the MessageChannel port it came with (the page sends it
 * with workbox-window's `messageSW`): `{ok: true}` once the worker has done it, or the
 * reason it could not. The page then knows a typed message is saved without reading
 * IndexedDB to find out. A command sent without a port (a heartbeat) is run the same
 * way and answered nowhere.
 */
import { isQuotaExceeded } from '../src/shared/errors';
import type { CommandFailure, CommandReply } from '../src/shared/messages';

/** The part of a MessagePort this needs. */
export interface ReplyPort {
  postMessage(message: CommandReply): void;
}

export interface CommandRepliesOptions {
  /** A command failed: the page is told why in a word; the details go here (the console). */
  onError: (error: unknown) => void;
}

export interface CommandReplies {
  /** Answers `port` when `outcome` settles; never rejects (failures go to the port and `onError`). */
  answer(port: ReplyPort | undefined, outcome: Promise<unknown>): Promise<void>;
  /**
   * The worker's database open waits because an older Purl tab keeps an older version
   * open (IndexedDB's `blocked`). Commands waiting for it, and those arriving until
   * `opening` settles, are answered at once with 'storage-blocked'; they still run
   * when the database opens.
   */
  storageBlocked(opening: Promise<unknown>): void;
}

/** The word a page gets for an error of a command. */
export function failureOf(error: unknown): CommandFailure {
  return isQuotaExceeded(error) ? 'storage-full' : 'worker-failed';
}

export function createCommandReplies(options: CommandRepliesOptions): CommandReplies {
  /** Ports not answered yet. */
  const waiting = new Set<ReplyPort>();
  let blockedBy: Promise<unknown> | undefined;

  function reply(port: ReplyPort, message: CommandReply): void {
    // One answer per port: a port told "blocked" is not told again when the command ends.
    if (!waiting.delete(port)) return;
    try {
      port.postMessage(message);
    } catch {
      // The page went away (its port is closed): nobody is left to tell.
    }
  }

  return {
    async answer(port, outcome) {
      if (port) {
        waiting.add(port);
        if (blockedBy) reply(port, { ok: false, failure: 'storage-blocked' });
      }
      try {
        await outcome;
        if (port) reply(port, { ok: true });
      } catch (error) {
        if (port) reply(port, { ok: false, failure: failureOf(error) });
        options.onError(error);
      }
    },
    storageBlocked(opening) {
      blockedBy = opening;
      const clear = () => {
        if (blockedBy === opening) blockedBy = undefined;
      };
      opening.then(clear, clear);
      for (const port of [...waiting]) reply(port, { ok: false, failure: 'storage-blocked' });
    },
  };
}
