/**
 * Ids and record checks, written once for both wings. Everything the app or the gateway
 * takes from outside (a URL, a body, a stored record, an ElizaOS answer) is checked
 * with these before it is used.
 */

/**
 * One canonical UUID, any version, either case, as a regular-expression source with one
 * capturing group: for route patterns (`new RegExp(`^/api/agents/${UUID_SEGMENT}/memories$`)`).
 */
export const UUID_SEGMENT = '([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})';

const UUID = new RegExp(`^${UUID_SEGMENT}$`);

/**
 * True for a canonical UUID (8-4-4-4-12 hex digits), any version, upper- or lower-case:
 * what ElizaOS's `validateUuid` accepts, so the gateway refuses nothing ElizaOS would take.
 * Compare ids with `.toLowerCase()`: the same id may come in either case.
 */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/** True for a plain object (what a JSON object parses to): not null, not an array. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
