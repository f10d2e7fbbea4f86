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
