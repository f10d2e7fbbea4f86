/**
 * Commands to the worker that serves this origin. `sendCommand` posts and forgets (a
 * heartbeat, a refresh); `askWorker` waits for the worker's answer on a MessageChannel
 * (workbox-window's `messageSW`), for commands whose outcome the page needs to know.
 */
import { messageSW } from 'workbox-window';
import { PurlError } from '../shared/errors';
import { isCommandReply, type Command } from '../shared/messages';
import { within } from './within';

const TIMED_OUT = Symbol('timed out');

/** How long the worker may take to answer once it has the command (it may be starting, and open its database first). */
export const ANSWER_TIMEOUT_MS = 10_000;

/** The active worker, once there is one (the first visit waits for the install). */
async function activeWorker(): Promise<ServiceWorker | null> {
  if (!('serviceWorker' in navigator)) return null;
  return (await navigator.serviceWorker.ready).active;
}

/** Sends a command to the worker, without waiting for it to be done. */
export async function sendCommand(command: Command): Promise<void> {
  (await activeWorker())?.postMessage(command);
}

/**
 * Sends a command and settles with the worker's answer: resolves once it is done,
 * rejects with a PurlError whose code says why not ('storage-full', 'storage-blocked',
 * 'worker-failed', or 'no-answer' when nothing came back in time).
 */
export async function askWorker(command: Command, timeoutMs = ANSWER_TIMEOUT_MS): Promise<void> {
  // A registration that failed never becomes ready: the caller hears so, and may try again.
  const worker = await within(activeWorker(), timeoutMs, () => null);
  if (!worker) throw new PurlError('no-answer', 'no service worker is active');
  await ask(worker, command, timeoutMs);
}

/** {@link askWorker} once the worker is known (exported for tests). */
export async function ask(worker: Pick<ServiceWorker, 'postMessage'>, command: Command, timeoutMs: number): Promise<void> {
  // messageSW never settles when the worker does not answer (it stopped, or an older version): hence the deadline.
  const reply: unknown = await within(messageSW(worker as ServiceWorker, command), timeoutMs, () => TIMED_OUT);
  if (reply === TIMED_OUT) throw new PurlError('no-answer', `nothing within ${timeoutMs} ms`);
  if (!isCommandReply(reply)) throw new PurlError('no-answer', 'the answer was not one Purl knows');
  if (!reply.ok) throw new PurlError(reply.failure);
}
