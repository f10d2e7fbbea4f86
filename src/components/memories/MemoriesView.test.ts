// @vitest-environment happy-dom
import { h, render } from 'preact';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Memory } from '../../shared/api';
import { openPurlDB, type PurlDatabase } from '../../shared/db';
import { CHANNEL_NAME } from '../../shared/messages';
import { MemoriesView } from './MemoriesView';
import { MEMORIES_HASH } from './route';

// The DOM is happy-dom's; IndexedDB is fake-indexeddb (vitest.setup.ts) and
// BroadcastChannel is Node's, as happy-dom provides neither.
// One fake IndexedDB for the file: the page's connection (src/data/sources.ts) is opened
// once and kept. Each test uses its own agent id instead of a fresh database.
let db: PurlDatabase;
let container: HTMLElement;
let nextAgent = 0;

function memory(agentId: string, id: string, createdAt: number, overrides: Partial<Memory> = {}): Memory {
  return { id, agentId, roomId: 'room-1', entityId: 'user-1', createdAt, text: `text ${id}`, isAgent: false, ...overrides };
}

async function seed(memories: readonly Memory[]): Promise<void> {
  const tx = db.transaction('memories', 'readwrite');
  for (const item of memories) void tx.store.put(item);
  await tx.done;
}

function show(agentId: string): void {
  render(h(MemoriesView, { agentId, agentName: 'Eliza' }), container);
}

function all(selector: string): HTMLElement[] {
  return [...container.querySelectorAll<HTMLElement>(selector)];
}

function one<T extends HTMLElement = HTMLElement>(selector: string): T {
  const found = container.querySelector<T>(selector);
  if (!found) throw new Error(`nothing matches ${selector}`);
  return found;
}

/** As a pointer click does: focus moves to the control, then the click bubbles. */
function click(element: HTMLElement): void {
  element.focus();
  element.click();
}

/** Sets a control's value and fires the event Preact listens to, as typing or choosing would. */
function enter(control: HTMLInputElement | HTMLSelectElement, value: string, type: 'input' | 'change'): void {
  control.value = value;
  control.dispatchEvent(new Event(type, { bubbles: true }));
}

function texts(selector: string): string[] {
  return all(selector).map((element) => element.textContent ?? '');
}

/** Retries `check` until it passes: effects and IndexedDB reads settle asynchronously. */
function settle(check: () => void): Promise<void> {
  return vi.waitFor(check, { timeout: 2_000, interval: 10 });
}

beforeAll(async () => {
  db = await openPurlDB();
});

beforeEach(() => {
  container = document.body.appendChild(document.createElement('div'));
});

afterEach(() => {
  render(null, container);
  container.remove();
  history.replaceState(null, '', '#');
});

function newAgent(): string {
  nextAgent += 1;
  return `agent-${nextAgent}`;
}

