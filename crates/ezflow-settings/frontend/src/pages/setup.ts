// First run (no model installed): 1 pick a model (the recommended one
// preselected), 2 download it, 3 try the microphone, 4 try the shortcut
// once, 5 the telemetry question ("No" by default). Every step but the
// model choice can be skipped; "Done" goes to the normal pages.

import type { Context, Page } from "../context";
import { h } from "../dom";
import { Subscriptions } from "../events";
import { formatBytes } from "../format";
import { createMeter, type Meter } from "../meter";
import { modelRequest, modelsOf, progressCell, showNotice, updateProgress, type CatalogModel, type ModelsReport } from "./models";

export const STEPS = ["model", "download", "microphone", "hotkey", "telemetry"] as const;
export type Step = (typeof STEPS)[number];

/** The step after `step`, or null after the last. */
export function nextStep(step: Step): Step | null {
  const i = STEPS.indexOf(step);
  return STEPS[i + 1] ?? null;
}

/** How many models the first step shows before "Show all". */
export const SHORT_LIST = 4;

/** The models the first step offers, best first: the recommended one,
 * then the rest from small to large (catalog order among equals). */
export function offerOrder(report: ModelsReport): CatalogModel[] {
  const catalog = [...(report.catalog ?? [])];
  return catalog
    .map((m, i) => ({ m, i }))
    .sort((a, b) => {
      if (a.m.id === report.recommended) return -1;
      if (b.m.id === report.recommended) return 1;
      return (a.m.size_bytes ?? 0) - (b.m.size_bytes ?? 0) || a.i - b.i;
    })
    .map(({ m }) => m);
}

/** The model preselected: the recommended one, else the smallest. */
export function preselect(report: ModelsReport): string {
  const catalog = report.catalog ?? [];
  if (report.recommended && catalog.some((m) => m.id === report.recommended)) return report.recommended;
  const smallest = [...catalog].sort((a, b) => (a.size_bytes ?? 0) - (b.size_bytes ?? 0))[0];
  return smallest?.id ?? "";
}

