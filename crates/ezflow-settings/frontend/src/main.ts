// The settings window's page: the frame, the connection to the app (or
// the "EZ Flow is not running" screen), the first-run setup when no model
// is installed, and the pages.

import "./styles.css";
import { BridgeError, reason, tauriBridge, type Bridge } from "./bridge";
import type { Context, Page, PageModule } from "./context";
import { h, svg } from "./dom";
import { Dispatcher, type AppEvent } from "./events";
import * as general from "./pages/general";
import { isPageName, Router, type Loaders } from "./router";
import { buildShell, type Shell } from "./shell";

/** A microphone with a slash: the app is not there to listen. */
function micOff(): SVGElement {
  return svg("svg", { viewBox: "0 0 24 24", class: "icon" },
    svg("path", { d: "M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3Zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1A7 7 0 0 0 19 11h-2Z" }),
    svg("path", { d: "M3.3 2.3 2 3.6l18.4 18.4 1.3-1.3Z" }),
  );
}

export const LOADERS: Loaders = {
  general: () => Promise.resolve(general as PageModule),
  models: () => import("./pages/models"),
  privacy: () => import("./pages/privacy"),
  performance: () => import("./pages/performance"),
};

interface ModelsReport {
  catalog?: { installed?: boolean }[];
  other?: unknown[];
}

/** Whether the `models` answer shows no model installed at all. */
export function nothingInstalled(models: ModelsReport | undefined): boolean {
  if (!models) return false;
  const anyCatalog = (models.catalog ?? []).some((m) => m.installed === true);
  return !anyCatalog && (models.other ?? []).length === 0;
}

export class App {
  readonly events = new Dispatcher();
  readonly shell: Shell;
  readonly router: Router;
  private connected = false;
  private painted = false;
  private wanted = "general";
  private setupPage: Page | null = null;

  constructor(
    host: HTMLElement,
    private readonly bridge: Bridge,
  ) {
    this.shell = buildShell(host, (page) => void this.navigate(page));
    const ctx: Context = { bridge, events: this.events, finishSetup: () => void this.showPages() };
    this.router = new Router(this.shell.main, this.shell.nav, LOADERS, ctx);
    this.events.on("state", (e: AppEvent) => this.shell.showState(e));
    this.events.on("connected", (e: AppEvent) => this.shell.showState({ state: e.state }));
    this.events.on("disconnected", () => {
      this.connected = false;
      this.showNotRunning(null);
    });
  }

  async start(): Promise<void> {
    await this.bridge.onEvent((e) => this.events.dispatch(e));
    await this.connect();
  }

  async navigate(page: string): Promise<void> {
    if (!isPageName(page)) return;
    this.wanted = page;
    if (!this.connected) return;
    this.leaveSetup();
    this.shell.root.classList.remove("setup-mode", "offline-mode");
    await this.router.go(page);
    this.paintedOnce();
  }

  /** Opens the event stream and shows the pages (or the setup). */
  async connect(): Promise<void> {
    let hello: unknown;
    try {
      hello = await this.bridge.connect();
    } catch (e) {
      this.showNotRunning(e instanceof BridgeError && e.kind === "not-running" ? null : reason(e));
      return;
    }
    this.connected = true;
    const state = (hello as { state?: unknown } | null)?.state;
    if (typeof state === "string") this.shell.showState({ state });
    let firstRun = false;
    try {
      const answer = await this.bridge.request({ cmd: "models" });
      firstRun = answer.ok && nothingInstalled(answer.models as ModelsReport | undefined);
    } catch {
      firstRun = false;
    }
    if (firstRun) await this.showSetup();
    else await this.showPages();
  }

  private leaveSetup(): void {
    const page = this.setupPage;
    this.setupPage = null;
    page?.unmount?.();
  }

  async showPages(): Promise<void> {
    this.leaveSetup();
    this.shell.root.classList.remove("setup-mode", "offline-mode");
    await this.router.go(this.wanted);
    this.paintedOnce();
  }

  async showSetup(): Promise<void> {
    this.router.leave();
    this.shell.root.classList.add("setup-mode");
    this.shell.main.dataset.currentPage = "setup";
    const setup = await import("./pages/setup");
    const page = setup.createPage();
    this.leaveSetup();
    this.setupPage = page;
    // The setup mounts like a page; leaving it is finishSetup → showPages.
    const ctx: Context = { bridge: this.bridge, events: this.events, finishSetup: () => void this.showPages() };
    this.shell.main.replaceChildren();
    await page.mount(this.shell.main, ctx);
    this.paintedOnce();
  }

  showNotRunning(problem: string | null): void {
    this.leaveSetup();
    this.router.leave();
    this.shell.showState({ state: "offline" });
    this.shell.root.classList.add("offline-mode");
    this.shell.main.dataset.currentPage = "not-running";
    const error = h("p", { class: "field-error", "data-error-for": "start-app", role: "alert", hidden: !problem }, problem ?? "");
    const start = h("button", { type: "button", class: "primary", "data-action": "start-app" }, "Start EZ Flow");
    const retry = h("button", { type: "button", class: "secondary", "data-action": "reconnect" }, "Try again");
    start.addEventListener("click", () => {
      start.disabled = true;
      start.textContent = "Starting…";
      error.hidden = true;
      void this.bridge
        .startApp()
        .then(() => this.connect())
        .catch((e: unknown) => {
          start.disabled = false;
          start.textContent = "Start EZ Flow";
          error.textContent = reason(e);
          error.hidden = false;
        });
    });
    retry.addEventListener("click", () => void this.connect());
    this.shell.main.replaceChildren(
      h("section", { class: "empty", "data-screen": "not-running" },
        h("div", { class: "empty-icon", "aria-hidden": "true" }, micOff()),
        h("h1", null, "EZ Flow is not running"),
        h("p", { class: "lede" }, "The settings talk to the EZ Flow app. Start it, and this window connects."),
        h("div", { class: "actions" }, start, retry),
        error,
      ),
    );
    this.paintedOnce();
  }

  /** Tells the Rust side once that the first screen is painted (two
   * animation frames after it was built). */
  private paintedOnce(): void {
    if (this.painted) return;
    this.painted = true;
    requestAnimationFrame(() => requestAnimationFrame(() => this.bridge.firstPaint()));
  }
}

const host = document.getElementById("app");
if (host && "__TAURI_INTERNALS__" in window) {
  const app = new App(host, tauriBridge);
  void app.start();
}
