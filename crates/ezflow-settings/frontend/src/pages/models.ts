// Models: the catalog (size, installed, active), downloads with progress,
// speed and cancel, removing, making one active, and importing a
// faster-whisper folder. Redrawn from `models` answers; progress updates
// in place from `download` events.

import { reason, type Answer, type Bridge } from "../bridge";
import type { Context, Page } from "../context";
import { h } from "../dom";
import { Subscriptions, type AppEvent } from "../events";
import { formatBytes, formatEta, formatSpeed, percent } from "../format";

export interface Download {
  done: number;
  total: number;
  bytes_per_sec: number;
}

export interface CatalogModel {
  id: string;
  description?: string;
  size_bytes?: number;
  english_only?: boolean;
  installed?: boolean;
  active?: boolean;
  download?: Download | null;
  /** What an unfinished download left for the next one to resume. */
  partial_bytes?: number;
}

export interface OtherModel {
  id?: string;
  active?: boolean;
  name: string;
  path?: string;
  size_bytes?: number;
}

export interface ModelsReport {
  active?: string;
  active_installed?: boolean;
  loaded?: boolean;
  recommended?: string;
  dir?: string;
  catalog?: CatalogModel[];
  other?: OtherModel[];
}

export function modelsOf(answer: Answer): ModelsReport | null {
  const m = answer.models as ModelsReport | undefined;
  return m && typeof m === "object" ? m : null;
}

/** An imported model's id (older apps sent none: its file name without
 * `.bin`). */
export function otherId(model: OtherModel): string {
  return model.id ?? model.name.replace(/\.bin$/i, "");
}

/** The progress bar, speed and Cancel of one running download. */
export function progressCell(id: string, d: Download, cancel: HTMLElement | null): HTMLElement {
  const bar = h("progress", { "data-download": id, max: Math.max(1, d.total), value: Math.min(d.done, d.total) });
  const text = h("span", { class: "progress-text", "data-download-text": id });
  setProgressText(text, d);
  return h("div", { class: "progress" }, h("div", { class: "progress-row" }, bar, cancel), text);
}

export function setProgressText(el: HTMLElement, d: Download): void {
  const pct = percent(d.done, d.total);
  const eta = formatEta(d.done, d.total, d.bytes_per_sec);
  el.textContent = `${pct.toFixed(0)}% · ${formatBytes(d.done)} of ${formatBytes(d.total)} · ${formatSpeed(d.bytes_per_sec)}${eta ? ` · ${eta}` : ""}`;
}

/** Updates a drawn download from a `download` event; false if not drawn. */
export function updateProgress(root: ParentNode, e: AppEvent): boolean {
  const id = typeof e.id === "string" ? e.id : "";
  const bar = root.querySelector<HTMLProgressElement>(`progress[data-download="${CSS.escape(id)}"]`);
  if (!bar) return false;
  const d: Download = { done: Number(e.done) || 0, total: Number(e.total) || 0, bytes_per_sec: Number(e.bytes_per_sec) || 0 };
  bar.max = Math.max(1, d.total);
  bar.value = Math.min(d.done, d.total);
  const text = root.querySelector<HTMLElement>(`[data-download-text="${CSS.escape(id)}"]`);
  if (text) setProgressText(text, d);
  return true;
}

/** A row's inline error (a failed download, a refused action). */
function rowError(id: string, text: string | undefined): HTMLElement {
  const el = h("p", { class: "field-error", "data-error-for": id, role: "alert" }, text ?? "");
  el.hidden = !text;
  return el;
}

function button(action: string, model: string, label: string, extra = ""): HTMLButtonElement {
  return h("button", { type: "button", class: `small ${extra}`.trim(), "data-action": action, "data-model": model }, label);
}

/** Sends one model request and shows a refusal in `notice`. Resolves the
 * report of a successful answer. */
