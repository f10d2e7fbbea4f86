import { useEffect, useState } from 'preact/hooks';
import { install, installOffer } from '../data/install';

/** "Install Purl", shown only while the browser offers installation. */
export function InstallButton() {
  const [available, setAvailable] = useState(false);
  useEffect(() => installOffer.subscribe(setAvailable), []);
  if (!available) return null;
  return (
    <button type="button" class="install" onClick={() => void install()}>
      Install Purl
    </button>
  );
}
