/**
 * Just enough DOM for Preact to render the memories browser in a Node test: elements,
 * text, attributes, bubbling events, focus, `location.hash` and `history`. No
 * dependency: unit tests run in Node and the repository has no DOM emulator.
 * Test-only; nothing in the app imports it.
 */
type Listener = (this: FakeElement, event: FakeEvent) => void;

export interface FakeEvent {
  type: string;
  target: FakeElement;
  currentTarget: FakeElement;
  defaultPrevented: boolean;
  preventDefault(): void;
}

class FakeNode {
  parentNode: FakeElement | null = null;
  readonly nodeType: number;
  constructor(nodeType: number) {
    this.nodeType = nodeType;
  }
  get ownerDocument(): FakeDocument {
    return fakeDocument;
  }
  get nextSibling(): FakeNode | null {
    const siblings = this.parentNode?.childNodes;
    return siblings?.[siblings.indexOf(this) + 1] ?? null;
  }
  get isConnected(): boolean {
    return this.parentNode === fakeDocument.body || (this.parentNode?.isConnected ?? false);
  }
  get textContent(): string {
    return '';
  }
  remove(): void {
    this.parentNode?.removeChild(this);
  }
}

class FakeText extends FakeNode {
  data: string;
  constructor(data: string) {
    super(3);
    this.data = String(data);
  }
  override get textContent(): string {
    return this.data;
  }
}

