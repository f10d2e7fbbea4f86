/**
 * What the gateway removes from the JSON it passes on.
 */

/** Returns a copy of `value` without the keys `drop` picks, at any depth, and whether any was found. */
function dropKeys(value: unknown, drop: (key: string) => boolean): { value: unknown; stripped: boolean } {
  let stripped = false;
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (typeof node !== 'object' || node === null) return node;
    const copy: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(node)) {
      if (drop(key)) {
        stripped = true;
        continue;
      }
      copy[key] = walk(child);
    }
    return copy;
  };
  return { value: walk(value), stripped };
}

const SECRETS = /^secrets$/i;

/**
 * ElizaOS copies the server's whole environment (encrypted) into each agent's
 * `settings.secrets`, and `GET /api/agents/:id` returns it. Nothing of it may reach a
 * browser, so every `secrets` key, at any depth and in any case, is dropped.
 */
export function stripSecrets(value: unknown): { value: unknown; stripped: boolean } {
  return dropKeys(value, (key) => SECRETS.test(key));
}

/**
 * What a browser gets of an answer: without `secrets` (see {@link stripSecrets}), and,
 * in an error answer, without `stack`: ElizaOS puts the server's stack trace (file
 * paths, line numbers) there, of no use to a browser and of some to an attacker.
 * One walk over the answer either way.
 */
export function cleanForBrowser(value: unknown, isError: boolean): { value: unknown; stripped: boolean } {
  return dropKeys(value, (key) => SECRETS.test(key) || (isError && key === 'stack'));
}

/**
 * Parses a JSON answer and cleans it for a browser ({@link cleanForBrowser}), without the
 * walk when the text cannot hold a key to drop: a success whose text names no `secrets`
 * in any case and has no `\u` escape (which could spell one). A 20 MB history is then
 * parsed once and not copied. Throws what JSON.parse throws.
 */
export function parseForBrowser(raw: Buffer, isError: boolean): { value: unknown; stripped: boolean } {
  const text = raw.toString('utf8');
  const value: unknown = JSON.parse(text);
  if (!isError && !/secrets/i.test(text) && !text.includes('\\u')) return { value, stripped: false };
  return cleanForBrowser(value, isError);
}
