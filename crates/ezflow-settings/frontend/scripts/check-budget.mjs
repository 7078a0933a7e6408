// The first page's budget: every JS and CSS file dist/index.html loads
// (scripts, stylesheets, module preloads, and the static imports of those
// scripts) must total at most 60 KB gzipped. Every other chunk is lazy:
// loaded by a page's dynamic import(). Prints one row per file and exits 1
// when the first page is over budget.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join, relative, dirname, posix } from "node:path";
import { fileURLToPath } from "node:url";

const BUDGET = 60 * 1024;
const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "..", "dist");

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

let files;
try {
  files = walk(dist).map((path) => relative(dist, path).split("\\").join("/"));
} catch {
  console.error(`check-budget: ${dist} is missing; run vite build first`);
  process.exit(1);
}
const html = readFileSync(join(dist, "index.html"), "utf8");
const first = new Set(["index.html"]);
for (const m of html.matchAll(/(?:src|href)="\.?\/?([^"]+\.(?:js|css))"/g)) first.add(m[1]);
// Static imports of first-page scripts are first page too (dynamic ones are not).
const queue = [...first].filter((f) => f.endsWith(".js"));
while (queue.length) {
  const file = queue.pop();
  const code = readFileSync(join(dist, file), "utf8");
  for (const m of code.matchAll(/(?:^|[;\n}])\s*import\s*(?:[\w*{},\s$]+from\s*)?["']([^"']+\.js)["']/g)) {
    const target = posix.normalize(posix.join(posix.dirname(file), m[1]));
    if (!first.has(target)) {
      first.add(target);
      queue.push(target);
    }
  }
}

const rows = files
  .filter((f) => /\.(js|css|html)$/.test(f))
  .map((f) => {
    const raw = readFileSync(join(dist, f));
    return { file: f, raw: raw.length, gzip: gzipSync(raw, { level: 9 }).length, first: first.has(f) };
  })
  .sort((a, b) => Number(b.first) - Number(a.first) || a.file.localeCompare(b.file));

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const width = Math.max(4, ...rows.map((r) => r.file.length));
console.log(`${"file".padEnd(width)}  ${"raw".padStart(9)}  ${"gzipped".padStart(9)}  loaded`);
for (const r of rows) {
  console.log(`${r.file.padEnd(width)}  ${kb(r.raw).padStart(9)}  ${kb(r.gzip).padStart(9)}  ${r.first ? "first page" : "lazy"}`);
}
const total = rows.filter((r) => r.first).reduce((sum, r) => sum + r.gzip, 0);
const lazy = rows.filter((r) => !r.first).reduce((sum, r) => sum + r.gzip, 0);
console.log(`first page: ${kb(total)} gzipped of ${kb(BUDGET)}; lazy chunks: ${kb(lazy)} gzipped`);
if (total > BUDGET) {
  console.error(`check-budget: the first page is ${kb(total)} gzipped, over the ${kb(BUDGET)} budget`);
  process.exit(1);
}
