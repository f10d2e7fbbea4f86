import { useEffect, useState } from 'preact/hooks';
import { acceptUpdate, isUpdateWaiting, updateReady } from '../link/update';

/** Offers the new version when one is waiting; the worker never swaps under the user. */
export function UpdatePrompt() {
  const [ready, setReady] = useState(isUpdateWaiting);
  useEffect(() => updateReady.subscribe(setReady), []);
  if (!ready) return null;
  return (
    <div class="toast" role="alert">
      <span>A new version is ready.</span>
      <button type="button" onClick={acceptUpdate}>
        Reload
      </button>
    </div>
  );
}
