/**
 * Limits of ElizaOS 1.7's sessions API that both sides enforce: the gateway refuses a
 * body over them before anything is forwarded, and the chat refuses a message over them
 * before it is queued, saying so.
 */

/** Longest message text ElizaOS accepts, in characters (its `MAX_CONTENT_LENGTH`). */
export const MAX_MESSAGE_CHARS = 4000;

/** Largest message or session metadata ElizaOS accepts, as JSON bytes (its `MAX_METADATA_SIZE`). */
export const MAX_METADATA_BYTES = 10 * 1024;
