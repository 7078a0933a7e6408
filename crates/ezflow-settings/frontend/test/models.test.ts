import { describe, expect, it } from "vitest";
import type { Answer, Bridge, Request } from "../src/bridge";
import { Dispatcher } from "../src/events";
import { createPage } from "../src/pages/models";

function models(download: unknown = null): Answer {
  return {
    ok: true,
    models: {
      active: "base.en",
      loaded: false,
      recommended: "base.en",
      catalog: [
        { id: "tiny.en-q5_1", size_bytes: 32166155, installed: false, active: false, download },
        { id: "base.en", size_bytes: 147951465, installed: true, active: true, download: null },
      ],
      other: [],
    },
  };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("the Models page", () => {
  it("shows a download's progress in place and its failure in the row", async () => {
    const sent: Request[] = [];
    let downloading = false;
    const bridge: Bridge = {
      async request(r) {
        sent.push(r);
        if (r.cmd === "model-download") downloading = true;
        if (r.cmd === "model-remove") return { ok: false, error: "base.en is the active model" };
        return models(downloading ? { done: 0, total: 32166155, bytes_per_sec: 0 } : null);
      },
      connect: async () => ({}),
      startApp: async () => "",
      onEvent: async () => () => undefined,
      firstPaint: () => undefined,
    };
    const events = new Dispatcher();
    const root = document.createElement("main");
    const page = createPage();
    await page.mount(root, { bridge, events });

    root.querySelector<HTMLButtonElement>('[data-action="download"][data-model="tiny.en-q5_1"]')!.click();
    await tick();
    expect(sent.at(-1)).toEqual({ cmd: "model-download", id: "tiny.en-q5_1" });
    const bar = root.querySelector<HTMLProgressElement>('progress[data-download="tiny.en-q5_1"]')!;
    expect(bar).not.toBeNull();
    events.dispatch({ event: "download", id: "tiny.en-q5_1", done: 16_000_000, total: 32166155, bytes_per_sec: 5242880 });
    expect(bar.value).toBe(16_000_000);
    expect(root.querySelector('[data-download-text="tiny.en-q5_1"]')?.textContent).toContain("5 MB/s");

    downloading = false;
    events.dispatch({ event: "download-finished", id: "tiny.en-q5_1", error: "SHA-256 mismatch" });
    await tick();
    await tick();
    const error = root.querySelector<HTMLElement>('[data-error-for="tiny.en-q5_1"]')!;
    expect(error.hidden).toBe(false);
    expect(error.textContent).toContain("SHA-256");
    page.unmount?.();
    expect(events.size()).toBe(0);
  });
});
