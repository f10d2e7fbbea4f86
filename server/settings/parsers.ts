/**
 * The parsers of the settings table (server/settings/table.ts): each turns a variable's
 * text into a value, or says what is allowed. They never throw: `readSettings` makes the
 * one sentence from what they say, so every bad value is refused in the same words.
 */
import net from 'node:net';
import proxyAddr from 'proxy-addr';

/** The kinds of setting the table knows, one parser each. */
export type SettingKind = 'integer' | 'duration' | 'on-off' | 'enum' | 'url' | 'host' | 'host-list' | 'proxy-list' | 'path' | 'path-list' | 'secret' | 'text';

/** A parsed value, or the rule it broke: the words after "NAME must", such as "be a whole number from 1 to 8". */
export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly rule: string };

/** One kind of setting: how its text is read, and how a bad one may be repeated in the sentence. */
export interface Parser<T> {
  readonly kind: SettingKind;
  parse(raw: string): Parsed<T>;
  /** The value as the sentence repeats it; a secret's is left out (the sentence goes to logs). */
  shown?(raw: string): string;
}

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const broke = (rule: string): Parsed<never> => ({ ok: false, rule });

/** A whole number from `min` to `max`; `unit` words the rule ("a port number"). */
export function integer(min: number, max: number, unit = 'a whole number'): Parser<number> {
  return {
    kind: 'integer',
    parse: (raw) => {
      const value = Number(raw);
      return Number.isInteger(value) && value >= min && value <= max ? ok(value) : broke(`be ${unit} from ${min} to ${max}`);
    },
  };
}

/** A positive whole number: milliseconds or bytes, no upper bound. */
export function positive(): Parser<number> {
  return {
    kind: 'duration',
    parse: (raw) => {
      const value = Number(raw);
      return Number.isInteger(value) && value > 0 ? ok(value) : broke('be a positive whole number');
    },
  };
}

/** "on" or "off" (also true/false and 1/0, in any case). */
export function onOff(): Parser<boolean> {
  return {
    kind: 'on-off',
    parse: (raw) => {
      const value = raw.trim().toLowerCase();
      if (value === 'on' || value === 'true' || value === '1') return ok(true);
      if (value === 'off' || value === 'false' || value === '0') return ok(false);
      return broke('be "on" or "off"');
    },
  };
}

/** One of `values`, in any case. */
export function oneOf<const T extends string>(values: readonly T[]): Parser<T> {
  return {
    kind: 'enum',
    parse: (raw) => {
      const value = raw.trim().toLowerCase();
      const found = values.find((allowed) => allowed === value);
      return found === undefined ? broke(`be one of ${values.join(', ')}`) : ok(found);
    },
  };
}

/** Whatever sits before an `@` (a password) left out, so a mistyped URL can be repeated in a log. */
export function redactedUrl(raw: string): string {
  return raw.replace(/^([^/]*\/\/)?[^@/]*@/, (_match, scheme: string | undefined) => `${scheme ?? ''}…@`);
}

/**
 * A URL of one of `schemes` (such as `['http', 'https']`) that names a host; `example`
 * goes in the rule. A URL that may hold a password (`secret`) is repeated without it.
 */
export function url(schemes: readonly string[], example: string, secret = false): Parser<URL> {
  const names = schemes.join(' or ');
  return {
    kind: 'url',
    parse: (raw) => {
      let parsed: URL;
      try {
        parsed = new URL(raw);
      } catch {
        return broke(`be a ${schemes.map((scheme) => `${scheme}://`).join(' or ')} URL such as ${example}`);
      }
      if (!schemes.includes(parsed.protocol.slice(0, -1))) return broke(`use ${names}`);
      return parsed.hostname ? ok(parsed) : broke('name a host');
    },
    ...(secret ? { shown: (raw: string) => `"${redactedUrl(raw)}"` } : {}),
  };
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;

/** True for a DNS host name (RFC 1123 labels) or an IP address. */
export function isHostName(name: string): boolean {
  if (net.isIP(name) !== 0) return true;
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  return bare.length > 0 && bare.length <= 253 && bare.split('.').every((label) => LABEL.test(label));
}

/** An address to listen on: an IP address or a host name. */
export function host(): Parser<string> {
  return { kind: 'host', parse: (raw) => (isHostName(raw.trim()) ? ok(raw.trim()) : broke('be an IP address or a host name such as purl.lan')) };
}

/** Host names, comma-separated, each lower-cased, its port and IPv6 brackets left off. */
export function hostList(): Parser<string[]> {
  return {
    kind: 'host-list',
    parse: (raw) => {
      const names = raw
        .split(',')
        .map((name) =>
          name
            .trim()
            .toLowerCase()
            .replace(/:\d+$/, '')
            .replace(/^\[|\]$/g, ''),
        )
        .filter(Boolean);
      return names.every(isHostName) ? ok(names) : broke('be host names or IP addresses separated by commas, such as purl.lan,purl.example');
    },
  };
}

const PROXY_RULE = 'be addresses, subnets, loopback, linklocal or uniquelocal separated by commas, or a hop count';

/**
 * TRUST_PROXY in express's syntax: a hop count, or addresses, subnets and the names
 * loopback, linklocal and uniquelocal. `true` (trust everyone) is refused: then any
 * browser could name itself anyone and take another user's budget. `false` is none.
 */
export function proxyList(): Parser<string | number | false> {
  return {
    kind: 'proxy-list',
    parse: (raw) => {
      const value = raw.trim();
      if (value === '' || value === 'false') return ok(false);
      if (/^\d+$/.test(value)) return ok(Number(value));
      if (value === 'true') return broke(`${PROXY_RULE} (not true, which would let any client forge its address)`);
      const list = value
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean);
      try {
        proxyAddr.compile(list);
      } catch {
        return broke(PROXY_RULE);
      }
      return ok(list.join(','));
    },
  };
}

/** A file or folder path, as given (the reader resolves it against the folder it means). */
export function filePath(): Parser<string> {
  return { kind: 'path', parse: (raw) => ok(raw) };
}

/** Paths, comma-separated, empty items skipped; at least one. */
export function pathList(): Parser<string[]> {
  return {
    kind: 'path-list',
    parse: (raw) => {
      const paths = raw
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '');
      return paths.length > 0 ? ok(paths) : broke('name at least one file, comma-separated');
    },
  };
}

/** A key or token, at least `minLength` characters; never repeated in a sentence. */
export function secret(minLength = 1): Parser<string> {
  return {
    kind: 'secret',
    parse: (raw) => (raw.length >= minLength ? ok(raw) : broke(`be at least ${minLength} characters long`)),
    shown: (raw) => `a value of ${raw.length} characters`,
  };
}

/** `parser`'s check, but the text kept as given (a URL handed on to another process as typed). */
export function checkedText<T>(parser: Parser<T>): Parser<string> {
  return {
    ...parser,
    parse: (raw) => {
      const parsed = parser.parse(raw);
      return parsed.ok ? ok(raw) : parsed;
    },
  };
}

/** Free text, taken as given. */
export function text(): Parser<string> {
  return { kind: 'text', parse: (raw) => ok(raw) };
}
