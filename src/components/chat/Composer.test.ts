// @vitest-environment happy-dom
import { h, render } from 'preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_MESSAGE_LENGTH } from '../../shared/api';
import { Composer } from './Composer';

let container: HTMLElement;

beforeEach(() => {
  container = document.createElement('div');
  document.body.append(container);
  localStorage.clear();
});

afterEach(() => {
  render(null, container);
  container.remove();
});

function typeInto(text: string): HTMLTextAreaElement {
  const box = container.querySelector('textarea')!;
  box.value = text;
  box.dispatchEvent(new Event('input', { bubbles: true }));
  return box;
}

async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 0));
}

describe('the composer', () => {
  it('refuses a message longer than ElizaOS accepts, saying the limit, and queues nothing', async () => {
    const onSend = vi.fn();
    render(h(Composer, { agentName: 'Purl', draftKey: 'draft-test', onSend }), container);
    typeInto('x'.repeat(MAX_MESSAGE_LENGTH + 12));
    await settle();
    expect(container.querySelector('#composer-hint')!.textContent).toBe(`12 characters over the limit of ${MAX_MESSAGE_LENGTH}; shorten it to send.`);
    expect(container.querySelector<HTMLButtonElement>('button[type=submit]')!.disabled).toBe(true);
    container.querySelector('form')!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    await settle();
    expect(onSend).not.toHaveBeenCalled();
    // What was typed is kept, to shorten.
    expect(localStorage.getItem('draft-test')).toHaveLength(MAX_MESSAGE_LENGTH + 12);
  });

  it('sends a message of exactly the limit', async () => {
    const onSend = vi.fn();
    render(h(Composer, { agentName: 'Purl', draftKey: 'draft-test', onSend }), container);
    typeInto('y'.repeat(MAX_MESSAGE_LENGTH));
    await settle();
    container.querySelector('form')!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    await settle();
    expect(onSend).toHaveBeenCalledWith('y'.repeat(MAX_MESSAGE_LENGTH));
  });
});
