/**
 * Reads the character files named by ELIZA_CHARACTER and checks them at the boundary:
 * each must be a readable regular file of at most {@link MAX_CHARACTER_BYTES}, hold one
 * JSON object, and pass ElizaOS's own character schema (`validateCharacter` of
 * @elizaos/core, the format ElizaOS itself loads). Every problem is a
 * {@link CharacterFileError} whose message is one sentence naming the file.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Character } from '@elizaos/core';

/** Larger than any character file (knowledge is given as paths), small enough to read at once. */
export const MAX_CHARACTER_BYTES = 1024 * 1024;

/** What went wrong with a character file. */
export type CharacterFileProblem = 'no-file' | 'missing' | 'unreadable' | 'not-a-file' | 'too-large' | 'not-json' | 'not-an-object' | 'invalid' | 'same-name';

/** A character file Purl will not start with; `message` is one sentence for stderr. */
export class CharacterFileError extends Error {
  override readonly name = 'CharacterFileError';
  constructor(
    readonly code: CharacterFileProblem,
    readonly file: string,
    message: string,
  ) {
    super(message);
  }
}

/** A character read from its file and checked. */
export interface LoadedCharacter {
  readonly file: string;
  readonly character: Character;
}

/** The two file operations the loader needs; tests pass their own. */
export interface CharacterFileIo {
  stat(file: string): Promise<{ isFile(): boolean; isDirectory(): boolean; size: number }>;
  readFile(file: string): Promise<string>;
}

const nodeIo: CharacterFileIo = {
  stat: (file) => stat(file),
  readFile: (file) => readFile(file, 'utf8'),
};

/**
 * The absolute paths in ELIZA_CHARACTER (comma-separated, relative ones resolved against
 * `baseDir`), or undefined when it is unset or empty. Empty items between commas are
 * skipped; a value with no path at all is an error.
 */
export function characterPaths(raw: string | undefined, baseDir: string): string[] | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const paths = raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map((item) => path.resolve(baseDir, item));
  if (paths.length === 0) throw new CharacterFileError('no-file', raw, `ELIZA_CHARACTER names no file: it is ${JSON.stringify(raw)}.`);
  return paths;
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

function fileProblem(file: string, error: unknown): CharacterFileError {
  const code = errorCode(error);
  const subject = `The character file ${file}`;
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new CharacterFileError('missing', file, `${subject} does not exist.`);
    case 'EACCES':
    case 'EPERM':
      return new CharacterFileError('unreadable', file, `${subject} cannot be read: permission denied.`);
    case 'EISDIR':
      return new CharacterFileError('not-a-file', file, `${subject} is a folder, not a file.`);
    default:
      return new CharacterFileError('unreadable', file, `${subject} cannot be read (${code ?? (error instanceof Error ? error.message : String(error))}).`);
  }
}

/** Line and column (both from 1) of a character offset. */
function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `line ${line}, column ${column}`;
}

/**
 * V8's JSON.parse message, made short and file-relative: "at position N" becomes a line
 * and column, and the quoted copy of the input some messages carry is dropped (it may be
 * the whole file).
 */
export function describeJsonError(message: string, text: string): string {
  const position = / in JSON at position (\d+)/.exec(message);
  if (position) return `${message.slice(0, position.index)} at ${lineAndColumn(text, Number(position[1]))}`;
  const token = /^(Unexpected token .+?), ".*" is not valid JSON$/s.exec(message);
  return token ? token[1]! : message;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return typeof value === 'string' ? 'a string' : `a ${typeof value}`;
}

const EXPECTED: Readonly<Record<string, string>> = {
  string: 'a string',
  array: 'an array',
  object: 'an object',
  number: 'a number',
  boolean: 'true or false',
  record: 'an object',
};

function valueAt(root: unknown, keys: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of keys) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** `messageExamples[0][1].content.text` */
function fieldName(keys: readonly PropertyKey[]): string {
  return keys.map((key, index) => (typeof key === 'number' ? `[${key}]` : index === 0 ? String(key) : `.${String(key)}`)).join('');
}

/** The parts of a schema issue (zod 4, as @elizaos/core 1.7 reports them) this file reads. */
interface SchemaIssue {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly expected?: string;
  readonly keys?: readonly string[];
  readonly errors?: ReadonlyArray<readonly SchemaIssue[]>;
}

