// A settings field as the pages show it (label, help, control, inline
// error, "Saved") and saving one value through `settings-set`: a refused
// value shows the app's reason under its field and the control reverts.

import { BridgeError, reason, type Answer, type Bridge } from "./bridge";
import { h } from "./dom";

export type Values = Record<string, unknown>;

/** The `settings` answer's payload. */
export interface SettingsReport {
  values: Values;
  fields?: { key: string; accepts?: string; help?: string; default?: unknown }[];
  start_at_login?: boolean;
  path?: string;
}

export function settingsOf(answer: Answer): SettingsReport | null {
  const s = answer.settings as SettingsReport | undefined;
  return s && typeof s === "object" && s.values && typeof s.values === "object" ? s : null;
}

/** One labelled row: the control carries data-key itself. */
export function fieldRow(key: string, label: string, help: string, control: HTMLElement, ...extra: HTMLElement[]): HTMLElement {
  const id = `field-${key}`;
  if (!control.id) control.id = id;
  return h(
    "div",
    { class: "field", "data-field": key },
    h(
      "div",
      { class: "field-text" },
      h("label", { for: control.id, class: "field-label" }, label),
      help ? h("p", { class: "field-help" }, help) : null,
    ),
    h(
      "div",
      { class: "field-control" },
      control,
      ...extra,
      h("span", { class: "saved", "data-saved-for": key, "aria-live": "polite" }),
      h("p", { class: "field-error", "data-error-for": key, role: "alert", hidden: true }),
    ),
  );
}

/** Shows (or with null, hides) the inline error of `key`. */
export function showError(root: ParentNode, key: string, text: string | null): void {
  const el = root.querySelector<HTMLElement>(`[data-error-for="${key}"]`);
  if (!el) return;
  el.textContent = text ?? "";
  el.hidden = !text;
  const field = root.querySelector<HTMLElement>(`[data-field="${key}"]`);
  field?.classList.toggle("has-error", Boolean(text));
}

const savedTimers = new WeakMap<Element, number>();

/** A brief "Saved" beside the field. */
export function flashSaved(root: ParentNode, key: string): void {
  const el = root.querySelector<HTMLElement>(`[data-saved-for="${key}"]`);
  if (!el) return;
  el.textContent = "Saved";
  el.classList.add("show");
  const old = savedTimers.get(el);
  if (old !== undefined) window.clearTimeout(old);
  savedTimers.set(
    el,
    window.setTimeout(() => {
      el.classList.remove("show");
      el.textContent = "";
    }, 1600),
  );
}

/** The reason an answer refused `key`: its field error, else its error. */
export function refusal(answer: Answer, key: string): string {
  return answer.field_errors?.[key] ?? answer.error ?? "not saved";
}

/** The settings the page shows, and saving them one key at a time. */
export class SettingsForm {
  values: Values = {};
  startAtLogin = false;

  constructor(
    private readonly bridge: Bridge,
    private readonly root: ParentNode,
  ) {}

  apply(report: SettingsReport): void {
    this.values = { ...report.values };
    this.startAtLogin = Boolean(report.start_at_login);
  }

  /** Loads the settings from the app. */
  async load(): Promise<SettingsReport> {
    const answer = await this.bridge.request({ cmd: "settings" });
    const report = answer.ok ? settingsOf(answer) : null;
    if (!report) throw new BridgeError("error", answer.error ?? "EZ Flow sent no settings");
    this.apply(report);
    return report;
  }

  /** Sends `request`; on success shows "Saved", on refusal shows the
   * reason under `key` and calls `revert`. Resolves whether it was saved. */
  async send(key: string, request: { cmd: string; [arg: string]: unknown }, revert: () => void): Promise<boolean> {
    let answer: Answer;
    try {
      answer = await this.bridge.request(request);
    } catch (e) {
      showError(this.root, key, reason(e));
      revert();
      return false;
    }
    if (!answer.ok) {
      showError(this.root, key, refusal(answer, key));
      revert();
      return false;
    }
    const report = settingsOf(answer);
    if (report) this.apply(report);
    showError(this.root, key, null);
    flashSaved(this.root, key);
    return true;
  }

  /** Saves one setting. */
  save(key: string, value: unknown, revert: () => void): Promise<boolean> {
    return this.send(key, { cmd: "settings-set", values: { [key]: value } }, revert);
  }

  /** Checks a value without saving; resolves the refusal or null. */
  async check(key: string, value: unknown): Promise<string | null> {
    try {
      const answer = await this.bridge.request({ cmd: "settings-check", values: { [key]: value } });
      return answer.ok ? null : refusal(answer, key);
    } catch (e) {
      return reason(e);
    }
  }

  str(key: string, fallback = ""): string {
    const v = this.values[key];
    return typeof v === "string" ? v : v === undefined || v === null ? fallback : String(v);
  }
}
