/**
 * Limits of ElizaOS 1.7's sessions API that the gateway enforces before anything is
 * forwarded. (The message length, the same 4000 characters as ElizaOS's
 * `MAX_CONTENT_LENGTH`, is `MAX_MESSAGE_LENGTH` in api.ts: the composer refuses longer
 * messages before they are queued.)
 */

/** Largest message or session metadata ElizaOS accepts, as JSON bytes (its `MAX_METADATA_SIZE`). */
export const MAX_METADATA_BYTES = 10 * 1024;
