/**
 * Reads the settings table (table.ts) from an environment: every variable checked once,
 * a bad value refused with one sentence in one style — "NAME must RULE, got VALUE." —
 * naming the variable, the value (a secret's left out) and what is allowed.
 */
import { type Setting, SETTINGS, type SettingName, type Settings } from './table';

/** A setting Purl will not start with; `message` is one sentence for stderr. */
export class OptionsError extends Error {
  override readonly name = 'OptionsError';
  /** The variable refused, when one value is the reason. */
  readonly variable: string | undefined;
  constructor(message: string, variable?: string) {
    super(message);
    this.variable = variable;
  }
}

/** The sentence for a refused value. */
export function refusal(name: string, raw: string, rule: string, setting: Pick<Setting<unknown>, 'parser'>): string {
  return `${name} must ${rule}, got ${setting.parser.shown?.(raw) ?? `"${raw}"`}.`;
}

function readOne(name: string, setting: Setting<unknown>, raw: string | undefined): unknown {
  // Unset and empty both mean "not configured", as a shell's `NAME= npm start` does.
  if (raw === undefined || raw === '') return setting.fallback;
  const parsed = setting.parser.parse(raw);
  if (parsed.ok) return parsed.value;
  throw new OptionsError(refusal(name, raw, parsed.rule, setting), name);
}

/**
 * Every setting of the table from `env`, checked; variables it does not name are
 * ignored. Throws an {@link OptionsError} for the first bad value, in the table's order.
 */
export function readSettings(env: Readonly<Record<string, string | undefined>>): Settings {
  const values: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(SETTINGS) as Array<[SettingName, Setting<unknown>]>) values[name] = readOne(name, setting, env[name]);
  return values as Settings;
}

/** A setting's default as the README's table words it: `value`, `on`/`off`, or "unset". */
export function documentedDefault(setting: Setting<unknown>): string {
  if (setting.shown !== undefined) return setting.shown;
  if (setting.fallback === undefined) return 'unset';
  if (typeof setting.fallback === 'boolean') return setting.fallback ? '`on`' : '`off`';
  return `\`${String(setting.fallback)}\``;
}
