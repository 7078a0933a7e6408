// The microphone level meter: asks the app for `level-meter` every 10 s
// while shown (the app's meter runs 15 s per request), draws the `level`
// events, and sends `level-meter-stop` when hidden or left.

import { reason, type Bridge } from "./bridge";
import { h } from "./dom";
import type { AppEvent, Dispatcher } from "./events";

/** How often the meter is renewed while shown. */
export const RENEW_MS = 10_000;

/** A linear level (0–1) → the bar's fill (0–1) on a 60 dB scale. */
export function levelFill(linear: number): number {
  if (!(linear > 0)) return 0;
  const db = 20 * Math.log10(linear);
  return Math.min(1, Math.max(0, (db + 60) / 60));
}

export interface Meter {
  el: HTMLElement;
  start(): void;
  stop(): void;
  /** Restarts with another device. */
  restart(): void;
}

export function createMeter(bridge: Bridge, events: Dispatcher, device: () => string): Meter {
  const fill = h("div", { class: "meter-fill" });
  const peak = h("div", { class: "meter-peak" });
  const note = h("p", { class: "meter-note", "data-meter-note": true });
  const bar = h("div", { class: "meter", role: "meter", "aria-label": "Microphone level", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0, "data-level-meter": true }, fill, peak);
  const el = h("div", { class: "meter-wrap" }, bar, note);
  let timer: number | null = null;
  let off: (() => void) | null = null;
  let offFinished: (() => void) | null = null;
  let running = false;

  const draw = (rms: number, pk: number): void => {
    const f = levelFill(rms);
    fill.style.transform = `scaleX(${f.toFixed(3)})`;
    bar.classList.toggle("loud", levelFill(pk) > 0.95);
    peak.style.transform = `translateX(${(levelFill(pk) * 100).toFixed(1)}%)`;
    bar.setAttribute("aria-valuenow", String(Math.round(f * 100)));
  };

  const ask = async (): Promise<void> => {
    try {
      const answer = await bridge.request({ cmd: "level-meter", device: device() });
      if (!answer.ok) note.textContent = answer.error ?? "The microphone cannot be measured now.";
      else if (note.textContent && !note.dataset.keep) note.textContent = "";
    } catch (e) {
      note.textContent = reason(e);
    }
  };

  const onVisibility = (): void => {
    if (!running) return;
    if (document.hidden) pause();
    else resume();
  };

  const resume = (): void => {
    if (timer !== null) return;
    void ask();
    timer = window.setInterval(() => void ask(), RENEW_MS);
  };

  const pause = (): void => {
    if (timer !== null) window.clearInterval(timer);
    timer = null;
    draw(0, 0);
    void bridge.request({ cmd: "level-meter-stop" }).catch(() => undefined);
  };

  return {
    el,
    start() {
      if (running) return;
      running = true;
      off = events.on("level", (e: AppEvent) => {
        const rms = typeof e.rms === "number" ? e.rms : 0;
        const pk = typeof e.peak === "number" ? e.peak : rms;
        draw(rms, pk);
      });
      offFinished = events.on("level-finished", (e: AppEvent) => {
        draw(0, 0);
        if (typeof e.error === "string" && e.error) note.textContent = e.error;
      });
      document.addEventListener("visibilitychange", onVisibility);
      if (!document.hidden) resume();
    },
    stop() {
      if (!running) return;
      running = false;
      off?.();
      offFinished?.();
      document.removeEventListener("visibilitychange", onVisibility);
      pause();
    },
    restart() {
      if (!running) return;
      note.textContent = "";
      void ask();
    },
  };
}
