// Small SVG charts drawn by hand (no chart library): a bar chart and a
// line chart with a light grid, y labels at "nice" steps and a few x labels.

import { svg } from "./dom";

/** The smallest "nice" number (1, 2, 2.5, 5 × 10ⁿ) at or above `value`;
 * 1 for nothing to show. */
export function niceMax(value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) return 1;
  const exp = Math.floor(Math.log10(value));
  const base = 10 ** exp;
  for (const step of [1, 2, 2.5, 5, 10]) {
    const nice = step * base;
    if (nice >= value * (1 - 1e-9)) return Number(nice.toPrecision(12));
  }
  return 10 * base;
}

/** Maps a domain onto a range linearly; a zero-width domain maps to the
 * range's middle. */
export function scaleLinear(domain: [number, number], range: [number, number]): (v: number) => number {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  if (d1 === d0) return () => (r0 + r1) / 2;
  return (v) => r0 + ((v - d0) / (d1 - d0)) * (r1 - r0);
}

/** `count + 1` evenly spaced ticks from 0 to `max`. */
export function ticks(max: number, count = 4): number[] {
  return Array.from({ length: count + 1 }, (_, i) => (max * i) / count);
}

export interface Point {
  x: number;
  y: number;
}

export interface ChartOptions {
  width?: number;
  height?: number;
  yFormat: (v: number) => string;
  xFormat?: (v: number) => string;
  label: string;
}

const PAD = { top: 10, right: 10, bottom: 22, left: 52 };

/** The drawing area and scales of a chart of `points`. */
export function layout(points: Point[], width: number, height: number, barLike = false) {
  const xs = points.map((p) => p.x);
  const maxY = niceMax(Math.max(0, ...points.map((p) => p.y)));
  let x0 = Math.min(...xs);
  let x1 = Math.max(...xs);
  if (barLike) {
    x0 -= 0.5;
    x1 += 0.5;
  }
  return {
    maxY,
    x: scaleLinear([x0, x1], [PAD.left, width - PAD.right]),
    y: scaleLinear([0, maxY], [height - PAD.bottom, PAD.top]),
  };
}

function frame(o: ChartOptions, width: number, height: number, maxY: number, y: (v: number) => number): SVGElement {
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": o.label, preserveAspectRatio: "none" });
  for (const t of ticks(maxY)) {
    const yy = y(t).toFixed(1);
    root.appendChild(svg("line", { class: "grid", x1: PAD.left, x2: width - PAD.right, y1: yy, y2: yy }));
    const label = svg("text", { class: "axis", x: PAD.left - 6, y: Number(yy) + 3, "text-anchor": "end" });
    label.textContent = o.yFormat(t);
    root.appendChild(label);
  }
  return root;
}

function xLabels(root: SVGElement, points: Point[], x: (v: number) => number, height: number, format: (v: number) => string): void {
  if (points.length === 0) return;
  const picks = points.length <= 2 ? points : [points[0]!, points[Math.floor(points.length / 2)]!, points[points.length - 1]!];
  picks.forEach((p, i) => {
    const anchor = picks.length === 1 ? "middle" : i === 0 ? "start" : i === picks.length - 1 ? "end" : "middle";
    const t = svg("text", { class: "axis", x: x(p.x).toFixed(1), y: height - 6, "text-anchor": anchor });
    t.textContent = format(p.x);
    root.appendChild(t);
  });
}

/** A bar per point (x is the bar's index or time). */
export function barChart(points: Point[], o: ChartOptions): SVGElement {
  const width = o.width ?? 560;
  const height = o.height ?? 150;
  const indexed = points.map((p, i) => ({ x: i, y: p.y, at: p.x }));
  const { maxY, x, y } = layout(indexed, width, height, true);
  const root = frame(o, width, height, maxY, y);
  const slot = indexed.length ? (width - PAD.left - PAD.right) / indexed.length : 0;
  const barWidth = Math.max(1, Math.min(18, slot * 0.7));
  for (const p of indexed) {
    const top = y(p.y);
    root.appendChild(svg("rect", { class: "bar", x: (x(p.x) - barWidth / 2).toFixed(1), y: top.toFixed(1), width: barWidth.toFixed(1), height: Math.max(0, y(0) - top).toFixed(1), rx: Math.min(3, barWidth / 2).toFixed(1) }));
  }
  if (o.xFormat) xLabels(root, indexed.map((p) => ({ x: p.x, y: p.at })), x, height, (i) => o.xFormat!(indexed[i]?.at ?? 0));
  return root;
}

/** A line (with a soft area under it) through the points, in x order. */
export function lineChart(points: Point[], o: ChartOptions, dots = false): SVGElement {
  const width = o.width ?? 560;
  const height = o.height ?? 150;
  const sorted = [...points].sort((a, b) => a.x - b.x);
  const { maxY, x, y } = layout(sorted, width, height);
  const root = frame(o, width, height, maxY, y);
  if (sorted.length) {
    const d = sorted.map((p, i) => `${i ? "L" : "M"}${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join("");
    const first = sorted[0]!;
    const last = sorted[sorted.length - 1]!;
    root.appendChild(svg("path", { class: "area", d: `${d}L${x(last.x).toFixed(1)},${y(0).toFixed(1)}L${x(first.x).toFixed(1)},${y(0).toFixed(1)}Z` }));
    root.appendChild(svg("path", { class: "line", d }));
    if (dots || sorted.length === 1) {
      for (const p of sorted) root.appendChild(svg("circle", { class: "dot", cx: x(p.x).toFixed(1), cy: y(p.y).toFixed(1), r: 2.5 }));
    }
    if (o.xFormat) xLabels(root, sorted, x, height, o.xFormat);
  }
  return root;
}
