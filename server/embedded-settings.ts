/**
 * What the embedded ElizaOS will run, checked before it starts: the character files of
 * ELIZA_CHARACTER (read and validated here, so a bad file stops `npm start` at once with
 * one sentence) and the model chosen from the provider variables.
 */
import { characterPaths, loadCharacterFiles } from './eliza/character-file';
import { parsePostgresUrl } from './eliza/config';
import { chooseModel, type ModelChoice } from './eliza/model-provider';

export interface EmbeddedSettings {
  /** Absolute paths of the checked character files, or undefined for the built-in Purl. */
  readonly characterFiles: readonly string[] | undefined;
  readonly model: ModelChoice;
  /** POSTGRES_URL, checked: ElizaOS's database on PostgreSQL instead of PGlite. */
  readonly postgresUrl: string | undefined;
}

/**
 * Reads ELIZA_CHARACTER (relative paths from `baseDir`, the folder `npm start` was typed
 * in) and the model variables. Throws an error whose message is one sentence.
 */
export async function readEmbeddedSettings(env: NodeJS.ProcessEnv, baseDir: string): Promise<EmbeddedSettings> {
  const model = chooseModel(env);
  const postgresUrl = parsePostgresUrl(env['POSTGRES_URL']);
  const files = characterPaths(env['ELIZA_CHARACTER'], baseDir);
  if (files !== undefined) await loadCharacterFiles(files);
  return { characterFiles: files, model, postgresUrl };
}
