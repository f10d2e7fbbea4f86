/**
 * The pure, deterministic parts of Purl's offline "model": reply text, the XML the
 * ElizaOS message service parses, embeddings and a tokenizer. No model API is reachable
 * here, and tests must be able to match every reply to the message it answers, so the
 * reply is a function of the user's text alone. Nothing in this file imports ElizaOS.
 */

/** Vector size of {@link embedText}; plugin-sql accepts 384, 512, 768, 1024, 1536 or 3072. */
export const EMBEDDING_DIMENSIONS = 384;

/** Longest part of a user's message quoted back, in code points. */
export const MAX_QUOTED_CODE_POINTS = 500;

/** What the local model answers to one user message. */
export interface LocalReply {
  /** Stored by ElizaOS as the memory's `content.thought`. */
  readonly thought: string;
  /** The reply the user sees (`content.text`). */
  readonly text: string;
}

/**
 * One of these is appended to each reply, picked by a hash of the message, so that
 * replies read a little less mechanically while staying deterministic.
 */
const PURL_FACTS: readonly string[] = [
  'Purl lets every open tab share one service worker, so ten tabs poll the agent no more often than one.',
  'The ElizaOS server allows 1000 API requests per 15 minutes per client; Purl spaces its polls to stay well inside that.',
  'When the server answers 429, Purl waits for the Retry-After time instead of retrying at once.',
  'Messages you type while offline wait in an outbox and are sent, once and in order, when the server is back.',
  'Everything Purl has already shown you stays readable offline, because it is kept in IndexedDB.',
  'After five failures in a row Purl stops calling the server for five minutes, then tries once before resuming.',
];

/** 32-bit FNV-1a over the UTF-16 code units of `text`: tiny, stable, good enough to spread buckets. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** Number of whitespace-separated words in already trimmed text. */
function countWords(trimmed: string): number {
  return trimmed === '' ? 0 : trimmed.split(/\s+/u).length;
}

/** Cuts by code points, not UTF-16 units, so an emoji is never split into a lone surrogate. */
function capCodePoints(text: string, max: number): string {
  const codePoints = Array.from(text);
  return codePoints.length <= max ? text : `${codePoints.slice(0, max).join('')}…`;
}

/**
 * The local model's answer to `userText`, in the voice of the agent `agentName` (the
 * built-in Purl, or a character of the user's run without a model key). Deterministic;
 * for any message of at most {@link MAX_QUOTED_CODE_POINTS} code points the reply contains
 * the trimmed message verbatim, so a test can tell which message a reply belongs to.
 */
export function composeReply(userText: string, agentName = 'Purl'): LocalReply {
  const trimmed = userText.trim();
  const words = countWords(trimmed);
  const thought = `The user said ${words} ${words === 1 ? 'word' : 'words'}; answering from the local model.`;
  if (trimmed === '') {
    return { thought, text: `${agentName} heard an empty message. Ask me anything about Purl or rate limits.` };
  }
  const fact = PURL_FACTS[fnv1a(trimmed) % PURL_FACTS.length] ?? '';
  const quoted = capCodePoints(trimmed, MAX_QUOTED_CODE_POINTS);
  const text = `${agentName} heard you: "${quoted}". That is ${words} ${words === 1 ? 'word' : 'words'}. ${fact}`;
  return { thought, text };
}

/**
 * Escapes the characters that would let text end an XML element early. ElizaOS's
 * `parseKeyValueXml` decodes `&lt;`, `&gt;`, `&amp;`, `&quot;` and `&apos;` one after the
 * other, so a literal `&quot;` or `&apos;` typed by a user cannot survive the round trip
 * whatever we do; everything else does.
 */
function escapeXmlText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The reply in the XML shape `DefaultMessageService` parses: one `REPLY` action and no
 * providers makes it a "simple" response, which needs no action handler (we do not load
 * plugin-bootstrap).
 */
export function toResponseXml(reply: LocalReply): string {
  return [
    '<response>',
    `<thought>${escapeXmlText(reply.thought)}</thought>`,
    '<actions>REPLY</actions>',
    '<providers></providers>',
    `<text>${escapeXmlText(reply.text)}</text>`,
    '</response>',
  ].join('\n');
}

/**
 * The answer to ElizaOS's should-respond prompt (used in group channels, never in the
 * DM channels that sessions create): always respond.
 */
export function toShouldRespondXml(agentName: string): string {
  return [
    '<response>',
    `<name>${escapeXmlText(agentName)}</name>`,
    '<reasoning>The local model answers every message.</reasoning>',
    '<action>RESPOND</action>',
    '</response>',
  ].join('\n');
}

/**
 * Deterministic hashed bag-of-words embedding, L2-normalised. Texts sharing words get
 * similar vectors, which is all memory search needs offline. Empty text (ElizaOS embeds
 * "" at start to learn the size) gets a fixed unit vector, because a zero vector has no
 * cosine similarity.
 */
export function embedText(text: string, dimensions: number = EMBEDDING_DIMENSIONS): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  for (const token of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    const hash = fnv1a(token);
    const index = hash % dimensions;
    // The top bit picks the sign, so unrelated words tend to cancel rather than pile up.
    vector[index] = (vector[index] ?? 0) + (hash & 0x80000000 ? -1 : 1);
  }
  const norm = Math.hypot(...vector);
  if (norm === 0) {
    vector[0] = 1;
    return vector;
  }
  return vector.map((value) => value / norm);
}

/**
 * Tokenizer: one token per Unicode code point. Any slice of the tokens decodes to valid
 * text (ElizaOS's `trimTokens` keeps the last N tokens), and counts err on the high side
 * compared with a real BPE tokenizer, which only makes trimming more careful.
 */
export function encodeTokens(text: string): number[] {
  return Array.from(text, (char) => char.codePointAt(0) ?? 0);
}

/** Inverse of {@link encodeTokens}; numbers that are not code points are skipped. */
export function decodeTokens(tokens: readonly number[]): string {
  return tokens
    .filter((token) => Number.isInteger(token) && token >= 0 && token <= 0x10ffff)
    .map((token) => String.fromCodePoint(token))
    .join('');
}
