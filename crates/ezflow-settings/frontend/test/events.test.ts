import { describe, expect, it, vi } from "vitest";
import { Dispatcher, isAppEvent, Subscriptions } from "../src/events";

describe("the event dispatcher", () => {
  it("routes events by name, and * sees them all", () => {
    const d = new Dispatcher();
    const state = vi.fn();
    const all = vi.fn();
    d.on("state", state);
    d.on("*", all);
    expect(d.dispatch({ event: "state", state: "loading" })).toBe(2);
    expect(d.dispatch({ event: "level", rms: 0.1 })).toBe(1);
    expect(state).toHaveBeenCalledTimes(1);
    expect(state).toHaveBeenCalledWith({ event: "state", state: "loading" });
    expect(all).toHaveBeenCalledTimes(2);
  });
  it("ignores anything that is not an event", () => {
    const d = new Dispatcher();
    const all = vi.fn();
    d.on("*", all);
    for (const v of [null, 3, "state", {}, { event: 3 }, []]) expect(d.dispatch(v)).toBe(0);
    expect(all).not.toHaveBeenCalled();
    expect(isAppEvent({ event: "focus" })).toBe(true);
  });
  it("stops a handler when asked, and a failing handler does not stop the others", () => {
    const d = new Dispatcher();
    const err = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const good = vi.fn();
    d.on("models", () => {
      throw new Error("boom");
    });
    const off = d.on("models", good);
    d.dispatch({ event: "models" });
    expect(good).toHaveBeenCalledTimes(1);
    off();
    d.dispatch({ event: "models" });
    expect(good).toHaveBeenCalledTimes(1);
    err.mockRestore();
  });
  it("drops a page's subscriptions together", () => {
    const d = new Dispatcher();
    const subs = new Subscriptions();
    subs.add(d.on("a", () => undefined));
    subs.add(d.on("b", () => undefined));
    expect(d.size()).toBe(2);
    subs.dropAll();
    expect(d.size()).toBe(0);
  });
});
