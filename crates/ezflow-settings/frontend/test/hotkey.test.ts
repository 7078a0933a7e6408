import { describe, expect, it } from "vitest";
import { captureKey, keyName, releaseWithoutKey, type KeyLike } from "../src/hotkey";

function key(code: string, mods: Partial<KeyLike> = {}, keyValue = ""): KeyLike {
  return { code, key: keyValue || code, ctrlKey: false, altKey: false, shiftKey: false, metaKey: false, ...mods };
}

describe("hotkey text from key events", () => {
  it("builds Ctrl+Alt+Space in the app's modifier order", () => {
    expect(captureKey(key("Space", { altKey: true, ctrlKey: true }, " "))).toEqual({ kind: "done", text: "Ctrl+Alt+Space" });
  });
  it("names letters by their position, not the layout's character", () => {
    expect(captureKey(key("KeyH", { metaKey: true }, "ĥ"))).toEqual({ kind: "done", text: "Super+H" });
    expect(captureKey(key("Digit5", { ctrlKey: true, shiftKey: true }, "%"))).toEqual({ kind: "done", text: "Ctrl+Shift+5" });
  });
  it("takes an F key alone", () => {
    expect(captureKey(key("F9"))).toEqual({ kind: "done", text: "F9" });
    expect(captureKey(key("F24", { shiftKey: true }))).toEqual({ kind: "done", text: "Shift+F24" });
  });
  it("uses the app's names for named keys", () => {
    expect(keyName("Enter")).toBe("Return");
    expect(keyName("ArrowLeft")).toBe("Left");
    expect(keyName("Quote")).toBe("Apostrophe");
    expect(keyName("Backquote")).toBe("Grave");
    expect(keyName("PrintScreen")).toBe("Print");
    expect(keyName("F25")).toBeNull();
    expect(keyName("NumpadMultiply")).toBeNull();
  });
  it("waits while only modifiers are held", () => {
    expect(captureKey(key("ControlLeft", { ctrlKey: true }, "Control"))).toEqual({ kind: "pending", text: "Ctrl+…" });
    expect(captureKey(key("AltRight", { ctrlKey: true, altKey: true }, "Alt"))).toEqual({ kind: "pending", text: "Ctrl+Alt+…" });
  });
  it("refuses modifiers alone when they are released", () => {
    const r = releaseWithoutKey("Ctrl+Alt+…");
    expect(r.kind).toBe("unusable");
    if (r.kind === "unusable") {
      expect(r.text).toBe("Ctrl+Alt");
      expect(r.reason).toMatch(/Ctrl\+Alt alone is not a shortcut/);
    }
  });
  it("refuses keys that type text without Ctrl, Alt or Super", () => {
    for (const [code, mods] of [["KeyA", {}], ["KeyA", { shiftKey: true }], ["Space", {}], ["Digit1", {}], ["Comma", { shiftKey: true }], ["Enter", {}], ["Tab", {}]] as const) {
      const r = captureKey(key(code, mods));
      expect(r.kind, code).toBe("unusable");
    }
    expect(captureKey(key("KeyA", { altKey: true })).kind).toBe("done");
    expect(captureKey(key("Home")).kind).toBe("done");
  });
  it("refuses keys the app cannot bind, and cancels on a bare Escape", () => {
    const r = captureKey(key("NumpadAdd", { ctrlKey: true }, "+"));
    expect(r.kind).toBe("unusable");
    expect(captureKey(key("Escape", {}, "Escape"))).toEqual({ kind: "cancel" });
    expect(captureKey(key("Escape", { ctrlKey: true }, "Escape"))).toEqual({ kind: "done", text: "Ctrl+Escape" });
  });
});

describe("the Super key", () => {
  it("is recognised by its code or key name, as WebKitGTK may not set metaKey", async () => {
    const { isSuperKey, isModifier } = await import("../src/hotkey");
    expect(isSuperKey({ code: "MetaLeft", key: "Meta" })).toBe(true);
    expect(isSuperKey({ code: "", key: "Super" })).toBe(true);
    expect(isSuperKey({ code: "KeyH", key: "h" })).toBe(false);
    expect(isModifier({ code: "ShiftRight", key: "Shift" })).toBe(true);
    expect(isModifier({ code: "Space", key: " " })).toBe(false);
  });
});

describe("events without a physical code", () => {
  it("fall back to the key value, as WebDriver's synthesized keys need", async () => {
    const { captureKey } = await import("../src/hotkey");
    const ev = (key: string, mods: Record<string, boolean> = {}) => ({ code: "", key, ctrlKey: false, altKey: false, shiftKey: false, metaKey: false, ...mods });
    expect(captureKey(ev("k", { ctrlKey: true, altKey: true }))).toEqual({ kind: "done", text: "Ctrl+Alt+K" });
    expect(captureKey(ev(" ", { ctrlKey: true }))).toEqual({ kind: "done", text: "Ctrl+Space" });
    expect(captureKey(ev("F7"))).toEqual({ kind: "done", text: "F7" });
    expect(captureKey(ev("Q", { shiftKey: true })).kind).toBe("unusable");
    expect(captureKey({ code: "Numpad5", key: "5", ctrlKey: true, altKey: false, shiftKey: false, metaKey: false }).kind).toBe("unusable");
  });
});
