/**
 * Which agents the embedded server runs: the characters of ELIZA_CHARACTER, or the
 * built-in Purl, each with the plugins of the chosen model.
 */
import { purlCharacter } from './character';
import { loadCharacterFiles, unloadedPlugins } from './character-file';
import type { ElizaConfig } from './config';
import type { AgentSpec, RunningAgent } from './eliza-server';
import { characterFor, modelPlugins, pluginVersion } from './model-plugins';
import { describeModel, type ModelChoice } from './model-provider';

/** The agents to start, and lines worth telling the person who started them. */
export async function agentSpecs(config: Pick<ElizaConfig, 'characterFiles' | 'model'>): Promise<{ specs: AgentSpec[]; notes: string[] }> {
  const loaded = config.characterFiles === undefined ? [{ file: undefined, character: purlCharacter }] : await loadCharacterFiles(config.characterFiles);
  const modelPlugin = config.model.kind === 'local' ? [] : [config.model.plugin];
  const notes: string[] = [];
  const specs: AgentSpec[] = [];
  for (const { file, character } of loaded) {
    const skipped = unloadedPlugins(character, modelPlugin);
    if (skipped.length > 0) {
      notes.push(
        `${character.name}: the plugins its character lists are not loaded (${skipped.join(', ')}); Purl loads plugin-sql and the model plugin itself`,
      );
    }
    if (file !== undefined) notes.push(`character ${character.name} from ${file}`);
    specs.push({ character: characterFor(character, config.model), plugins: await modelPlugins(config.model) });
  }
  return { specs, notes };
}

/** One line per agent: its name and what answers for it. */
export function describeAgents(agents: readonly RunningAgent[], model: ModelChoice): string[] {
  const answerer = describeModel(model, model.kind === 'local' ? undefined : pluginVersion(model.plugin));
  return agents.map((agent) => `agent ${agent.name} (${agent.id}) answers with ${answerer}`);
}
