import { describe, expect, it, vi } from 'vitest';
import type { CommandReply } from '../src/shared/messages';
import { createCommandReplies } from './command-reply';

function port() {
  const received: CommandReply[] = [];
  return { received, postMessage: (message: CommandReply) => received.push(message) };
}

function deferred() {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  return { promise, resolve, reject };
}

describe('command replies', () => {
  it('answers ok once the command is done, not before', async () => {
    const replies = createCommandReplies({ onError: () => undefined });
    const to = port();
    const command = deferred();
    const answered = replies.answer(to, command.promise);
    await Promise.resolve();
    expect(to.received).toEqual([]);
    command.resolve();
    await answered;
    expect(to.received).toEqual([{ ok: true }]);
  });

  it('says the storage is full when the browser had no room, and logs the error', async () => {
    const onError = vi.fn();
    const replies = createCommandReplies({ onError });
    const to = port();
    const full = new DOMException('no room', 'QuotaExceededError');
    await replies.answer(to, Promise.reject(full));
    expect(to.received).toEqual([{ ok: false, failure: 'storage-full' }]);
    expect(onError).toHaveBeenCalledWith(full);
  });

  it('says the worker failed for any other error', async () => {
    const replies = createCommandReplies({ onError: () => undefined });
    const to = port();
    await replies.answer(to, Promise.reject(new TypeError('bug')));
    expect(to.received).toEqual([{ ok: false, failure: 'worker-failed' }]);
  });

  it('runs a command sent without a port and never rejects', async () => {
    const onError = vi.fn();
    const replies = createCommandReplies({ onError });
    await expect(replies.answer(undefined, Promise.reject(new Error('lost')))).resolves.toBeUndefined();
    expect(onError).toHaveBeenCalledOnce();
  });

  it('answers waiting and new commands at once while an older tab blocks the database, then ok again once it opens', async () => {
    const replies = createCommandReplies({ onError: () => undefined });
    const opening = deferred();
    const before = port();
    const command = deferred();
    const first = replies.answer(before, command.promise);
    replies.storageBlocked(opening.promise);
    expect(before.received).toEqual([{ ok: false, failure: 'storage-blocked' }]);

    const during = port();
    const second = replies.answer(during, command.promise);
    expect(during.received).toEqual([{ ok: false, failure: 'storage-blocked' }]);

    opening.resolve();
    command.resolve();
    await Promise.all([first, second]);
    // One answer per port: the command's end is not announced a second time.
    expect(before.received).toHaveLength(1);
    expect(during.received).toHaveLength(1);

    const after = port();
    await replies.answer(after, Promise.resolve());
    expect(after.received).toEqual([{ ok: true }]);
  });

  it('survives a page that closed its port', async () => {
    const replies = createCommandReplies({ onError: () => undefined });
    const closed = {
      postMessage: () => {
        throw new DOMException('closed', 'InvalidStateError');
      },
    };
    await expect(replies.answer(closed, Promise.resolve())).resolves.toBeUndefined();
  });
});
