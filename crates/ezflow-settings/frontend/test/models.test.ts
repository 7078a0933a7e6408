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

describe("adding a model from a URL", () => {
  const SHA = "ab".repeat(32);

  function page(answer: (r: Request) => Answer) {
    const sent: Request[] = [];
    const bridge: Bridge = {
      async request(r) {
        sent.push(r);
        return answer(r);
      },
      connect: async () => ({}),
      startApp: async () => "",
      onEvent: async () => () => undefined,
      firstPaint: () => undefined,
    };
    return { sent, bridge };
  }

  function fill(root: HTMLElement, name: string, url: string, sha256: string): void {
    for (const [field, value] of [["name", name], ["url", url], ["sha256", sha256]]) {
      root.querySelector<HTMLInputElement>(`[data-add="${field}"]`)!.value = value;
    }
    root.querySelector<HTMLButtonElement>('[data-action="download-url"]')!.click();
  }

  const shown = (root: HTMLElement, key: string) => {
    const el = root.querySelector<HTMLElement>(`[data-error-for="${key}"]`)!;
    return el.hidden ? null : el.textContent;
  };

  it("shows each refusal beside its field and keeps what was typed", async () => {
    const { sent, bridge } = page((r) =>
      r.cmd === "model-download-url"
        ? {
            ok: false,
            error: "download not started: name: base.en is a catalog model; use Download in the list; sha256: this has 3 digits",
            field_errors: { name: "base.en is a catalog model; use Download in the list", sha256: "this has 3 digits" },
          }
        : models(),
    );
    const root = document.createElement("main");
    const p = createPage();
    await p.mount(root, { bridge, events: new Dispatcher() });
    expect(root.querySelector("h2")?.textContent).toBe("Add a model from a URL");
    for (const key of ["add-name", "add-url", "add-sha256", "add-form"]) expect(shown(root, key)).toBeNull();

    fill(root, " base.en ", "https://models.example/m.bin", "abc");
    await tick();
    expect(sent.at(-1)).toEqual({ cmd: "model-download-url", name: "base.en", url: "https://models.example/m.bin", sha256: "abc" });
    expect(shown(root, "add-name")).toBe("base.en is a catalog model; use Download in the list");
    expect(shown(root, "add-sha256")).toBe("this has 3 digits");
    expect(shown(root, "add-url")).toBeNull();
    expect(shown(root, "add-form")).toBeNull();
    expect(root.querySelector<HTMLInputElement>('[data-add="url"]')!.value).toBe("https://models.example/m.bin");
    expect(root.querySelector<HTMLButtonElement>('[data-action="download-url"]')!.disabled).toBe(false);
  });

  it("shows a refusal that names no field under the form", async () => {
    const { bridge } = page((r) => (r.cmd === "model-download-url" ? { ok: false, error: "mine is already downloading" } : models()));
    const root = document.createElement("main");
    await createPage().mount(root, { bridge, events: new Dispatcher() });
    fill(root, "mine", "https://models.example/m.bin", SHA);
    await tick();
    expect(shown(root, "add-form")).toBe("mine is already downloading");
  });

  it("lists the download with its progress and Cancel, its failure in its row, and the installed model with Make active", async () => {
    let state: "idle" | "running" | "failed" | "installed" = "idle";
    const report = (): Answer => {
      const base = models();
      const m = base.models as Record<string, unknown>;
      if (state === "running") m.downloads = [{ id: "acme", url: "https://models.example/ggml-acme.bin", done: 0, total: 0, bytes_per_sec: 0 }];
      if (state === "installed") m.other = [{ id: "acme", name: "ggml-acme.bin", path: "/m/ggml-acme.bin", size_bytes: 77704698, active: false }];
      return base;
    };
    const { sent, bridge } = page((r) => {
      if (r.cmd === "model-download-url") state = "running";
      if (r.cmd === "model-cancel") state = "failed";
      return report();
    });
    const events = new Dispatcher();
    const root = document.createElement("main");
    const p = createPage();
    await p.mount(root, { bridge, events });

    fill(root, "acme", "https://models.example/ggml-acme.bin", SHA);
    await tick();
    expect(sent.at(-1)).toEqual({ cmd: "model-download-url", name: "acme", url: "https://models.example/ggml-acme.bin", sha256: SHA });
    expect(root.querySelector<HTMLInputElement>('[data-add="name"]')!.value).toBe("");
    const bar = root.querySelector<HTMLProgressElement>('progress[data-download="acme"]')!;
    expect(bar).not.toBeNull();
    // The server did not say the size: the bar still moves on.
    events.dispatch({ event: "download", id: "acme", done: 1_000_000, total: 0, bytes_per_sec: 2_000_000 });
    const first = bar.value;
    expect(first).toBe(1_000_000);
    events.dispatch({ event: "download", id: "acme", done: 3_000_000, total: 0, bytes_per_sec: 2_000_000 });
    expect(bar.value).toBeGreaterThan(first);
    expect(root.querySelector('[data-download-text="acme"]')?.textContent).toContain("unknown size");

    root.querySelector<HTMLButtonElement>('[data-action="cancel"][data-model="acme"]')!.click();
    await tick();
    expect(sent.at(-1)).toEqual({ cmd: "model-cancel", id: "acme" });
    events.dispatch({ event: "download-finished", id: "acme", error: "the file from https://models.example/ggml-acme.bin is corrupt: expected SHA-256 abab…" });
    await tick();
    await tick();
    expect(shown(root, "acme")).toContain("SHA-256");
    expect(root.querySelector('progress[data-download="acme"]')).toBeNull();
    root.querySelector<HTMLButtonElement>('[data-action="dismiss"][data-model="acme"]')!.click();
    expect(root.querySelector('[data-model-row="acme"]')).toBeNull();

    state = "installed";
    events.dispatch({ event: "models" });
    await tick();
    await tick();
    const activate = root.querySelector<HTMLButtonElement>('[data-action="activate"][data-model="acme"]')!;
    expect(activate).not.toBeNull();
    activate.click();
    await tick();
    expect(sent.at(-1)).toEqual({ cmd: "model-activate", id: "acme" });
    p.unmount?.();
  });
});
