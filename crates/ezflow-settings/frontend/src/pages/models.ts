// Models: the catalog (size, installed, active), downloads with progress,
// speed and cancel, removing, making one active, adding a model from a URL
// (name, URL, SHA-256; refusals shown beside their field), and importing a
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

/** A running download of a model outside the catalog (`model-download-url`). */
export interface UrlDownload extends Download {
  id: string;
  url?: string;
}

export interface ModelsReport {
  active?: string;
  active_installed?: boolean;
  loaded?: boolean;
  recommended?: string;
  dir?: string;
  catalog?: CatalogModel[];
  other?: OtherModel[];
  /** Running downloads of models from a URL (older apps send none). */
  downloads?: UrlDownload[];
}

/** The fields of the add-a-model form, as `model-download-url` names them. */
export const ADD_FIELDS = ["name", "url", "sha256"] as const;

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
  const bar = h("progress", { "data-download": id });
  setBar(bar, d);
  const text = h("span", { class: "progress-text", "data-download-text": id });
  setProgressText(text, d);
  return h("div", { class: "progress" }, h("div", { class: "progress-row" }, bar, cancel), text);
}

/** Bytes the bar keeps ahead of a download whose size the server did not
 * say: the bar creeps on and the text says the size is unknown. */
const UNKNOWN_AHEAD = 64 * 1024 * 1024;

function setBar(bar: HTMLProgressElement, d: Download): void {
  const known = d.total > 0;
  bar.classList.toggle("unknown-total", !known);
  bar.max = known ? d.total : d.done + UNKNOWN_AHEAD;
  bar.value = known ? Math.min(d.done, d.total) : d.done;
}

export function setProgressText(el: HTMLElement, d: Download): void {
  if (!(d.total > 0)) {
    el.textContent = `${formatBytes(d.done)} of an unknown size · ${formatSpeed(d.bytes_per_sec)}`;
    return;
  }
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
  setBar(bar, d);
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

/** One labelled text field of the add-a-model form, with its inline error
 * (`data-error-for="add-<field>"`). */
function addField(field: string, label: string, placeholder: string): { row: HTMLElement; input: HTMLInputElement; error: HTMLElement } {
  const input = h("input", { type: "text", id: `add-${field}`, "data-add": field, placeholder, spellcheck: "false", autocomplete: "off" });
  const error = h("p", { class: "field-error", "data-error-for": `add-${field}`, role: "alert", hidden: true });
  const row = h("div", { class: "field", "data-field": `add-${field}` },
    h("div", { class: "field-text" }, h("label", { for: input.id, class: "field-label" }, label)),
    h("div", { class: "field-control" }, input, error),
  );
  return { row, input, error };
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
      const add = {
        name: addField("name", "Name", "my-model"),
        url: addField("url", "URL", "https://example.com/ggml-my-model.bin"),
        sha256: addField("sha256", "SHA-256", "64 hex digits, as the model's publisher lists them"),
      };
      const addButton = button("download-url", "", "Add and download", "");
      addButton.classList.replace("small", "secondary");
      const addError = h("p", { class: "field-error", "data-error-for": "add-form", role: "alert", hidden: true });
      root.append(
        h("header", { class: "page-head" }, h("h1", null, "Models"), h("p", { class: "lede" }, "Bigger models are more accurate and slower. Everything runs on this computer.")),
        notice,
        h("section", { class: "card" }, table),
        h("section", { class: "card", "data-add-model": true },
          h("h2", null, "Add a model from a URL"),
          h("p", { class: "field-help" }, "A Whisper model file in GGML format (ggml-*.bin) that is not in the list, such as your organisation's own. It is checked against its SHA-256 before it is installed."),
          add.name.row,
          add.url.row,
          add.sha256.row,
          h("div", { class: "field-control" }, addButton, addError),
        ),
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
      /** Downloads from a URL this page has shown (id → URL), so that one
       * that fails keeps a row for its error until dismissed. */
      const urlDownloads = new Map<string, string>();
      const draw = (r: ModelsReport): void => {
        report = r;
        for (const d of r.downloads ?? []) urlDownloads.set(d.id, d.url ?? "");
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
            h("td", null, h("div", { class: "model-id" }, o.name, " ", h("span", { class: `badge ${active ? "active" : "installed"}` }, active ? "Active" : "Installed")), o.path ? h("div", { class: "model-desc" }, o.path) : null, rowError(id, rowErrors.get(id))),
            h("td", { class: "num" }, formatBytes(o.size_bytes)),
            h("td", null, h("div", { class: "row-actions" }, ...(active ? [] : [button("activate", id, "Make active"), button("remove", id, "Remove", "danger")]))),
          );
        });
        const installedOther = new Set((r.other ?? []).map(otherId));
        const running = new Map((r.downloads ?? []).map((d) => [d.id, d] as const));
        const fromUrl = [...urlDownloads].filter(([id]) => !installedOther.has(id) && (running.has(id) || rowErrors.has(id))).map(([id, url]) => {
          const d = running.get(id);
          return h("tr", { "data-model-row": id },
            h("td", null,
              h("div", { class: "model-id" }, id, " ", h("span", { class: `badge ${d ? "recommended" : ""}` }, d ? "Downloading" : "Not installed")),
              url ? h("div", { class: "model-desc" }, url) : null,
              rowError(id, rowErrors.get(id)),
            ),
            h("td", { class: "num" }, d && d.total > 0 ? formatBytes(d.total) : "–"),
            h("td", null, d ? progressCell(id, d, button("cancel", id, "Cancel")) : h("div", { class: "row-actions" }, button("dismiss", id, "Dismiss"))),
          );
        });
        for (const id of installedOther) urlDownloads.delete(id);
        table.replaceChildren(
          h("table", { class: "models" },
            h("colgroup", null, h("col", { class: "c-model" }), h("col", { class: "c-size" }), h("col", { class: "c-actions" })),
            h("thead", null, h("tr", null, h("th", null, "Model"), h("th", null, "Size"), h("th", null, ""))),
            h("tbody", null, ...rows, ...others, ...fromUrl),
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
        if (action === "dismiss") {
          urlDownloads.delete(id);
          rowErrors.delete(id);
          if (report) draw(report);
          return;
        }
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

      const showAddErrors = (errors: Record<string, string>, general: string | null): void => {
        for (const field of ADD_FIELDS) {
          const text = errors[field] ?? null;
          showNotice(add[field].error, text);
          add[field].row.classList.toggle("has-error", Boolean(text));
        }
        showNotice(addError, general);
      };
      addButton.addEventListener("click", () => {
        const request = { cmd: "model-download-url", name: add.name.input.value.trim(), url: add.url.input.value.trim(), sha256: add.sha256.input.value.trim() };
        addButton.disabled = true;
        showAddErrors({}, null);
        void (async () => {
          try {
            const answer = await ctx.bridge.request(request);
            const fields = answer.field_errors ?? {};
            if (!answer.ok) {
              // A refusal that names no field of the form shows under it.
              const named = ADD_FIELDS.some((f) => fields[f]);
              showAddErrors(fields, named ? null : answer.error ?? "refused");
              return;
            }
            for (const field of ADD_FIELDS) add[field].input.value = "";
            rowErrors.delete(request.name);
            urlDownloads.set(request.name, request.url);
            const r = modelsOf(answer);
            if (r) draw(r);
          } catch (e) {
            showAddErrors({}, reason(e));
          } finally {
            addButton.disabled = false;
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
