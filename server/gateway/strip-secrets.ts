/**
 * ElizaOS copies the server's whole environment (encrypted) into each agent's
 * `settings.secrets`, and `GET /api/agents/:id` returns it. Nothing of it may reach a
 * browser, so the gateway drops every `secrets` key, at any depth, from what it passes on.
 */
const SECRET_KEY = /^secrets$/i;

/** Returns a copy of `value` without any `secrets` key, and whether one was found. */
export function stripSecrets(value: unknown): { value: unknown; stripped: boolean } {
  let stripped = false;
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (typeof node !== 'object' || node === null) return node;
    const copy: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(node)) {
      if (SECRET_KEY.test(key)) {
        stripped = true;
        continue;
      }
      copy[key] = walk(child);
    }
    return copy;
  };
  const result = walk(value);
  return { value: result, stripped };
}

/**
 * ElizaOS puts the server's stack trace (file paths, line numbers) into its error
 * answers. A browser has no use for it and an attacker some: drop every `stack` key
 * from error answers.
 */
export function stripStacks(value: unknown): { value: unknown; stripped: boolean } {
  let stripped = false;
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (typeof node !== 'object' || node === null) return node;
    const copy: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(node)) {
      if (key === 'stack') {
        stripped = true;
        continue;
      }
      copy[key] = walk(child);
    }
    return copy;
  };
  return { value: walk(value), stripped };
}