describe('the memories browser', () => {
  it('says there are no memories yet when nothing is saved', async () => {
    show(newAgent());
    expect(one('.conversation-list').textContent).toContain('Loading saved conversations');
    await settle(() => expect(one('.conversation-list').textContent).toContain('No memories yet.'));
  });

  it('lists conversations, opens one into the hash and the transcript, and Back returns focus to its row', async () => {
    const agentId = newAgent();
    await seed([
      memory(agentId, 'a1', 1, { roomId: 'room-a', text: 'Old question' }),
      memory(agentId, 'b1', 5, { roomId: 'room b', text: 'Newer question' }),
      memory(agentId, 'b2', 6, { roomId: 'room b', entityId: agentId, isAgent: true, text: 'An answer' }),
    ]);
    show(agentId);
    await settle(() => expect(texts('.conversation-preview')).toEqual(['Newer question', 'Old question']));
    expect(one('.conversation-row').textContent).toContain('2 messages');

    const row = one('.conversation-row[data-room-id="room b"]');
    click(row);
    await settle(() => expect(texts('.transcript .memory-text')).toEqual(['Newer question', 'An answer']));
    expect(location.hash).toBe(`${MEMORIES_HASH}/room%20b`);
    expect(one('.memories-browser').getAttribute('data-view')).toBe('conversation');
    expect(document.activeElement).toBe(one('.transcript-title'));
    expect(texts('.transcript .memory-author')).toEqual(['User', 'Eliza']);
    expect(row.getAttribute('aria-current')).toBe('true');

    click(one('.transcript-back'));
    await settle(() => expect(container.querySelector('.transcript')).toBeNull());
    expect(location.hash).toBe('');
    expect(document.activeElement).toBe(row);
  });

  it('falls back to the list when the hash names a conversation that is not saved', async () => {
    const agentId = newAgent();
    await seed([memory(agentId, 'm1', 1)]);
    history.replaceState(null, '', `${MEMORIES_HASH}/no-such-room`);
    show(agentId);
    await settle(() => expect(location.hash).toBe(MEMORIES_HASH));
    await settle(() => expect(container.querySelector('.transcript')).toBeNull());
    expect(texts('.conversation-preview')).toEqual(['text m1']);
  });

  it('renders memory text as text, never as HTML, and folds the agent’s thought and actions', async () => {
    const agentId = newAgent();
    const hostile = '<img src=x onerror="alert(1)"> **bold**';
    await seed([
      memory(agentId, 'u', 1, { text: hostile }),
      memory(agentId, 'a', 2, { entityId: agentId, isAgent: true, text: 'Reply', thought: 'Be kind', actions: ['REPLY', 'WAVE'] }),
    ]);
    history.replaceState(null, '', `${MEMORIES_HASH}/room-1`);
    const innerHTMLWrites = vi.spyOn(Element.prototype, 'innerHTML', 'set');
    show(agentId);
    await settle(() => expect(texts('.transcript .memory-text')).toEqual([hostile, 'Reply']));
    expect(all('img')).toHaveLength(0);
    expect(innerHTMLWrites).not.toHaveBeenCalled();
    const details = all('.memory-details');
    expect(details).toHaveLength(1);
    expect(details[0]!.getAttribute('open')).toBeNull();
    expect(details[0]!.querySelector('summary')?.textContent).toBe('Thought and actions');
    expect(details[0]!.textContent).toContain('Be kind');
    expect(details[0]!.textContent).toContain('REPLY, WAVE');
  });

  it('searches after a pause in typing, announces the count, and says when nothing matches', async () => {
    const agentId = newAgent();
    await seed([
      memory(agentId, 'u1', 1, { text: 'The Café is open', roomId: 'room-x' }),
      memory(agentId, 'a1', 2, { entityId: agentId, isAgent: true, text: 'Cafe hours are 9 to 5', roomId: 'room-x' }),
      memory(agentId, 'u2', 3, { text: 'Something else', roomId: 'room-y' }),
    ]);
    show(agentId);
    await settle(() => expect(all('.conversation-row')).toHaveLength(2));
    const input = one<HTMLInputElement>('#memories-search-text');
    enter(input, 'cafe', 'input');
    await settle(() => expect(one('.search-count').textContent).toBe('2 saved memories mention “cafe”.'));
    expect(one('.search-count').getAttribute('aria-live')).toBe('polite');
    expect(texts('.search-row .memory-text')).toEqual(['Cafe hours are 9 to 5', 'The Café is open']);
    expect(one('.search-open').textContent).toContain('“The Café is open”');

    const author = one<HTMLSelectElement>('#memories-author');
    enter(author, 'agent', 'change');
    await settle(() => expect(one('.search-count').textContent).toBe('1 saved memory by Eliza mentions “cafe”.'));

    enter(input, 'zebra', 'input');
    await settle(() => expect(one('.search-count').textContent).toBe('No saved memory by Eliza mentions “zebra”.'));
    expect(all('.search-row')).toHaveLength(0);

    enter(input, '', 'input');
    enter(author, 'all', 'change');
    await settle(() => expect(all('.conversation-row')).toHaveLength(2));
  });

  it('opens a search result’s conversation', async () => {
    const agentId = newAgent();
    await seed([memory(agentId, 'x', 1, { roomId: 'room-x', text: 'needle' }), memory(agentId, 'y', 2, { roomId: 'room-y' })]);
    show(agentId);
    const input = one<HTMLInputElement>('#memories-search-text');
    enter(input, 'needle', 'input');
    await settle(() => expect(all('.search-open')).toHaveLength(1));
    click(one('.search-open'));
    await settle(() => expect(texts('.transcript .memory-text')).toEqual(['needle']));
    expect(location.hash).toBe(`${MEMORIES_HASH}/room-x`);
    expect(one('.transcript-back').textContent).toContain('Back to search results');
  });

  it('shows conversations a page of 50 at a time and moves focus to the top of a new page', async () => {
    const agentId = newAgent();
    await seed(Array.from({ length: 120 }, (_, i) => memory(agentId, `m${i}`, i, { roomId: `room-${i}`, text: `room ${i}` })));
    show(agentId);
    await settle(() => expect(all('.conversation-row')).toHaveLength(50));
    expect(texts('.conversation-preview')[0]).toBe('room 119');
    expect(one('.memories-pager p').textContent).toBe('1–50 of 120 conversations');
    const [previous, next] = all('.memories-pager button');
    expect(previous!.getAttribute('disabled')).not.toBeNull();
    click(next!);
    await settle(() => expect(texts('.conversation-preview')[0]).toBe('room 69'));
    expect(document.activeElement).toBe(one('.memories-index-title'));
    click(next!);
    await settle(() => expect(all('.conversation-row')).toHaveLength(20));
    expect(one('.memories-pager p').textContent).toBe('101–120 of 120 conversations');
  });

  it('re-reads when the worker says memories changed', async () => {
    const agentId = newAgent();
    await seed([memory(agentId, 'first', 1, { roomId: 'room-1' })]);
    show(agentId);
    await settle(() => expect(all('.conversation-row')).toHaveLength(1));
    await seed([memory(agentId, 'second', 2, { roomId: 'room-2', text: 'Just arrived' })]);
    const worker = new BroadcastChannel(CHANNEL_NAME);
    worker.postMessage({ type: 'data-changed', stores: ['memories'] });
    try {
      await settle(() => expect(texts('.conversation-preview')).toEqual(['Just arrived', 'text first']));
    } finally {
      worker.close();
    }
  });

  it('shows at most 200 memories of a 10,000-memory conversation and pages back through it', async () => {
    const agentId = newAgent();
    await seed(Array.from({ length: 10_000 }, (_, i) => memory(agentId, `m${String(i).padStart(5, '0')}`, 1_000 + i, { text: `message ${i}` })));
    history.replaceState(null, '', `${MEMORIES_HASH}/room-1`);
    show(agentId);
    await settle(() => expect(all('.transcript .memory')).toHaveLength(50));
    expect(texts('.transcript .memory-text').at(-1)).toBe('message 9999');
    for (let step = 1; step <= 5; step += 1) {
      click(one('.transcript-more'));
      const expected = Math.min(50 + step * 50, 200);
      const oldest = step <= 3 ? 10_000 - expected : 10_000 - 200 - (step - 3) * 50;
      await settle(() => expect(texts('.transcript .memory-text')[0]).toBe(`message ${oldest}`));
      expect(all('.memory').length).toBeLessThanOrEqual(200);
    }
    expect(texts('.transcript-more')).toEqual(['Show earlier messages', 'Show the latest messages']);
    click(all('.transcript-more')[1]!);
    await settle(() => expect(texts('.transcript .memory-text').at(-1)).toBe('message 9999'));
  });
});
