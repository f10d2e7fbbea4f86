/**
 * One error class for everything Purl rejects at a boundary (network, storage, URL, user).
 * The code is for programs; the message is a sentence for people.
 */
const messages = {
  'bad-response': 'The agent server sent data Purl could not read',
  'bad-config': 'A configuration value was rejected',
  'http-error': 'The agent server answered with an error',
  'network-error': 'The agent server could not be reached',
  'no-agent': 'The agent server has no agent to talk to',
  'queue-full': 'The request was dropped because too many were waiting',
  timeout: 'The agent server did not answer in time',
  'breaker-open': 'Purl is not calling the agent server for a while after repeated failures',
  'rate-limited': 'The agent server asked Purl to wait before the next request',
  'storage-full': "The browser has no room left for Purl's data",
  'storage-blocked': 'Purl is waiting to open its saved data: an older Purl tab keeps it open',
  'worker-failed': "Purl's service worker could not do this",
  'no-answer': "Purl's service worker did not answer",
  'not-sent': 'Messages are still waiting to be sent',
} as const;

export type PurlErrorCode = keyof typeof messages;

export class PurlError extends Error {
  override readonly name = 'PurlError';
  readonly code: PurlErrorCode;

  constructor(code: PurlErrorCode, detail?: string) {
    super(detail ? `${messages[code]}: ${detail}` : messages[code]);
    this.code = code;
  }
}

/** True for the browser's "no room left" error (IndexedDB, Cache Storage), whatever wraps it. */
export function isQuotaExceeded(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'QuotaExceededError';
}
