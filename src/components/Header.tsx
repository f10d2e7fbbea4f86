import { isAgentStopped, pickerOrder } from '../shared/agent-choice';
import type { Agent } from '../shared/api';
import { sendCommand } from '../link/commands';
import { InstallButton } from './InstallButton';

export interface HeaderProps {
  agents: readonly Agent[];
  selectedId: string | undefined;
  highLoad: boolean;
}

export function Header({ agents, selectedId, highLoad }: HeaderProps) {
  const selected = agents.find((agent) => agent.id === selectedId);
  return (
    <header class="app-header">
      <h1 class="brand">
        <img src="/icons/icon.svg" alt="" width={28} height={28} />
        Purl
      </h1>
      {highLoad && (
        <p class="badge" title="Slower polls and fewer requests at once, for every tab of this browser">
          High-load mode
        </p>
      )}
      <InstallButton />
      {agents.length > 1 ? (
        <label class="agent-picker">
          Agent
          <select value={selectedId} onChange={(event) => void sendCommand({ type: 'select-agent', agentId: event.currentTarget.value })}>
            {pickerOrder(agents).map((agent) => (
              <option key={agent.id} value={agent.id}>
                {isAgentStopped(agent) ? `${agent.name} (stopped)` : agent.name}
              </option>
            ))}
          </select>
        </label>
      ) : (
        selected && <p class="agent-name">Talking to {selected.name}</p>
      )}
      {selected && isAgentStopped(selected) && (
        <p class="agent-stopped" role="status">
          {selected.name} is stopped on the server: its memories can be read, but it won’t reply until it is started again.
        </p>
      )}
    </header>
  );
}
