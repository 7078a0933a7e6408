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
  autostart: false,
};

function fakeApp() {
  const sent: Request[] = [];
  const state = { ...values } as Record<string, unknown>;
  // A file of the entry's name that EZ Flow did not write: turning on is refused.
  const world = { foreignEntry: false };
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
          if (v.autostart === true && world.foreignEntry) return { ok: false, error: "not saved: autostart: …", field_errors: { autostart: "~/.config/autostart/ezflow.desktop exists and was not written by EZ Flow" } };
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
  return { bridge, sent, state, world };
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

  it("switches start at login through the autostart setting, and reverts a refusal", async () => {
    const app = fakeApp();
    const root = document.createElement("main");
    const page = createPage();
    await page.mount(root, { bridge: app.bridge, events: new Dispatcher() });
    const login = root.querySelector<HTMLInputElement>('[data-key="autostart"]')!;
    expect(login.checked).toBe(false);

    login.checked = true;
    login.dispatchEvent(new Event("change"));
    await tick();
    expect(app.sent.filter((r) => r.cmd === "settings-set").at(-1)?.values).toEqual({ autostart: true });
    expect(app.sent.some((r) => r.cmd === "autostart-set")).toBe(false);
    expect(app.state.autostart).toBe(true);
    expect(login.checked).toBe(true);
    expect(root.querySelector('[data-saved-for="autostart"]')?.textContent).toBe("Saved");

    login.checked = false;
    login.dispatchEvent(new Event("change"));
    await tick();
    expect(app.state.autostart).toBe(false);

    app.world.foreignEntry = true;
    login.checked = true;
    login.dispatchEvent(new Event("change"));
    await tick();
    expect(login.checked).toBe(false);
    expect(app.state.autostart).toBe(false);
    const error = root.querySelector<HTMLElement>('[data-error-for="autostart"]')!;
    expect(error.hidden).toBe(false);
    expect(error.textContent).toContain("not written by EZ Flow");
    page.unmount?.();
  });
});
