import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { documentedDefault } from './read';
import { type Setting, SETTINGS } from './table';

const README = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'README.md');

/** The README's settings table: each variable named in a row's first cell, with that row's default cell. */
function readmeTable(): Map<string, string> {
  const text = fs.readFileSync(README, 'utf8');
  const section = text.slice(text.indexOf('## Environment variables'), text.indexOf('\n## ', text.indexOf('## Environment variables') + 1));
  const rows = new Map<string, string>();
  for (const line of section.split('\n').filter((row) => row.startsWith('| `'))) {
    const [names = '', fallback = ''] = line
      .split('|')
      .slice(1)
      .map((cell) => cell.trim());
    for (const [, name] of names.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) {
      expect(rows.has(name!), `${name} is in the README's table twice`).toBe(false);
      rows.set(name!, fallback);
    }
  }
  return rows;
}

const documented = Object.entries(SETTINGS as Record<string, Setting<unknown>>).filter(([, setting]) => !setting.internal);

describe("the README's settings table", () => {
  const rows = readmeTable();

  it('names every variable users may set, with its default', () => {
    expect(documented.length).toBeGreaterThan(40);
    for (const [name, setting] of documented) {
      expect(rows.has(name), `${name} is missing from the README's table`).toBe(true);
      expect(rows.get(name), name).toBe(documentedDefault(setting));
    }
  });

  it('names nothing the settings table does not declare, and no internal variable', () => {
    const declared = new Set(documented.map(([name]) => name));
    for (const name of rows.keys()) expect(declared.has(name), `${name} is in the README but not in server/settings/table.ts`).toBe(true);
  });
});
