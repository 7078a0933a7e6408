// Formatting numbers for people: sizes, speeds, durations, times.

const UNITS = ["B", "KB", "MB", "GB", "TB"];

/** 77691713 → "74 MB" (binary multiples, shown the way file managers do:
 * one decimal below 10, none above). */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0) return "–";
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  const text = value < 10 ? value.toFixed(1) : Math.round(value).toString();
  return `${text.replace(/\.0$/, "")} ${UNITS[unit]}`;
}

/** Bytes per second → "5.2 MB/s". */
export function formatSpeed(bytesPerSec: number | null | undefined): string {
  if (!bytesPerSec || !Number.isFinite(bytesPerSec) || bytesPerSec <= 0) return "–";
  return `${formatBytes(bytesPerSec)}/s`;
}

/** What is left of a download, at its speed: "2 min left". */
export function formatEta(done: number, total: number, bytesPerSec: number): string {
  if (!(total > done) || !(bytesPerSec > 0)) return "";
  const secs = (total - done) / bytesPerSec;
  if (secs < 60) return `${Math.max(1, Math.round(secs))} s left`;
  if (secs < 3600) return `${Math.round(secs / 60)} min left`;
  return `${(secs / 3600).toFixed(1)} h left`;
}

/** A fraction done, 0–100, safe for a zero total. */
export function percent(done: number, total: number): number {
  if (!(total > 0)) return 0;
  return Math.min(100, Math.max(0, (done / total) * 100));
}

/** Milliseconds → "412 ms" or "1.2 s". */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 1 : 0)} s`;
}

/** A span of seconds → "3 h 5 min", "42 min", "20 s". */
export function formatSpan(secs: number): string {
  if (!Number.isFinite(secs) || secs < 0) return "–";
  if (secs < 60) return `${Math.round(secs)} s`;
  const mins = Math.floor(secs / 60);
  if (mins < 60) return `${mins} min`;
  const hours = Math.floor(mins / 60);
  const rest = mins % 60;
  return rest ? `${hours} h ${rest} min` : `${hours} h`;
}

/** Unix seconds → local "14:05". */
export function formatClock(unixSecs: number): string {
  const d = new Date(unixSecs * 1000);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** A real-time factor → "0.09×". */
export function formatRtf(rtf: number | null | undefined): string {
  if (rtf === null || rtf === undefined || !Number.isFinite(rtf)) return "–";
  return `${rtf < 0.1 ? rtf.toFixed(3) : rtf.toFixed(2)}×`;
}
