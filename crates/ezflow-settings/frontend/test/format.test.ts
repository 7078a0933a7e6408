import { describe, expect, it } from "vitest";
import { formatBytes, formatEta, formatMs, formatRtf, formatSpan, formatSpeed, percent } from "../src/format";
import { levelFill } from "../src/meter";

describe("formatting", () => {
  it("formats sizes like a file manager", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1024)).toBe("1 KB");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(77691713)).toBe("74 MB");
    expect(formatBytes(147951465)).toBe("141 MB");
    expect(formatBytes(1610612736)).toBe("1.5 GB");
    expect(formatBytes(null)).toBe("–");
    expect(formatBytes(-1)).toBe("–");
  });
  it("formats speeds and what is left", () => {
    expect(formatSpeed(5242880)).toBe("5 MB/s");
    expect(formatSpeed(0)).toBe("–");
    expect(formatEta(0, 100, 10)).toBe("10 s left");
    expect(formatEta(0, 6000, 10)).toBe("10 min left");
    expect(formatEta(100, 100, 10)).toBe("");
    expect(formatEta(0, 100, 0)).toBe("");
  });
  it("bounds percentages", () => {
    expect(percent(50, 200)).toBe(25);
    expect(percent(5, 0)).toBe(0);
    expect(percent(300, 200)).toBe(100);
  });
  it("formats times and factors", () => {
    expect(formatMs(412)).toBe("412 ms");
    expect(formatMs(1234)).toBe("1.2 s");
    expect(formatMs(null)).toBe("–");
    expect(formatSpan(42)).toBe("42 s");
    expect(formatSpan(3900)).toBe("1 h 5 min");
    expect(formatSpan(7200)).toBe("2 h");
    expect(formatRtf(0.094)).toBe("0.094×");
    expect(formatRtf(0.25)).toBe("0.25×");
  });
  it("puts microphone levels on a 60 dB scale", () => {
    expect(levelFill(0)).toBe(0);
    expect(levelFill(1)).toBe(1);
    expect(levelFill(0.001)).toBeCloseTo(0);
    expect(levelFill(0.031)).toBeGreaterThan(0.4);
    expect(levelFill(2)).toBe(1);
  });
});
