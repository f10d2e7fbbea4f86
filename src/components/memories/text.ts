/** Sentences and labels of the memories browser, kept apart from markup so they can be tested. */
import type { AuthorFilter } from '../../shared/memory-queries';

const numberFormat = new Intl.NumberFormat();
const rangeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** "1 message", "1,204 messages". */
export function countOf(count: number, singular: string, plural = `${singular}s`): string {
  return `${numberFormat.format(count)} ${count === 1 ? singular : plural}`;
}

/** "3 May 2025, 10:02 – 11:15": the day is said once when both ends share it. */
export function formatSpan(firstAt: number, lastAt: number): string {
  return firstAt === lastAt ? rangeFormat.format(firstAt) : rangeFormat.formatRange(firstAt, lastAt);
}

/** Who wrote a memory, as the browser names them. */
export function authorName(isAgent: boolean, agentName: string): string {
  return isAgent ? agentName : 'User';
}

/**
 * What a search found, as one sentence for the live region: "No saved memory mentions
 * “xyz”.", "3 saved memories by User mention “coffee”.", "12 saved memories by Eliza."
 */
export function resultSentence(total: number, text: string, author: AuthorFilter, agentName: string): string {
  const by = author === 'all' ? '' : ` by ${authorName(author === 'agent', agentName)}`;
  const quoted = text.trim();
  if (quoted === '') return total === 0 ? `No saved memories${by}.` : `${countOf(total, 'saved memory', 'saved memories')}${by}.`;
  if (total === 0) return `No saved memory${by} mentions “${quoted}”.`;
  return `${countOf(total, 'saved memory', 'saved memories')}${by} ${total === 1 ? 'mentions' : 'mention'} “${quoted}”.`;
}
