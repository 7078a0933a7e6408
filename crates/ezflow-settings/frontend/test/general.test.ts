import { describe, expect, it } from "vitest";
import type { Answer, Bridge, Request } from "../src/bridge";
import { Dispatcher } from "../src/events";
import { createPage } from "../src/pages/general";

const values = {
  hotkey: "Ctrl+Alt+Space",
  hotkey_mode: "push-to-talk",
  insert_method: "paste",
  microphone: "",
  idle_unload: "5m",
  max_recording: "5m",
  language: "auto",
};

function fakeApp() {
  const sent: Request[] = [];
  const state = { ...values } as Record<string, unknown>;
  const bridge: Bridge = {
    async request(r: Request): Promise<Answer> {
      sent.push(r);
      const settings = () => ({ ok: true, settings: { values: { ...state }, start_at_login: false } });
      switch (r.cmd) {
        case "settings":
          return settings();
        case "settings-set":
        case "settings-check": {
          const v = r.values as Record<string, unknown>;
          if (v.idle_unload === "forever") return { ok: false, error: "not saved: idle_unload: …", field_errors: { idle_unload: "\"forever\" is not a duration" } };
          if (v.hotkey === "Ctrl+Alt+T") return { ok: false, error: "not saved", field_errors: { hotkey: "another program holds Ctrl+Alt+T" } };
          if (r.cmd === "settings-set") Object.assign(state, v);
          return settings();
        }
        case "microphones":
          return { ok: true, microphones: { selected: "", devices: [{ name: "USB Mic", is_default: false }] } };
        default:
          return { ok: true, state: "idle" };
      }
    },
    connect: async () => ({}),
    startApp: async () => "",
    onEvent: async () => () => undefined,
    firstPaint: () => undefined,
  };
  return { bridge, sent, state };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("the General page", () => {
  it("saves a change at once and reverts a refused one with the app's message", async () => {
    const app = fakeApp();
    const root = document.createElement("main");
    document.body.appendChild(root);
    const page = createPage();
    await page.mount(root, { bridge: app.bridge, events: new Dispatcher() });

    const mode = root.querySelector<HTMLSelectElement>('[data-key="hotkey_mode"]')!;
    mode.value = "toggle";
    mode.dispatchEvent(new Event("change"));
    await tick();
    expect(app.state.hotkey_mode).toBe("toggle");
    expect(root.querySelector('[data-saved-for="hotkey_mode"]')?.textContent).toBe("Saved");

    const idle = root.querySelector<HTMLSelectElement>('[data-key="idle_unload"]')!;
    idle.value = "__custom__";
    idle.dispatchEvent(new Event("change"));
    const custom = root.querySelector<HTMLInputElement>('[data-custom-for="idle_unload"]')!;
    expect(custom.hidden).toBe(false);
    custom.value = "forever";
    custom.dispatchEvent(new Event("change"));
    await tick();
    const error = root.querySelector<HTMLElement>('[data-error-for="idle_unload"]')!;
    expect(error.hidden).toBe(false);
    expect(error.textContent).toBe("\"forever\" is not a duration");
    expect(idle.value).toBe("5m");
    expect(app.state.idle_unload).toBe("5m");
    page.unmount?.();
  });

  it("checks a captured shortcut before saving it", async () => {
    const app = fakeApp();
    const root = document.createElement("main");
    const page = createPage();
    await page.mount(root, { bridge: app.bridge, events: new Dispatcher() });
    const button = root.querySelector<HTMLButtonElement>('[data-key="hotkey"]')!;
    button.click();
    button.dispatchEvent(new KeyboardEvent("keydown", { code: "KeyT", key: "t", ctrlKey: true, altKey: true }));
    await tick();
    await tick();
    expect(app.sent.map((r) => r.cmd)).toContain("settings-check");
    expect(app.sent.some((r) => r.cmd === "settings-set" && (r.values as Record<string, unknown>).hotkey)).toBe(false);
    expect(root.querySelector('[data-error-for="hotkey"]')?.textContent).toBe("another program holds Ctrl+Alt+T");

    button.click();
    button.dispatchEvent(new KeyboardEvent("keydown", { code: "F9", key: "F9" }));
    await tick();
    await tick();
    expect(app.state.hotkey).toBe("F9");
    expect(button.textContent).toBe("F9");
    page.unmount?.();
    expect(app.sent.at(-1)?.cmd).toBe("level-meter-stop");
  });
});