export function createPage(): Page {
  const subs = new Subscriptions();
  let stepSubs = new Subscriptions();
  let meter: Meter | null = null;

  return {
    async mount(root: HTMLElement, ctx: Context) {
      const notice = h("p", { class: "notice", role: "status", hidden: true });
      const progress = h("ol", { class: "steps", "aria-hidden": "true" }, ...STEPS.map(() => h("li")));
      const body = h("div", { class: "step-body" });
      const wrap = h("div", { class: "setup", "data-setup": true },
        h("header", { class: "page-head" }, h("h1", null, "Welcome to EZ Flow"), h("p", { class: "lede" }, "A few steps and you can dictate anywhere. Everything runs on this computer.")),
        progress,
        notice,
        body,
      );
      root.replaceChildren(wrap);

      let report: ModelsReport = {};
      let chosen = "";
      let downloaded = false;

      const answer = await modelRequest(ctx.bridge, { cmd: "models" }, notice);
      if (answer) report = answer;
      chosen = preselect(report);

      const actions = (step: Step, next: () => void, nextLabel = "Continue", skippable = true, nextEnabled = true): HTMLElement => {
        const nextButton = h("button", { type: "button", class: "primary", "data-setup-action": step === "telemetry" ? "done" : "next" }, nextLabel);
        nextButton.disabled = !nextEnabled;
        nextButton.addEventListener("click", next);
        const skip = skippable ? h("button", { type: "button", class: "secondary", "data-setup-action": "skip" }, "Skip") : null;
        skip?.addEventListener("click", () => go(nextStep(step)));
        return h("div", { class: "step-actions" }, skip ?? h("span"), nextButton);
      };

      const go = (step: Step | null): void => {
        stepSubs.dropAll();
        stepSubs = new Subscriptions();
        meter?.stop();
        meter = null;
        showNotice(notice, null);
        if (step === null) {
          ctx.finishSetup?.();
          return;
        }
        const index = STEPS.indexOf(step);
        progress.querySelectorAll("li").forEach((li, i) => {
          li.className = i < index ? "done" : i === index ? "current" : "";
        });
        const section = h("section", { class: "card", "data-setup-step": step });
        body.replaceChildren(section);
        STEP_VIEWS[step](section);
      };

      const STEP_VIEWS: Record<Step, (section: HTMLElement) => void> = {
        model(section) {
          const ordered = offerOrder(report);
          const options = ordered.map((m: CatalogModel) => {
            const radio = h("input", { type: "radio", name: "setup-model", value: m.id, "data-model": m.id });
            radio.checked = m.id === chosen;
            radio.addEventListener("change", () => {
              chosen = m.id;
            });
            return h("label", { class: "option" }, radio, h("span", null,
              h("strong", null, m.id), m.id === report.recommended ? h("span", { class: "badge active" }, " Recommended") : null,
              h("br"), h("span", { class: "muted" }, `${formatBytes(m.size_bytes)}${m.description ? ` · ${m.description}` : ""}`),
            ));
          });
          const more = h("button", { type: "button", class: "small", "data-setup-action": "all-models" }, `Show all ${options.length} models`);
          options.forEach((o, i) => {
            o.hidden = i >= SHORT_LIST && ordered[i]?.id !== chosen;
          });
          more.hidden = options.every((o) => !o.hidden);
          more.addEventListener("click", () => {
            for (const o of options) o.hidden = false;
            more.hidden = true;
          });
          section.append(
            h("h2", null, "Step 1 of 5 · Choose a speech model"),
            h("p", { class: "field-help" }, "Bigger models are more accurate and slower. You can change it later under Models."),
            ...options,
            more,
            actions("model", () => {
              if (chosen) go("download");
            }, "Download", false, options.length > 0),
          );
        },
        download(section) {
          const slot = h("div");
          const status = h("p", { class: "field-help" }, `Downloading ${chosen}…`);
          const next = actions("download", () => go("microphone"), "Continue", true, downloaded);
          const nextButton = next.querySelector<HTMLButtonElement>("[data-setup-action=next]");
          section.append(h("h2", null, "Step 2 of 5 · Download"), status, slot, next);
          const finish = (): void => {
            downloaded = true;
            status.replaceChildren(h("span", { class: "success" }, `${chosen} is ready.`));
            slot.replaceChildren();
            if (nextButton) nextButton.disabled = false;
            // Use it: the app's model may be another catalog id.
            if (report.active !== chosen) void modelRequest(ctx.bridge, { cmd: "model-activate", id: chosen }, notice);
          };
          if (downloaded) {
            finish();
            return;
          }
          stepSubs.add(ctx.events.on("download", (e) => {
            if (e.id !== chosen) return;
            if (!updateProgress(slot, e)) {
              slot.replaceChildren(progressCell(chosen, { done: Number(e.done) || 0, total: Number(e.total) || 0, bytes_per_sec: Number(e.bytes_per_sec) || 0 }, null));
            }
          }));
          stepSubs.add(ctx.events.on("download-finished", (e) => {
            if (e.id !== chosen) return;
            if (typeof e.error === "string" && e.error) {
              showNotice(notice, `The download failed: ${e.error}`, true);
              status.textContent = "You can try again, or skip and download it later under Models.";
              const retry = h("button", { type: "button", class: "secondary", "data-action": "download", "data-model": chosen }, "Try again");
              retry.addEventListener("click", () => go("download"));
              slot.replaceChildren(retry);
            } else finish();
          }));
          void modelRequest(ctx.bridge, { cmd: "model-download", id: chosen }, notice).then((r) => {
            const m = r?.catalog?.find((c) => c.id === chosen);
            if (m?.installed) finish();
            else if (m?.download && !slot.firstChild) slot.replaceChildren(progressCell(chosen, m.download, null));
            if (r) report = { ...report, ...r };
          });
        },
        microphone(section) {
          meter = createMeter(ctx.bridge, ctx.events, () => "");
          section.append(
            h("h2", null, "Step 3 of 5 · Try your microphone"),
            h("p", null, "Say something. The bar should move as you speak."),
            h("div", { class: "field-control" }, meter.el),
            actions("microphone", () => go("hotkey")),
          );
          meter.start();
        },
        hotkey(section) {
          const result = h("p", { class: "field-help", "data-hotkey-result": true, "aria-live": "polite" }, "Waiting for the shortcut…");
          const keys = h("p", { class: "hotkey-hint" });
          void ctx.bridge.request({ cmd: "settings" }).then((a) => {
            const values = (a.settings as { values?: Record<string, unknown> } | undefined)?.values;
            const hk = typeof values?.hotkey === "string" ? values.hotkey : "Ctrl+Alt+Space";
            keys.replaceChildren(h("span", { class: "hotkey" }, ...hk.split("+").map((k) => h("kbd", null, k))));
          }).catch(() => undefined);
          const next = actions("hotkey", () => go("telemetry"));
          stepSubs.add(ctx.events.on("state", (e) => {
            if (e.state === "recording") {
              result.replaceChildren(h("span", { class: "success" }, "It works! EZ Flow is listening."));
            } else if (e.state === "loading") {
              result.textContent = "Loading the model…";
            }
          }));
          section.append(
            h("h2", null, "Step 4 of 5 · Try the shortcut"),
            h("p", null, "Click into any text field, hold the shortcut and speak:"),
            keys,
            result,
            next,
          );
        },
        telemetry(section) {
          const no = h("input", { type: "radio", name: "setup-telemetry", value: "no", "data-telemetry-choice": "no" });
          const yes = h("input", { type: "radio", name: "setup-telemetry", value: "yes", "data-telemetry-choice": "yes" });
          no.checked = true;
          section.append(
            h("h2", null, "Step 5 of 5 · Help improve EZ Flow?"),
            h("p", null, "EZ Flow can send anonymous usage statistics: how long dictations take and which model is used. Never audio or text. You can see every batch under Privacy."),
            h("label", { class: "option" }, no, h("span", null, h("strong", null, "No"), h("br"), h("span", { class: "muted" }, "Send nothing."))),
            h("label", { class: "option" }, yes, h("span", null, h("strong", null, "Yes"), h("br"), h("span", { class: "muted" }, "Send anonymous statistics."))),
            actions("telemetry", () => {
              if (!yes.checked) {
                go(null);
                return;
              }
              void ctx.bridge.request({ cmd: "telemetry-set", enabled: true }).then((a) => {
                if (a.ok) go(null);
                else showNotice(notice, a.error ?? "not saved", true);
              }).catch((e: unknown) => showNotice(notice, String(e), true));
            }, "Done"),
          );
        },
      };

      subs.add(ctx.events.on("models", () => {
        void ctx.bridge.request({ cmd: "models" }).then((a) => {
          const r = a.ok ? modelsOf(a) : null;
          if (r) report = r;
        }).catch(() => undefined);
      }));
      go("model");
    },
    unmount() {
      subs.dropAll();
      stepSubs.dropAll();
      meter?.stop();
      meter = null;
    },
  };
}
