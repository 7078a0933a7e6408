// The window's frame: the header with the app's live state, the sidebar,
// the page container, and the screens shown instead of the pages (EZ Flow
// not running, first-run setup).

import type { AppEvent } from "./events";
import { h, svg } from "./dom";

export interface Shell {
  root: HTMLElement;
  nav: HTMLElement;
  main: HTMLElement;
  state: HTMLElement;
  /** Shows the app's state ("loading" shows "Loading model…"). */
  showState(event: Partial<AppEvent> & { state?: unknown; model?: unknown; model_loaded?: unknown }): void;
}

const NAV: { page: string; label: string; icon: string }[] = [
  { page: "general", label: "General", icon: "M12 8a4 4 0 1 0 0 8 4 4 0 0 0 0-8Zm8.9 5-.1-2 2-1.6-2-3.4-2.4.9a8 8 0 0 0-1.7-1l-.4-2.5h-4l-.4 2.5-1.7 1-2.4-.9-2 3.4 2 1.6a8 8 0 0 0 0 2l-2 1.6 2 3.4 2.4-.9 1.7 1 .4 2.5h4l.4-2.5 1.7-1 2.4.9 2-3.4Z" },
  { page: "models", label: "Models", icon: "M12 2 3 7v10l9 5 9-5V7l-9-5Zm0 2.3L18.7 8 12 11.7 5.3 8 12 4.3ZM5 9.7l6 3.3v6.6l-6-3.3V9.7Zm8 9.9V13l6-3.3v6.6l-6 3.3Z" },
  { page: "privacy", label: "Privacy", icon: "M12 2 4 5v6c0 5 3.4 9.7 8 11 4.6-1.3 8-6 8-11V5l-8-3Zm0 2.2 6 2.2V11c0 4-2.6 7.7-6 8.9-3.4-1.2-6-4.9-6-8.9V6.4l6-2.2Z" },
  { page: "performance", label: "Performance", icon: "M3 20h18v-2H3v2Zm2-4h3V9H5v7Zm5 0h3V4h-3v12Zm5 0h3v-5h-3v5Z" },
];

/** People's words for the app's states. */
export function stateLabel(state: string): string {
  switch (state) {
    case "idle":
      return "Ready";
    case "loading":
      return "Loading model…";
    case "recording":
      return "Listening";
    case "transcribing":
      return "Transcribing…";
    case "inserting":
      return "Inserting text";
    case "error":
      return "Needs attention";
    case "no-model":
      return "No model yet";
    case "offline":
      return "Not running";
    case "connecting":
      return "Connecting…";
    default:
      return state;
  }
}

function icon(path: string): SVGElement {
  return svg("svg", { viewBox: "0 0 24 24", "aria-hidden": "true", class: "icon" }, svg("path", { d: path }));
}

export function buildShell(host: HTMLElement, onNavigate: (page: string) => void): Shell {
  const stateText = h("span", { class: "state-text" }, stateLabel("connecting"));
  const modelText = h("span", { class: "state-model" });
  const state = h("div", { class: "state", "data-app-state": "connecting", role: "status", "aria-live": "polite" }, h("span", { class: "state-dot", "aria-hidden": "true" }), stateText, modelText);
  const header = h("header", { class: "topbar" }, h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }, icon("M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3Zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1A7 7 0 0 0 19 11h-2Z")), h("span", null, "EZ Flow")), state);
  const nav = h("nav", { class: "sidebar", "aria-label": "Settings pages" });
  for (const item of NAV) {
    const button = h("button", { type: "button", class: "nav-item", "data-page": item.page }, icon(item.icon), h("span", null, item.label));
    button.addEventListener("click", () => onNavigate(item.page));
    nav.appendChild(button);
  }
  const main = h("main", { class: "content", "data-current-page": "", tabindex: "-1" });
  const root = h("div", { class: "shell" }, header, h("div", { class: "body" }, nav, main));
  host.replaceChildren(root);
  return {
    root,
    nav,
    main,
    state,
    showState(event) {
      const s = typeof event.state === "string" ? event.state : "idle";
      state.dataset.appState = s;
      stateText.textContent = stateLabel(s);
      if (typeof event.model === "string" && event.model) {
        // While it loads, "Loading model…" says it all.
        const loaded = event.model_loaded === true ? "in memory" : event.model_loaded === false && s !== "loading" ? "not loaded" : "";
        modelText.textContent = loaded ? `${event.model} · ${loaded}` : event.model;
      } else if (s === "offline") {
        modelText.textContent = "";
      }
    },
  };
}
