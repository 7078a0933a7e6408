import { describe, expect, it } from "vitest";
import { barChart, layout, lineChart, niceMax, scaleLinear, ticks } from "../src/chart";

describe("chart scaling", () => {
  it("rounds the top of the scale up to a nice number", () => {
    expect(niceMax(0)).toBe(1);
    expect(niceMax(-5)).toBe(1);
    expect(niceMax(0.094)).toBe(0.1);
    expect(niceMax(412)).toBe(500);
    expect(niceMax(180)).toBe(200);
    expect(niceMax(220)).toBe(250);
    expect(niceMax(1000)).toBe(1000);
    expect(niceMax(201_000_000)).toBe(250_000_000);
  });
  it("maps linearly and survives a single point", () => {
    const s = scaleLinear([0, 100], [140, 10]);
    expect(s(0)).toBe(140);
    expect(s(100)).toBe(10);
    expect(s(50)).toBe(75);
    expect(scaleLinear([5, 5], [0, 100])(5)).toBe(50);
  });
  it("places ticks from zero to the top", () => {
    expect(ticks(500)).toEqual([0, 125, 250, 375, 500]);
  });
  it("keeps every point inside the drawing", () => {
    const pts = [{ x: 10, y: 412 }, { x: 20, y: 300 }, { x: 30, y: 90 }];
    const { maxY, x, y } = layout(pts, 560, 150);
    expect(maxY).toBe(500);
    for (const p of pts) {
      expect(x(p.x)).toBeGreaterThanOrEqual(0);
      expect(x(p.x)).toBeLessThanOrEqual(560);
      expect(y(p.y)).toBeGreaterThanOrEqual(0);
      expect(y(p.y)).toBeLessThanOrEqual(150);
    }
    expect(y(0)).toBeGreaterThan(y(412));
  });
  it("draws one bar per dictation and a line through the samples", () => {
    const bars = barChart([{ x: 1, y: 100 }, { x: 2, y: 200 }, { x: 3, y: 50 }], { label: "latency", yFormat: String });
    expect(bars.querySelectorAll("rect.bar")).toHaveLength(3);
    expect(bars.getAttribute("aria-label")).toBe("latency");
    const heights = [...bars.querySelectorAll("rect.bar")].map((r) => Number(r.getAttribute("height")));
    expect(heights[1]).toBeGreaterThan(heights[0]!);
    expect(heights[0]).toBeGreaterThan(heights[2]!);
    const line = lineChart([{ x: 3, y: 1 }, { x: 1, y: 2 }], { label: "memory", yFormat: String });
    const d = line.querySelector("path.line")?.getAttribute("d") ?? "";
    expect(d.startsWith("M")).toBe(true);
    expect(d.split("L")).toHaveLength(2);
  });
});
