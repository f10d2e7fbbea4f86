import { describe, expect, it } from 'vitest';
import { countOf, resultSentence } from './text';

describe('the search result sentence', () => {
  it('says when nothing mentions the text', () => {
    expect(resultSentence(0, ' xyz ', 'all', 'Eliza')).toBe('No saved memory mentions “xyz”.');
    expect(resultSentence(0, 'xyz', 'agent', 'Eliza')).toBe('No saved memory by Eliza mentions “xyz”.');
  });

  it('counts matches, with the author when filtered', () => {
    expect(resultSentence(1, 'coffee', 'all', 'Eliza')).toBe('1 saved memory mentions “coffee”.');
    expect(resultSentence(3, 'coffee', 'user', 'Eliza')).toBe('3 saved memories by User mention “coffee”.');
  });

  it('counts an author’s memories when there is no text', () => {
    expect(resultSentence(12, '', 'agent', 'Eliza')).toBe('12 saved memories by Eliza.');
    expect(resultSentence(0, '', 'user', 'Eliza')).toBe('No saved memories by User.');
  });
});

describe('countOf', () => {
  it('uses the singular for one only', () => {
    expect(countOf(1, 'message')).toBe('1 message');
    expect(countOf(0, 'message')).toBe('0 messages');
  });
});
