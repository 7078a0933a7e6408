// Privacy: the telemetry switch (off unless turned on), what it means in
// one paragraph, the exact JSON of the next batch, and what was sent.

import { reason, type Answer } from "../bridge";
import type { Context, Page } from "../context";
import { toggle } from "../controls";
import { h } from "../dom";
import { Subscriptions } from "../events";
import { fieldRow, flashSaved, showError } from "../fields";

export interface SentBatch {
  sent_at?: string;
  outcome?: string;
  batch?: unknown;
}

export interface TelemetryReport {
  enabled?: boolean;
  endpoint?: string;
  explanation?: string;
  next_batch?: unknown;
  sent?: SentBatch[];
}

export function telemetryOf(answer: Answer): TelemetryReport | null {
  const t = answer.telemetry as TelemetryReport | undefined;
  return t && typeof t === "object" ? t : null;
}

/** The next batch exactly as it would be sent, or why there is none. */
export function batchText(report: TelemetryReport): string {
  if (report.next_batch === null || report.next_batch === undefined) {
    return report.enabled ? "Nothing is waiting to be sent." : "Nothing is collected while this is off.";
  }
  return JSON.stringify(report.next_batch, null, 2);
}

export function createPage(): Page {
  const subs = new Subscriptions();
  return {
    async mount(root: HTMLElement, ctx: Context) {
      const status = h("p", { class: "page-status" }, "Loading…");
      root.append(h("header", { class: "page-head" }, h("h1", null, "Privacy"), h("p", { class: "lede" }, "Your voice and your words never leave this computer.")), status);
      const sw = toggle("telemetry", false, "Send anonymous usage statistics");
      const explanation = h("p", { class: "explain", "data-telemetry-explanation": true });
      const next = h("pre", { "data-telemetry-next": true });
      const sent = h("div", { "data-telemetry-sent": true });
      const endpoint = h("p", { class: "field-help" });
      let shown = false;

      const draw = (t: TelemetryReport): void => {
        sw.checked = t.enabled === true;
        explanation.textContent = t.explanation ?? "";
        next.textContent = batchText(t);
        endpoint.textContent = t.endpoint ? `Sent to ${t.endpoint}` : "";
        const log = t.sent ?? [];
        sent.replaceChildren(
          ...(log.length === 0
            ? [h("p", { class: "field-help" }, "Nothing has been sent.")]
            : log
                .slice()
                .reverse()
                .map((s) =>
                  h("details", null,
                    h("summary", null, `${s.sent_at ?? "?"} · ${s.outcome ?? ""}`),
                    h("pre", null, JSON.stringify(s.batch ?? null, null, 2)),
                  ),
                )),
        );
        if (!shown) {
          shown = true;
          status.remove();
          root.append(
            h("section", { class: "card" },
              fieldRow("telemetry", "Share anonymous usage statistics", "Off unless you turn it on.", sw),
              explanation,
              endpoint,
            ),
            h("section", { class: "card" }, h("h2", null, "The next batch, exactly as it would be sent"), next),
            h("section", { class: "card" }, h("h2", null, "Sent"), sent),
          );
        }
      };

      const reload = async (): Promise<void> => {
        try {
          const answer = await ctx.bridge.request({ cmd: "telemetry" });
          const t = answer.ok ? telemetryOf(answer) : null;
          if (t) draw(t);
          else status.textContent = answer.error ?? "EZ Flow sent no telemetry report";
        } catch (e) {
          status.textContent = reason(e);
        }
      };

      sw.addEventListener("change", () => {
        const wanted = sw.checked;
        void (async () => {
          try {
            const answer = await ctx.bridge.request({ cmd: "telemetry-set", enabled: wanted });
            const t = answer.ok ? telemetryOf(answer) : null;
            if (!answer.ok) {
              showError(root, "telemetry", answer.field_errors?.telemetry ?? answer.error ?? "not saved");
              sw.checked = !wanted;
              return;
            }
            showError(root, "telemetry", null);
            flashSaved(root, "telemetry");
            if (t) draw(t);
          } catch (e) {
            showError(root, "telemetry", reason(e));
            sw.checked = !wanted;
          }
        })();
      });
      subs.add(ctx.events.on("telemetry", () => void reload()));
      await reload();
    },
    unmount() {
      subs.dropAll();
    },
  };
}