/** A compound selector: tag, `#id`, `.class` and `[attr]` / `[attr="value"]` parts. */
function matchesCompound(element: FakeElement, compound: string): boolean {
  const parts = compound.match(/[#.][\w-]+|\[[\w-]+(?:="(?:[^"\\]|\\.)*")?\]|^[\w-]+|^\*/g) ?? [];
  if (parts.join('') !== compound) throw new Error(`the fake DOM cannot match ${compound}`);
  return parts.every((part) => {
    if (part === '*') return true;
    if (part.startsWith('#')) return element.getAttribute('id') === part.slice(1);
    if (part.startsWith('.')) return element.classList.includes(part.slice(1));
    if (!part.startsWith('[')) return element.localName === part;
    const [, name = '', quoted] = /^\[([\w-]+)(?:="(.*)")?\]$/.exec(part) ?? [];
    const value = element.getAttribute(name);
    return quoted === undefined ? value !== null : value === quoted.replace(/\\(.)/g, '$1');
  });
}

export class FakeElement extends FakeNode {
  readonly localName: string;
  readonly childNodes: FakeNode[] = [];
  readonly style: Record<string, string> = {};
  readonly #attributes = new Map<string, string>();
  readonly #listeners = new Map<string, Set<Listener>>();
  /** Set when anything assigns innerHTML: the browser must never do that with server text. */
  innerHTMLWrites = 0;
  constructor(localName: string) {
    super(1);
    this.localName = localName;
    // Form controls have a `value` property, which Preact sets directly.
    if (['input', 'select', 'textarea', 'option'].includes(localName)) Object.assign(this, { value: '' });
  }
  get innerHTML(): string {
    return '';
  }
  set innerHTML(_html: string) {
    this.innerHTMLWrites += 1;
  }
  get attributes(): { name: string; value: string }[] {
    return [...this.#attributes].map(([name, value]) => ({ name, value }));
  }
  get classList(): string[] {
    return (this.getAttribute('class') ?? '').split(/\s+/).filter(Boolean);
  }
  get firstChild(): FakeNode | null {
    return this.childNodes[0] ?? null;
  }
  override get textContent(): string {
    return this.childNodes.map((child) => child.textContent).join('');
  }
  override set textContent(text: string) {
    for (const child of [...this.childNodes]) this.removeChild(child);
    if (text) this.appendChild(new FakeText(text));
  }
  insertBefore(node: FakeNode, before: FakeNode | null): FakeNode {
    node.remove();
    const index = before ? this.childNodes.indexOf(before) : -1;
    this.childNodes.splice(index < 0 ? this.childNodes.length : index, 0, node);
    node.parentNode = this;
    return node;
  }
  appendChild(node: FakeNode): FakeNode {
    return this.insertBefore(node, null);
  }
  removeChild(node: FakeNode): FakeNode {
    const index = this.childNodes.indexOf(node);
    if (index >= 0) this.childNodes.splice(index, 1);
    node.parentNode = null;
    if (fakeDocument.activeElement && node instanceof FakeElement && node.contains(fakeDocument.activeElement)) fakeDocument.activeElement = null;
    return node;
  }
  contains(node: FakeNode | null): boolean {
    for (let current = node; current; current = current.parentNode) if (current === this) return true;
    return false;
  }
  setAttribute(name: string, value: unknown): void {
    this.#attributes.set(name, String(value));
  }
  getAttribute(name: string): string | null {
    return this.#attributes.get(name) ?? null;
  }
  removeAttribute(name: string): void {
    this.#attributes.delete(name);
  }
  addEventListener(type: string, listener: Listener): void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(listener);
  }
  removeEventListener(type: string, listener: Listener): void {
    this.#listeners.get(type)?.delete(listener);
  }
  /** Dispatches a bubbling event, as a click or an input would. */
  dispatch(type: string): FakeEvent {
    const event: FakeEvent = { type, target: this, currentTarget: this, defaultPrevented: false, preventDefault: () => (event.defaultPrevented = true) };
    for (let current: FakeElement | null = this; current; current = current.parentNode) {
      event.currentTarget = current;
      for (const listener of current.#listeners.get(type) ?? []) listener.call(current, event);
    }
    return event;
  }
  focus(): void {
    fakeDocument.activeElement = this;
  }
  querySelectorAll<T = FakeElement>(selector: string): T[] {
    const compounds = selector.trim().split(/\s+(?=(?:[^"]*"[^"]*")*[^"]*$)/);
    const found: FakeElement[] = [];
    const visit = (element: FakeElement) => {
      for (const child of element.childNodes) {
        if (!(child instanceof FakeElement)) continue;
        if (matchesChain(child, compounds, this)) found.push(child);
        visit(child);
      }
    };
    visit(this);
    return found as T[];
  }
  querySelector<T = FakeElement>(selector: string): T | null {
    return this.querySelectorAll<T>(selector)[0] ?? null;
  }
}

/** Descendant combinators: the last compound matches `element`, the others its ancestors below `root`. */
function matchesChain(element: FakeElement, compounds: readonly string[], root: FakeElement): boolean {
  const last = compounds.at(-1);
  if (last === undefined || !matchesCompound(element, last)) return false;
  let rest = compounds.slice(0, -1);
  for (let ancestor = element.parentNode; ancestor && ancestor !== root && rest.length > 0; ancestor = ancestor.parentNode) {
    if (matchesCompound(ancestor, rest.at(-1)!)) rest = rest.slice(0, -1);
  }
  return rest.length === 0;
}

class FakeDocument {
  readonly nodeType = 9;
  readonly body = new FakeElement('body');
  activeElement: FakeElement | null = null;
  createElementNS(_namespace: string | null, name: string): FakeElement {
    return new FakeElement(name);
  }
  createElement(name: string): FakeElement {
    return new FakeElement(name);
  }
  createTextNode(data: string): FakeText {
    return new FakeText(data);
  }
}

const fakeDocument = new FakeDocument();

/** A window-like target for hashchange and popstate, with a history stack. */
function installWindow(): void {
  const listeners = new Map<string, Set<() => void>>();
  const entries: { hash: string; state: unknown }[] = [{ hash: '', state: null }];
  let index = 0;
  const fire = (type: string) => listeners.get(type)?.forEach((listener) => listener());
  // As in browsers, a bare '#' reads back as ''.
  const hashOf = (url: string) => (url.startsWith('#') && url !== '#' ? url : '');
  Object.assign(globalThis, {
    document: fakeDocument,
    HTMLElement: FakeElement,
    CSS: { escape: (value: string) => value.replace(/["\\]/g, '\\$&') },
    addEventListener: (type: string, listener: () => void) => {
      let set = listeners.get(type);
      if (!set) listeners.set(type, (set = new Set()));
      set.add(listener);
    },
    removeEventListener: (type: string, listener: () => void) => listeners.get(type)?.delete(listener),
    location: {
      get hash() {
        return entries[index]!.hash;
      },
      set hash(hash: string) {
        entries.splice(++index, entries.length, { hash: hash.startsWith('#') ? hash : `#${hash}`, state: null });
        fire('hashchange');
      },
    },
    history: {
      get state() {
        return entries[index]!.state;
      },
      pushState: (state: unknown, _title: string, url: string) => void entries.splice(++index, entries.length, { hash: hashOf(url), state }),
      replaceState: (state: unknown, _title: string, url: string) => void (entries[index] = { hash: hashOf(url), state }),
      back: () => {
        if (index === 0) return;
        index -= 1;
        // Browsers traverse asynchronously.
        setTimeout(() => {
          fire('popstate');
          fire('hashchange');
        });
      },
    },
  });
}

/** Installs the fake globals and returns a fresh container attached to the body. */
export function installFakeDom(): { container: FakeElement; document: FakeDocument } {
  if (!('document' in globalThis)) installWindow();
  const container = new FakeElement('div');
  fakeDocument.body.appendChild(container);
  return { container, document: fakeDocument };
}

/** Polls until `check` stops throwing (effects and IndexedDB reads settle asynchronously). */
export async function settle(check: () => void, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}
