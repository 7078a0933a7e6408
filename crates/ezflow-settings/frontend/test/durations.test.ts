import { describe, expect, it } from "vitest";
import { choiceFor, CUSTOM, durationSecs, IDLE_UNLOAD_CHOICES, LANGUAGE_CHOICES, MAX_RECORDING_CHOICES } from "../src/durations";

describe("duration choices", () => {
  it("reads durations the way settings.toml writes them", () => {
    expect(durationSecs("5m")).toBe(300);
    expect(durationSecs("1h30m")).toBe(5400);
    expect(durationSecs(" 90s ")).toBe(90);
    expect(durationSecs("never")).toBeNull();
    expect(durationSecs("5")).toBeNull();
    expect(durationSecs("")).toBeNull();
  });
  it("offers the default 5m, never and immediately for idle unload", () => {
    const values = IDLE_UNLOAD_CHOICES.map((c) => c.value);
    expect(values).toContain("5m");
    expect(values).toContain("never");
    expect(values).toContain("immediately");
  });
  it("maps a value to its choice, the same length written another way included", () => {
    expect(choiceFor("5m", IDLE_UNLOAD_CHOICES)).toBe("5m");
    expect(choiceFor("300s", IDLE_UNLOAD_CHOICES)).toBe("5m");
    expect(choiceFor("60m", IDLE_UNLOAD_CHOICES)).toBe("1h");
    expect(choiceFor("NEVER", IDLE_UNLOAD_CHOICES)).toBe("never");
    expect(choiceFor("7m", IDLE_UNLOAD_CHOICES)).toBe(CUSTOM);
    expect(choiceFor("90s", MAX_RECORDING_CHOICES)).toBe(CUSTOM);
    expect(choiceFor("2m", MAX_RECORDING_CHOICES)).toBe("2m");
  });
  it("treats an unlisted language as custom", () => {
    expect(choiceFor("de", LANGUAGE_CHOICES)).toBe("de");
    expect(choiceFor("auto", LANGUAGE_CHOICES)).toBe("auto");
    expect(choiceFor("da", LANGUAGE_CHOICES)).toBe(CUSTOM);
  });
});