export async function modelRequest(bridge: Bridge, request: { cmd: string; [k: string]: unknown }, notice: HTMLElement): Promise<ModelsReport | null> {
  try {
    const answer = await bridge.request(request);
    if (!answer.ok) {
      showNotice(notice, answer.error ?? "refused", true);
      return null;
    }
    return modelsOf(answer);
  } catch (e) {
    showNotice(notice, reason(e), true);
    return null;
  }
}

export function showNotice(el: HTMLElement, text: string | null, bad = false): void {
  el.textContent = text ?? "";
  el.hidden = !text;
  el.classList.toggle("bad", bad);
}

export function createPage(): Page {
  const subs = new Subscriptions();
  return {
    async mount(root: HTMLElement, ctx: Context) {
      const notice = h("p", { class: "notice", role: "status", "data-models-notice": true, hidden: true });
      const table = h("div", { "data-models-table": true }, h("p", { class: "page-status" }, "Loading models…"));
      const path = h("input", { type: "text", "data-import-path": true, placeholder: "/path/to/faster-whisper-model", spellcheck: "false", "aria-label": "faster-whisper folder" });
      const quantize = h("input", { type: "checkbox", "data-import-quantize": true, id: "import-quantize" });
      const importButton = button("import", "", "Import", "");
      importButton.classList.replace("small", "secondary");
      const importStatus = h("p", { class: "progress-text", "data-import-status": true });
      root.append(
        h("header", { class: "page-head" }, h("h1", null, "Models"), h("p", { class: "lede" }, "Bigger models are more accurate and slower. Everything runs on this computer.")),
        notice,
        h("section", { class: "card" }, table),
        h("section", { class: "card" },
          h("h2", null, "Import a faster-whisper model"),
          h("p", { class: "field-help" }, "A CTranslate2 folder (model.bin, config.json, vocabulary) is converted to a model file."),
          h("div", { class: "field-control import-row" }, path, importButton),
          h("label", { class: "field-help", for: "import-quantize" }, quantize, " Quantize to q8_0 (about half the size, nearly the same accuracy)"),
          importStatus,
        ),
      );

      let report: ModelsReport | null = null;
      /** Errors shown in their model's row until that model is acted on again. */
      const rowErrors = new Map<string, string>();
      const draw = (r: ModelsReport): void => {
        report = r;
        const rows = (r.catalog ?? []).map((m) => {
          let badge: HTMLElement;
          let right: HTMLElement;
          if (m.installed) {
            badge = h("span", { class: `badge ${m.active ? "active" : "installed"}` }, m.active ? (r.loaded ? "Active · loaded" : "Active") : "Installed");
            right = h("div", { class: "row-actions" }, ...(m.active ? [] : [button("activate", m.id, "Make active"), button("remove", m.id, "Remove", "danger")]));
          } else {
            badge = m.download
              ? h("span", { class: "badge recommended" }, "Downloading")
              : m.active
              ? h("span", { class: "badge active" }, "Active · not downloaded")
              : h("span", { class: `badge ${m.id === r.recommended ? "recommended" : ""}` }, m.id === r.recommended ? "Recommended" : "Not installed");
            right = m.download
              ? progressCell(m.id, m.download, button("cancel", m.id, "Cancel"))
              : h("div", { class: "row-actions" }, button("download", m.id, m.partial_bytes ? `Resume (${formatBytes(m.partial_bytes)} done)` : "Download"));
          }
          return h("tr", { "data-model-row": m.id },
            h("td", null, h("div", { class: "model-id" }, m.id, " ", badge), m.description ? h("div", { class: "model-desc" }, m.description) : null, rowError(m.id, rowErrors.get(m.id))),
            h("td", { class: "num" }, formatBytes(m.size_bytes)),
            h("td", null, right),
          );
        });
        const others = (r.other ?? []).map((o) => {
          const id = otherId(o);
          const active = o.active ?? (r.active === id || r.active === o.path);
          return h("tr", { "data-model-row": id },
            h("td", null, h("div", { class: "model-id" }, o.name, " ", h("span", { class: `badge ${active ? "active" : "installed"}` }, active ? "Active" : "Imported")), o.path ? h("div", { class: "model-desc" }, o.path) : null, rowError(id, rowErrors.get(id))),
            h("td", { class: "num" }, formatBytes(o.size_bytes)),
            h("td", null, h("div", { class: "row-actions" }, ...(active ? [] : [button("activate", id, "Make active"), button("remove", id, "Remove", "danger")]))),
          );
        });
        table.replaceChildren(
          h("table", { class: "models" },
            h("colgroup", null, h("col", { class: "c-model" }), h("col", { class: "c-size" }), h("col", { class: "c-actions" })),
            h("thead", null, h("tr", null, h("th", null, "Model"), h("th", null, "Size"), h("th", null, ""))),
            h("tbody", null, ...rows, ...others),
          ),
        );
        if (r.dir) table.append(h("p", { class: "field-help" }, `Stored in ${r.dir}`));
      };

      const reload = async (): Promise<void> => {
        const r = await modelRequest(ctx.bridge, { cmd: "models" }, notice);
        if (r) draw(r);
      };

      const COMMANDS: Record<string, string> = { download: "model-download", cancel: "model-cancel", remove: "model-remove", activate: "model-activate" };
      table.addEventListener("click", (e) => {
        const target = (e.target as Element).closest<HTMLButtonElement>("button[data-action]");
        if (!target) return;
        const action = target.dataset.action ?? "";
        const id = target.dataset.model ?? "";
        const cmd = COMMANDS[action];
        if (!cmd || !id) return;
        target.disabled = true;
        showNotice(notice, null);
        rowErrors.delete(id);
        void (async () => {
          try {
            const answer = await ctx.bridge.request({ cmd, id });
            const r = answer.ok ? modelsOf(answer) : null;
            if (!answer.ok) rowErrors.set(id, answer.error ?? "refused");
            if (r) draw(r);
            else if (report) draw(report);
          } catch (e) {
            rowErrors.set(id, reason(e));
            if (report) draw(report);
          }
        })();
      });

      importButton.addEventListener("click", () => {
        const folder = path.value.trim();
        if (!folder) {
          showNotice(notice, "Type the path of a faster-whisper model folder first.", true);
          path.focus();
          return;
        }
        importButton.disabled = true;
        importStatus.textContent = "Starting the import…";
        void modelRequest(ctx.bridge, { cmd: "model-import", path: folder, quantize: quantize.checked ? "q8_0" : null }, notice).then((r) => {
          if (r) draw(r);
          else {
            importButton.disabled = false;
            importStatus.textContent = "";
          }
        });
      });

      subs.add(ctx.events.on("download", (e) => {
        if (!updateProgress(root, e)) void reload();
      }));
      subs.add(ctx.events.on("download-finished", (e) => {
        const id = typeof e.id === "string" ? e.id : "";
        if (typeof e.error === "string" && e.error) rowErrors.set(id, `Download stopped: ${e.error}`);
        else {
          rowErrors.delete(id);
          showNotice(notice, `${id} is downloaded.`);
        }
        void reload();
      }));
      subs.add(ctx.events.on("models", () => void reload()));
      subs.add(ctx.events.on("state", (e) => {
        if (report && typeof e.model_loaded === "boolean" && e.model_loaded !== report.loaded) void reload();
      }));
      subs.add(ctx.events.on("import", (e) => {
        importButton.disabled = true;
        importStatus.textContent = `Importing: ${typeof e.step === "string" ? e.step : "working"}…`;
      }));
      subs.add(ctx.events.on("import-finished", (e) => {
        importButton.disabled = false;
        if (typeof e.error === "string" && e.error) {
          importStatus.textContent = "";
          showNotice(notice, `Import failed: ${e.error}`, true);
        } else {
          importStatus.textContent = `Imported ${String(e.id ?? "")}.`;
          path.value = "";
        }
        void reload();
      }));
      await reload();
    },
    unmount() {
      subs.dropAll();
    },
  };
}
