import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CharacterFileError,
  characterPaths,
  describeJsonError,
  loadCharacterFile,
  loadCharacterFiles,
  MAX_CHARACTER_BYTES,
  unloadedPlugins,
  type CharacterFileIo,
} from './character-file';

let dir: string;
const write = (name: string, text: string): string => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
};
const ada = { name: 'Ada', bio: ['Counts things.'], system: 'You are Ada.' };

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-character-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs the loader and returns the one sentence it refused the file with. */
async function refusal(file: string, io?: CharacterFileIo): Promise<{ code: string; message: string }> {
  const error = await loadCharacterFile(file, io).then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(CharacterFileError);
  const { code, message } = error as CharacterFileError;
  // One sentence, naming the file, no stack.
  expect(message).toContain(file);
  expect(message).toMatch(/\.$/);
  expect(message).not.toMatch(/\n|\s+at\s+\S+:\d+/);
  return { code, message };
}

describe('characterPaths', () => {
  it('is undefined when ELIZA_CHARACTER is unset or empty', () => {
    expect(characterPaths(undefined, '/srv')).toBeUndefined();
    expect(characterPaths('  ', '/srv')).toBeUndefined();
  });

  it('resolves comma-separated paths against the folder the user started from', () => {
    expect(characterPaths('a.json, /abs/b.json,,chars/c.json', '/home/me')).toEqual(['/home/me/a.json', '/abs/b.json', '/home/me/chars/c.json']);
  });

  it('refuses a value that names no file', () => {
    expect(() => characterPaths(' , ', '/srv')).toThrow(/^ELIZA_CHARACTER names no file/);
  });
});

describe('loadCharacterFile', () => {
  it('reads a valid character, with a byte-order mark too', async () => {
    const file = write('ada.json', `\uFEFF${JSON.stringify(ada)}`);
    expect(await loadCharacterFile(file)).toEqual({ file, character: ada });
  });

  it('refuses a missing file', async () => {
    expect(await refusal(path.join(dir, 'nope.json'))).toMatchObject({ code: 'missing', message: expect.stringMatching(/does not exist\.$/) });
  });

  it('refuses a path through a file as missing', async () => {
    const file = write('plain.txt', 'x');
    expect((await refusal(path.join(file, 'ada.json'))).code).toBe('missing');
  });

  it('refuses a folder', async () => {
    expect(await refusal(dir)).toMatchObject({ code: 'not-a-file', message: expect.stringMatching(/is a folder, not a file\.$/) });
  });

  it('refuses a file it may not read', async () => {
    const denied = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    const io: CharacterFileIo = { stat: async () => ({ isFile: () => true, isDirectory: () => false, size: 10 }), readFile: () => Promise.reject(denied) };
    expect(await refusal('/srv/ada.json', io)).toEqual({ code: 'unreadable', message: 'The character file /srv/ada.json cannot be read: permission denied.' });
  });

  it('refuses a file that is not a regular file', async () => {
    const io: CharacterFileIo = { stat: async () => ({ isFile: () => false, isDirectory: () => false, size: 0 }), readFile: async () => '' };
    expect((await refusal('/dev/ada', io)).message).toBe('The character file /dev/ada is not a regular file.');
  });

  it('refuses a file larger than 1 MB without reading it', async () => {
    let read = false;
    const io: CharacterFileIo = {
      stat: async () => ({ isFile: () => true, isDirectory: () => false, size: MAX_CHARACTER_BYTES * 3 }),
      readFile: async () => {
        read = true;
        return '{}';
      },
    };
    expect(await refusal('/srv/huge.json', io)).toEqual({
      code: 'too-large',
      message: 'The character file /srv/huge.json is 3.0 MB; a character file may be at most 1 MB.',
    });
    expect(read).toBe(false);
  });

  it('refuses an empty file', async () => {
    expect((await refusal(write('empty.json', ' \n'))).message).toMatch(/is empty\.$/);
  });

  it('names the line and column of a JSON syntax error', async () => {
    const file = write('comma.json', '{\n  "name": "Ada",\n}\n');
    expect(await refusal(file)).toEqual({
      code: 'not-json',
      message: `The character file ${file} is not valid JSON: Expected double-quoted property name at line 3, column 1.`,
    });
  });

  it('refuses JSON that is not an object', async () => {
    expect((await refusal(write('list.json', '[{"name":"Ada"}]'))).message).toMatch(/must hold one JSON object \(a character\), but it holds an array\.$/);
  });

  it.each([
    [{ bio: 'x' }, '"name" is missing'],
    [{ name: '', bio: 'x' }, '"name" is empty'],
    [{ name: 'Ada' }, '"bio" is missing'],
    [{ name: 42, bio: 'x' }, '"name" must be a string, not a number'],
    [{ name: 'Ada', bio: 7 }, '"bio" must be a string or an array, not a number'],
    [{ name: 'Ada', bio: 'x', style: { all: 'short' } }, '"style.all" must be an array, not a string'],
    [
      { name: 'Ada', bio: 'x', messageExamples: [[{ name: 'u', content: { text: 5 } }]] },
      '"messageExamples[0][0].content.text" must be a string, not a number',
    ],
    [{ name: 'Ada', bio: 'x', lore: [] }, '"lore" is not a field of an ElizaOS 1.x character'],
    [{ name: 'Ada', bio: 'x', id: 'ada' }, '"id" is not a UUID'],
  ])('refuses %j: %s', async (character, reason) => {
    const file = write('bad.json', JSON.stringify(character));
    const { code, message } = await refusal(file);
    expect(code).toBe('invalid');
    expect(message).toBe(`The character file ${file} is not a valid ElizaOS character: ${reason}.`);
  });

  it('counts the further problems of an invalid character', async () => {
    const file = write('worse.json', JSON.stringify({ name: 1, bio: 2 }));
    expect((await refusal(file)).message).toMatch(/: "name" must be a string, not a number \(and 1 more problem\)\.$/);
  });
});

describe('loadCharacterFiles', () => {
  it('loads several characters in order', async () => {
    const a = write('a.json', JSON.stringify(ada));
    const b = write('b.json', JSON.stringify({ name: 'Babbage', bio: 'Builds engines.' }));
    expect((await loadCharacterFiles([a, b])).map((loaded) => loaded.character.name)).toEqual(['Ada', 'Babbage']);
  });

  it('refuses two characters of one name, since ElizaOS derives the agent id from it', async () => {
    const a = write('a.json', JSON.stringify(ada));
    const twin = write('twin.json', JSON.stringify({ ...ada, bio: 'Another.' }));
    await expect(loadCharacterFiles([a, twin])).rejects.toThrow(
      `The character files ${a} and ${twin} both name their character "Ada"; each agent needs a name of its own.`,
    );
  });
});

describe('describeJsonError', () => {
  it('drops the copy of the input that some V8 messages carry', () => {
    expect(describeJsonError('Unexpected token \'x\', "x secret..." is not valid JSON', 'x secret')).toBe("Unexpected token 'x'");
    expect(describeJsonError('Unexpected end of JSON input', '{')).toBe('Unexpected end of JSON input');
  });
});

describe('unloadedPlugins', () => {
  it('lists what the character names but Purl does not load', () => {
    const character = { ...ada, plugins: ['@elizaos/plugin-sql', '@elizaos/plugin-openai', '@elizaos/plugin-bootstrap'] };
    expect(unloadedPlugins(character, ['@elizaos/plugin-openai'])).toEqual(['@elizaos/plugin-bootstrap']);
    expect(unloadedPlugins(ada, [])).toEqual([]);
  });
});
