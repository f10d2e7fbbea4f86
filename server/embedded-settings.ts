/**
 * What the embedded ElizaOS will run, checked before it starts: the character files of
 * ELIZA_CHARACTER (read and validated here, so a bad file stops `npm start` at once with
 * one sentence), the model chosen from the provider variables, and where it runs.
 */
import { characterPaths, loadCharacterFiles } from './eliza/character-file';
import { chooseModel, type ModelChoice } from './eliza/model-provider';
import { readSettings } from './settings/read';

export interface EmbeddedSettings {
  /** Absolute paths of the checked character files, or undefined for the built-in Purl. */
  readonly characterFiles: readonly string[] | undefined;
  readonly model: ModelChoice;
  /** POSTGRES_URL, checked: ElizaOS's database on PostgreSQL instead of PGlite. */
  readonly postgresUrl: string | undefined;
  /** ELIZA_PORT: where it listens; 0 picks a free port. */
  readonly port: number;
  /** PURL_DATA_DIR as given (relative to the project root). */
  readonly dataDir: string;
  /** ELIZA_LOG_LEVEL. */
  readonly logLevel: string;
}

/**
 * Reads ELIZA_CHARACTER (relative paths from `baseDir`, the folder `npm start` was typed
 * in), the model variables and the rest of the embedded server's settings from the table
 * (server/settings/). Throws an error whose message is one sentence.
 */
export async function readEmbeddedSettings(env: NodeJS.ProcessEnv, baseDir: string): Promise<EmbeddedSettings> {
  const settings = readSettings(env);
  const model = chooseModel(env);
  const files = characterPaths(settings.ELIZA_CHARACTER?.join(','), baseDir);
  if (files !== undefined) await loadCharacterFiles(files);
  return {
    characterFiles: files,
    model,
    postgresUrl: settings.POSTGRES_URL,
    port: settings.ELIZA_PORT,
    dataDir: settings.PURL_DATA_DIR,
    logLevel: settings.ELIZA_LOG_LEVEL,
  };
}
