import { describe, expect, it } from 'vitest';
import type { Command, CommandReply } from '../shared/messages';
import { ask } from './commands';

const refresh: Command = { type: 'refresh' };

/** A worker that answers every command on its port with `reply` (or not at all). */
function workerAnswering(reply?: CommandReply | string) {
  const received: unknown[] = [];
  return {
    received,
    postMessage(message: unknown, transfer: Transferable[]) {
      received.push(message);
      const [port] = transfer as MessagePort[];
      if (reply !== undefined) port!.postMessage(reply);
    },
  } as unknown as Pick<ServiceWorker, 'postMessage'> & { received: unknown[] };
}

describe('asking the worker', () => {
  it('resolves when the worker answers ok on the port', async () => {
    const worker = workerAnswering({ ok: true });
    await expect(ask(worker, refresh, 1_000)).resolves.toBeUndefined();
    expect(worker.received).toEqual([refresh]);
  });

  it('rejects with the reason the worker gives', async () => {
    await expect(ask(workerAnswering({ ok: false, failure: 'storage-full' }), refresh, 1_000)).rejects.toMatchObject({ code: 'storage-full' });
    await expect(ask(workerAnswering({ ok: false, failure: 'storage-blocked' }), refresh, 1_000)).rejects.toMatchObject({ code: 'storage-blocked' });
  });

  it('rejects as unanswered when nothing comes back in time, or something unknown does', async () => {
    await expect(ask(workerAnswering(), refresh, 50)).rejects.toMatchObject({ code: 'no-answer' });
    await expect(ask(workerAnswering('done'), refresh, 1_000)).rejects.toMatchObject({ code: 'no-answer' });
  });
});
