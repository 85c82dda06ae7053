// A lifetime. One per connection and one per channel: everything opened inside registers
// a disposer here, and closing the scope runs them last-in-first-out. A disposer added to
// a closed scope runs at once, so a listener that finishes binding after its connection
// went away is closed rather than leaked.

export type Disposer = () => void | Promise<void>;

/** One reason for every close: abort() without one builds an error and stack per scope. */
const CLOSED = new Error('scope closed');
const DONE = Promise.resolve();

export class Scope {
  // Made on first use: most scopes (one per forwarded connection) never hand out a signal.
  #controller: AbortController | undefined;
  readonly #disposers: Disposer[] = [];
  readonly #onError: (err: unknown) => void;
  #closing: Promise<void> | undefined;

  constructor(onError: (err: unknown) => void = () => {}) {
    this.#onError = onError;
  }

  /** Aborted (with one shared reason) when the scope closes. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.closed) this.#controller.abort(CLOSED);
    }
    return this.#controller.signal;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** A child scope that closes when this one does, and can close earlier on its own. */
  child(): Scope {
    const child = new Scope(this.#onError);
    const remove = this.defer(() => child.close());
    child.defer(remove);
    return child;
  }

  /**
   * Registers a disposer; returns a function that unregisters it without running it.
   * On a closed scope the disposer runs immediately.
   */
  defer(disposer: Disposer): () => void {
    if (this.closed) {
      void this.#run(disposer);
      return () => {};
    }
    this.#disposers.push(disposer);
    return () => {
      const i = this.#disposers.lastIndexOf(disposer);
      if (i >= 0) this.#disposers.splice(i, 1);
    };
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = DONE; // closed from here on: a disposer deferred now runs at once
    this.#controller?.abort(CLOSED);
    const pending: Promise<void>[] = [];
    while (this.#disposers.length > 0) {
      const disposer = this.#disposers.pop();
      const running = disposer && this.#run(disposer);
      if (running) pending.push(running);
    }
    if (pending.length > 0) this.#closing = Promise.all(pending).then(() => undefined);
    return this.#closing;
  }

  /** Runs a disposer; returns a promise only for one that is still running. */
  #run(disposer: Disposer): Promise<void> | undefined {
    try {
      const result = disposer();
      if (result instanceof Promise) return result.catch((err: unknown) => this.#onError(err));
    } catch (err) {
      this.#onError(err);
    }
    return undefined;
  }
}
