// What every page is given: the bridge to the app and the event
// dispatcher. And what a page is.

import type { Bridge } from "./bridge";
import type { Dispatcher } from "./events";

export interface Context {
  bridge: Bridge;
  events: Dispatcher;
  /** Leaves the first-run setup for the normal pages. */
  finishSetup?: () => void;
}

export interface Page {
  /** Builds the page into `root` (already empty) and starts what it needs. */
  mount(root: HTMLElement, ctx: Context): void | Promise<void>;
  /** Stops what the page started (events, meters). */
  unmount?(): void;
}

export interface PageModule {
  createPage(): Page;
}
