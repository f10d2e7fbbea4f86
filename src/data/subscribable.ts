/**
 * A tiny subscribe/unsubscribe base: the resource behind it (a BroadcastChannel, an
 * event listener) is opened on the first listener and closed on the last.
 */
export type Listener<T> = (value: T) => void;

export class Subscribable<T> {
  readonly #listeners = new Set<Listener<T>>();
  readonly #open: (emit: (value: T) => void) => () => void;
  #close: (() => void) | null = null;

  /** `open` starts the resource and returns how to stop it. */
  constructor(open: (emit: (value: T) => void) => () => void) {
    this.#open = open;
  }

  subscribe(listener: Listener<T>): () => void {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.#close = this.#open((value) => this.#emit(value));
    return () => {
      if (!this.#listeners.delete(listener)) return;
      if (this.#listeners.size === 0) {
        this.#close?.();
        this.#close = null;
      }
    };
  }

  #emit(value: T): void {
    for (const listener of [...this.#listeners]) listener(value);
  }
}
