/**
 * Which agent Purl shows. ElizaOS lists stopped agents too (`status: 'inactive'`): they
 * keep their memories but answer nothing, so Purl never picks one by itself while a
 * running agent exists. An agent the user picked stays picked while the server has it.
 */
import type { Agent } from './api';

/** The choice as kept in IndexedDB: the agent, and whether the user picked it. */
export interface AgentSelection {
  agentId: string | undefined;
  isByUser: boolean;
}

/** True for an agent ElizaOS reports as stopped ('inactive'); an unknown status counts as running. */
export function isAgentStopped(agent: Pick<Agent, 'status'>): boolean {
  return agent.status === 'inactive';
}

/** The agent to show, or undefined when the server has none. */
export function chooseAgent(agents: readonly Agent[], selection: AgentSelection): string | undefined {
  const current = agents.find((agent) => agent.id === selection.agentId);
  if (current && (selection.isByUser || !isAgentStopped(current))) return current.id;
  const running = agents.find((agent) => !isAgentStopped(agent));
  // All stopped: keep the one shown, else the first, so its memories can still be read.
  return (running ?? current ?? agents[0])?.id;
}

/** The picker's order: running agents first, then stopped ones, each by name. */
export function pickerOrder(agents: readonly Agent[]): Agent[] {
  return [...agents].sort((a, b) => Number(isAgentStopped(a)) - Number(isAgentStopped(b)) || a.name.localeCompare(b.name));
}
