// @vitest-environment happy-dom
import { h, render } from 'preact';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Agent } from '../shared/api';
import { Header } from './Header';

let container: HTMLElement;
const agent = (id: string, name: string, status: string): Agent => ({ id, name, bio: '', status });

function show(agents: Agent[], selectedId: string): void {
  render(h(Header, { agents, selectedId, highLoad: false }), container);
}

beforeEach(() => {
  container = document.createElement('div');
  document.body.append(container);
});
afterEach(() => {
  render(null, container);
  container.remove();
});

describe('the agent picker', () => {
  it('marks stopped agents in the list, after the running ones, and says nothing while the chosen one runs', () => {
    show([agent('b', 'Old bot', 'inactive'), agent('a', 'Eliza', 'active'), agent('c', 'New bot', 'unknown')], 'a');
    const options = [...container.querySelectorAll('option')].map((option) => option.textContent);
    expect(options).toEqual(['Eliza', 'New bot', 'Old bot (stopped)']);
    expect(container.querySelector('select')?.value).toBe('a');
    expect(container.querySelector('.agent-stopped')).toBeNull();
  });

  it('says so when the agent shown is stopped', () => {
    show([agent('a', 'Eliza', 'active'), agent('b', 'Old bot', 'inactive')], 'b');
    expect(container.querySelector('[role="status"]')?.textContent).toMatch(/^Old bot is stopped on the server: .* won’t reply until it is started again\.$/);
  });

  it('says so for the only agent, too', () => {
    show([agent('b', 'Old bot', 'inactive')], 'b');
    expect(container.querySelector('.agent-name')?.textContent).toBe('Talking to Old bot');
    expect(container.querySelector('.agent-stopped')?.textContent).toMatch(/^Old bot is stopped/);
  });
});