/** One schema issue as a clause: `"bio" is missing`, `"style.all" must be an array, not a string`. */
export function describeIssue(issue: SchemaIssue, data: unknown): string {
  const field = `"${fieldName(issue.path)}"`;
  const value = valueAt(data, issue.path);
  switch (issue.code) {
    case 'invalid_type':
      if (value === undefined) return `${field} is missing`;
      return `${field} must be ${EXPECTED[issue.expected ?? ''] ?? issue.expected}, not ${typeName(value)}`;
    case 'invalid_union': {
      const expected = [...new Set((issue.errors ?? []).flatMap((branch) => branch.map((inner) => EXPECTED[inner.expected ?? ''] ?? inner.expected)))];
      if (value === undefined) return `${field} is missing`;
      return expected.length > 0 ? `${field} must be ${expected.join(' or ')}, not ${typeName(value)}` : `${field} has the wrong form`;
    }
    case 'unrecognized_keys': {
      const keys = (issue.keys ?? []).map((key) => `"${issue.path.length > 0 ? `${fieldName(issue.path)}.` : ''}${key}"`);
      return `${keys.join(', ')} ${keys.length === 1 ? 'is not a field' : 'are not fields'} of an ElizaOS 1.x character`;
    }
    case 'too_small':
      return `${field} is empty`;
    case 'invalid_format':
      return `${field} is not ${issue.path.at(-1) === 'id' || issue.path.at(-1) === 'inReplyTo' ? 'a UUID' : 'in the right format'}`;
    default:
      return `${field}: ${issue.message}`;
  }
}

/** Reads and checks one character file. */
export async function loadCharacterFile(file: string, io: CharacterFileIo = nodeIo): Promise<LoadedCharacter> {
  const subject = `The character file ${file}`;
  let text: string;
  try {
    const info = await io.stat(file);
    if (info.isDirectory()) throw new CharacterFileError('not-a-file', file, `${subject} is a folder, not a file.`);
    if (!info.isFile()) throw new CharacterFileError('not-a-file', file, `${subject} is not a regular file.`);
    if (info.size > MAX_CHARACTER_BYTES) {
      const size = (info.size / (1024 * 1024)).toFixed(1);
      throw new CharacterFileError('too-large', file, `${subject} is ${size} MB; a character file may be at most ${MAX_CHARACTER_BYTES / (1024 * 1024)} MB.`);
    }
    text = await io.readFile(file);
  } catch (error) {
    throw error instanceof CharacterFileError ? error : fileProblem(file, error);
  }
  // A byte-order mark is common in files saved by Windows editors; JSON.parse rejects it.
  const json = text.replace(/^\uFEFF/, '');
  if (json.trim() === '') throw new CharacterFileError('not-json', file, `${subject} is empty.`);
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch (error) {
    const reason = describeJsonError(error instanceof Error ? error.message : String(error), json);
    throw new CharacterFileError('not-json', file, `${subject} is not valid JSON: ${reason}.`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new CharacterFileError('not-an-object', file, `${subject} must hold one JSON object (a character), but it holds ${typeName(data)}.`);
  }
  // Loaded only here: the launcher needs ElizaOS's schema only when there is a file to check.
  const { validateCharacter } = await import('@elizaos/core');
  const result = validateCharacter(data);
  if (!result.success || result.data === undefined) {
    const issues = (result.error?.issues ?? []) as unknown as readonly SchemaIssue[];
    const first = issues[0];
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more ${issues.length === 2 ? 'problem' : 'problems'})` : '';
    const reason = first === undefined ? (result.error?.message ?? 'it does not match the schema') : describeIssue(first, data);
    throw new CharacterFileError('invalid', file, `${subject} is not a valid ElizaOS character: ${reason}${more}.`);
  }
  return { file, character: result.data };
}

/**
 * Reads and checks every file, in order, stopping at the first problem. Two characters
 * with the same name are refused: ElizaOS derives an agent's id from its name.
 */
export async function loadCharacterFiles(files: readonly string[], io: CharacterFileIo = nodeIo): Promise<LoadedCharacter[]> {
  const loaded: LoadedCharacter[] = [];
  for (const file of files) {
    const next = await loadCharacterFile(file, io);
    const twin = loaded.find((earlier) => earlier.character.name === next.character.name);
    if (twin) {
      throw new CharacterFileError(
        'same-name',
        file,
        `The character files ${twin.file} and ${file} both name their character "${next.character.name}"; each agent needs a name of its own.`,
      );
    }
    loaded.push(next);
  }
  return loaded;
}

/**
 * Plugins a character lists that Purl does not load: it loads plugin-sql and the model
 * plugin chosen from the environment (`loaded`), and nothing named in a file.
 */
export function unloadedPlugins(character: Character, loaded: readonly string[]): string[] {
  return (character.plugins ?? []).filter((name) => name !== '@elizaos/plugin-sql' && !loaded.includes(name));
}
