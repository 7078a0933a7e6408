// Performance: memory now, since when the model is loaded, the last load
// time (from `stats`), and charts of recent dictations' latency and
// real-time factor and of memory over the day (from `stats-history`).

import { reason, type Answer } from "../bridge";
import { barChart, lineChart } from "../chart";
import type { Context, Page } from "../context";
import { h } from "../dom";
import { Subscriptions } from "../events";
import { formatBytes, formatClock, formatMs, formatRtf, formatSpan } from "../format";

export interface Stats {
  pss_bytes?: number | null;
  rss_bytes?: number | null;
  model_loaded?: boolean;
  model_loaded_since?: number | null;
  last_load_ms?: number | null;
  dictations_today?: number;
  median_latency_ms?: number | null;
  median_real_time_factor?: number | null;
}

export interface History {
  dictations?: { at: number; audio_ms?: number; latency_ms?: number; real_time_factor?: number }[];
  memory?: { at: number; pss_bytes?: number; why?: string }[];
}

const MIB = 1024 * 1024;

function stat(label: string, value: string, key: string): HTMLElement {
  return h("div", { class: "stat", "data-stat": key }, h("div", { class: "stat-value" }, value), h("div", { class: "stat-label" }, label));
}

/** "loaded 42 min ago" from Unix seconds, against `now` (ms). */
export function loadedSince(since: number | null | undefined, loaded: boolean | undefined, now = Date.now()): string {
  if (!loaded || !since) return "Not loaded";
  return `${formatSpan(Math.max(0, now / 1000 - since))} ago`;
}

function chartCard(title: string, key: string, chart: SVGElement | null, empty: string): HTMLElement {
  return h("section", { class: "card", "data-chart": key }, h("h2", null, title), chart ?? h("p", { class: "chart-empty" }, empty));
}

export function createPage(): Page {
  const subs = new Subscriptions();
  return {
    async mount(root: HTMLElement, ctx: Context) {
      root.append(h("header", { class: "page-head" }, h("h1", null, "Performance"), h("p", { class: "lede" }, "How fast and how light EZ Flow runs on this computer.")));
      const body = h("div", null, h("p", { class: "page-status" }, "Measuring…"));
      root.append(body);

      const reload = async (): Promise<void> => {
        let statsAnswer: Answer;
        let historyAnswer: Answer;
        try {
          [statsAnswer, historyAnswer] = await Promise.all([ctx.bridge.request({ cmd: "stats" }), ctx.bridge.request({ cmd: "stats-history" })]);
        } catch (e) {
          body.replaceChildren(h("p", { class: "page-status" }, reason(e)));
          return;
        }
        const s = (statsAnswer.ok ? statsAnswer.stats : null) as Stats | null;
        const hist = (historyAnswer.ok ? historyAnswer.history : null) as History | null;
        const dictations = hist?.dictations ?? [];
        const memory = hist?.memory ?? [];
        const cards = h("div", { class: "stats" },
          stat("Memory now", formatBytes(s?.pss_bytes ?? s?.rss_bytes ?? null), "memory"),
          stat("Model loaded", loadedSince(s?.model_loaded_since, s?.model_loaded), "loaded-since"),
          stat("Last load took", formatMs(s?.last_load_ms), "last-load"),
          stat("Dictations today", String(s?.dictations_today ?? 0), "today"),
          stat("Median latency", formatMs(s?.median_latency_ms), "latency"),
          stat("Median real-time factor", formatRtf(s?.median_real_time_factor), "rtf"),
        );
        const latency = dictations.length
          ? barChart(dictations.map((d) => ({ x: d.at, y: d.latency_ms ?? 0 })), { label: "Latency of recent dictations", yFormat: (v) => (v === 0 ? "0" : formatMs(v)), xFormat: formatClock })
          : null;
        const rtf = dictations.length
          ? lineChart(dictations.map((d, i) => ({ x: i, y: d.real_time_factor ?? 0 })), { label: "Real-time factor of recent dictations", yFormat: (v) => (v === 0 ? "0" : formatRtf(v)), xFormat: (i) => formatClock(dictations[Math.round(i)]?.at ?? 0) }, true)
          : null;
        const mem = memory.length
          ? lineChart(memory.map((m) => ({ x: m.at, y: (m.pss_bytes ?? 0) / MIB })), { label: "Memory over the day", yFormat: (v) => `${Math.round(v)} MB`, xFormat: formatClock })
          : null;
        body.replaceChildren(
          h("section", { class: "card" }, cards),
          chartCard("Latency: end of speech to text in place", "latency", latency, "No dictations yet."),
          chartCard("Real-time factor (lower is faster)", "rtf", rtf, "No dictations yet."),
          chartCard("Memory over the day", "memory", mem, "No samples yet."),
        );
        if (!statsAnswer.ok) body.prepend(h("p", { class: "notice bad" }, statsAnswer.error ?? "no stats"));
      };

      let pending = false;
      subs.add(ctx.events.on("state", (e) => {
        // A dictation or a load just ended: new figures. One refresh at a time.
        if (e.state !== "idle" || pending) return;
        pending = true;
        void reload().finally(() => {
          pending = false;
        });
      }));
      await reload();
    },
    unmount() {
      subs.dropAll();
    },
  };
}
