/**
 * High-load mode from the page: `enableHighLoadMode()` / `disableHighLoadMode()` (also
 * on `window`), `?highload=true|false` in the URL, or `localStorage.highLoadMode`. The
 * worker stores the mode and applies it to every tab.
 */
import { askWorker, sendCommand } from './commands';

/**
 * Switches this browser (every tab) to high-load mode: slower polls, fewer requests at
 * once. Resolves once the worker has stored it; rejects with a PurlError saying why not.
 */
export function enableHighLoadMode(): Promise<void> {
  return askWorker({ type: 'set-high-load', on: true });
}

/** Switches this browser back to normal mode; settles as {@link enableHighLoadMode} does. */
export function disableHighLoadMode(): Promise<void> {
  return askWorker({ type: 'set-high-load', on: false });
}

/**
 * `?highload=true|false` in the URL, else `localStorage.highLoadMode`, read at page
 * start; anything else is reported and ignored.
 */
export function applyRequestedMode(): void {
  const fromUrl = new URLSearchParams(location.search).get('highload');
  let fromStorage: string | null = null;
  try {
    fromStorage = localStorage.getItem('highLoadMode');
  } catch {
    // Storage blocked (privacy settings): the URL and the switch still work.
  }
  const requested = fromUrl ?? fromStorage;
  if (requested === null) return;
  if (requested !== 'true' && requested !== 'false') {
    console.error(`Purl: high-load mode must be "true" or "false", got "${requested}"; the mode is unchanged.`);
    return;
  }
  void sendCommand({ type: 'set-high-load', on: requested === 'true' });
}
