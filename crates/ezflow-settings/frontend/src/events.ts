// The event dispatcher: app events (one JSON object each, from the watch
// stream the Rust side forwards) routed by their "event" name to the
// handlers that pages register while they are shown.

export interface AppEvent {
  event: string;
  [field: string]: unknown;
}

export type Handler = (event: AppEvent) => void;

/** Whether `value` looks like an app event. */
export function isAppEvent(value: unknown): value is AppEvent {
  return typeof value === "object" && value !== null && typeof (value as { event?: unknown }).event === "string";
}

export class Dispatcher {
  private handlers = new Map<string, Set<Handler>>();

  /** Calls `handler` for each event named `name` ("*" for every event);
   * returns the function that stops it. */
  on(name: string, handler: Handler): () => void {
    let set = this.handlers.get(name);
    if (!set) {
      set = new Set();
      this.handlers.set(name, set);
    }
    set.add(handler);
    return () => {
      set?.delete(handler);
    };
  }

  /** Hands one event to its handlers. Anything that is not an event is
   * ignored; a failing handler does not stop the others. Returns how many
   * handlers ran. */
  dispatch(value: unknown): number {
    if (!isAppEvent(value)) return 0;
    let ran = 0;
    for (const name of [value.event, "*"]) {
      const set = this.handlers.get(name);
      if (!set) continue;
      for (const handler of [...set]) {
        ran += 1;
        try {
          handler(value);
        } catch (e) {
          console.error(`handler for ${value.event} failed`, e);
        }
      }
    }
    return ran;
  }

  /** How many handlers are registered (tests: pages clean up). */
  size(): number {
    let n = 0;
    for (const set of this.handlers.values()) n += set.size;
    return n;
  }
}

/** A group of subscriptions a page drops together when it is left. */
export class Subscriptions {
  private offs: (() => void)[] = [];
  add(off: () => void): void {
    this.offs.push(off);
  }
  dropAll(): void {
    for (const off of this.offs.splice(0)) off();
  }
}
