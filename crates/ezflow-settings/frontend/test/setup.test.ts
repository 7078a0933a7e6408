import { describe, expect, it } from "vitest";
import { nextStep, offerOrder, preselect, STEPS } from "../src/pages/setup";
import { nothingInstalled } from "../src/main";

const report = {
  recommended: "base.en",
  catalog: [
    { id: "tiny", size_bytes: 77 },
    { id: "base.en", size_bytes: 147 },
    { id: "tiny-q5_1", size_bytes: 31 },
    { id: "small", size_bytes: 487 },
  ],
};

describe("the first-run setup", () => {
  it("goes through its five steps in order", () => {
    expect(STEPS).toEqual(["model", "download", "microphone", "hotkey", "telemetry"]);
    expect(nextStep("model")).toBe("download");
    expect(nextStep("telemetry")).toBeNull();
  });
  it("offers the recommended model first and preselects it", () => {
    expect(offerOrder(report).map((m) => m.id)).toEqual(["base.en", "tiny-q5_1", "tiny", "small"]);
    expect(preselect(report)).toBe("base.en");
    expect(preselect({ catalog: report.catalog })).toBe("tiny-q5_1");
    expect(preselect({})).toBe("");
  });
  it("shows only when nothing at all is installed", () => {
    expect(nothingInstalled({ catalog: [{ installed: false }], other: [] })).toBe(true);
    expect(nothingInstalled({ catalog: [{ installed: true }], other: [] })).toBe(false);
    expect(nothingInstalled({ catalog: [], other: [{}] })).toBe(false);
    expect(nothingInstalled(undefined)).toBe(false);
  });
});
