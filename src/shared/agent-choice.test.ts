import { describe, expect, it } from 'vitest';
import type { Agent } from './api';
import { chooseAgent, isAgentStopped, pickerOrder } from './agent-choice';

const agent = (id: string, status: string): Agent => ({ id, name: id, bio: '', status });
const byDefault = (agentId?: string) => ({ agentId, isByUser: false });
const byUser = (agentId: string) => ({ agentId, isByUser: true });

describe('choosing the agent to show', () => {
  it('skips stopped agents when choosing by itself', () => {
    expect(chooseAgent([agent('stopped', 'inactive'), agent('running', 'active')], byDefault())).toBe('running');
  });

  it('moves away from an agent it chose by itself once that agent stops', () => {
    expect(chooseAgent([agent('a', 'inactive'), agent('b', 'active')], byDefault('a'))).toBe('b');
  });

  it('keeps a running agent it chose, even when another comes first', () => {
    expect(chooseAgent([agent('a', 'active'), agent('b', 'active')], byDefault('b'))).toBe('b');
  });

  it('keeps the agent the user picked, stopped or not', () => {
    expect(chooseAgent([agent('a', 'active'), agent('b', 'inactive')], byUser('b'))).toBe('b');
  });

  it('chooses again when the picked agent is gone from the server', () => {
    expect(chooseAgent([agent('a', 'inactive'), agent('c', 'active')], byUser('b'))).toBe('c');
  });

  it('shows a stopped agent when every agent is stopped, keeping the one shown', () => {
    expect(chooseAgent([agent('a', 'inactive'), agent('b', 'inactive')], byDefault())).toBe('a');
    expect(chooseAgent([agent('a', 'inactive'), agent('b', 'inactive')], byDefault('b'))).toBe('b');
  });

  it('has nothing to show without agents', () => {
    expect(chooseAgent([], byDefault('a'))).toBeUndefined();
  });

  it('counts only "inactive" as stopped', () => {
    expect(isAgentStopped({ status: 'inactive' })).toBe(true);
    expect(isAgentStopped({ status: 'active' })).toBe(false);
    expect(isAgentStopped({ status: 'unknown' })).toBe(false);
  });

  it('lists running agents first, then stopped ones, each by name', () => {
    const agents = [agent('Zed', 'active'), agent('Bob', 'inactive'), agent('Amy', 'active'), agent('Al', 'inactive')];
    expect(pickerOrder(agents).map((item) => item.name)).toEqual(['Amy', 'Zed', 'Al', 'Bob']);
  });
});
