/** BENCHMARKS.md, where each bench writes its own section between its markers. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'BENCHMARKS.md');

/** Puts `markdown` between the markers `start` and `end` of BENCHMARKS.md (at its end when they are missing). */
export function writeBetween(start: string, end: string, markdown: string): void {
  const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n';
  const block = markdown.startsWith(start) ? markdown : `${start}\n${markdown}\n${end}`;
  const next = current.includes(start) ? current.replace(new RegExp(`${start}[\\s\\S]*${end}`), () => block) : `${current.trimEnd()}\n\n${block}\n`;
  fs.writeFileSync(file, next);
}
