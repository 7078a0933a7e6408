// The choices offered for duration settings (idle unload, max recording)
// and the language, and how a value maps to a choice or "custom".

export interface Choice {
  value: string;
  label: string;
}

/** The value the select shows for "type your own". */
export const CUSTOM = "__custom__";

export const IDLE_UNLOAD_CHOICES: Choice[] = [
  { value: "immediately", label: "Immediately after each dictation" },
  { value: "1m", label: "After 1 minute" },
  { value: "5m", label: "After 5 minutes" },
  { value: "10m", label: "After 10 minutes" },
  { value: "15m", label: "After 15 minutes" },
  { value: "30m", label: "After 30 minutes" },
  { value: "1h", label: "After 1 hour" },
  { value: "never", label: "Never (keep it loaded)" },
];

export const MAX_RECORDING_CHOICES: Choice[] = [
  { value: "30s", label: "30 seconds" },
  { value: "1m", label: "1 minute" },
  { value: "2m", label: "2 minutes" },
  { value: "5m", label: "5 minutes" },
  { value: "10m", label: "10 minutes" },
  { value: "30m", label: "30 minutes" },
];

export const LANGUAGE_CHOICES: Choice[] = [
  { value: "auto", label: "Detect automatically" },
  { value: "en", label: "English" },
  { value: "de", label: "German" },
  { value: "fr", label: "French" },
  { value: "es", label: "Spanish" },
  { value: "it", label: "Italian" },
  { value: "pt", label: "Portuguese" },
  { value: "nl", label: "Dutch" },
  { value: "pl", label: "Polish" },
  { value: "sv", label: "Swedish" },
  { value: "ru", label: "Russian" },
  { value: "uk", label: "Ukrainian" },
  { value: "tr", label: "Turkish" },
  { value: "ar", label: "Arabic" },
  { value: "hi", label: "Hindi" },
  { value: "zh", label: "Chinese" },
  { value: "ja", label: "Japanese" },
  { value: "ko", label: "Korean" },
];

const UNIT_SECS: Record<string, number> = { h: 3600, m: 60, s: 1 };

/** "1h30m" → 5400, "90s" → 90, "5m" → 300; null for anything else (the
 * app decides what it accepts; this only recognises a choice written
 * another way). */
export function durationSecs(text: string): number | null {
  const t = text.trim().toLowerCase().replace(/\s+/g, "");
  if (!t || !/^(\d+[hms])+$/.test(t)) return null;
  let total = 0;
  for (const [, n, unit] of t.matchAll(/(\d+)([hms])/g)) total += Number(n) * (UNIT_SECS[unit ?? "s"] ?? 1);
  return total;
}

/** The choice a setting's value is, or CUSTOM. Durations match by length
 * ("300s" is the "5m" choice). */
export function choiceFor(value: string, choices: Choice[]): string {
  const v = value.trim();
  const exact = choices.find((c) => c.value.toLowerCase() === v.toLowerCase());
  if (exact) return exact.value;
  const secs = durationSecs(v);
  if (secs !== null) {
    const same = choices.find((c) => durationSecs(c.value) === secs);
    if (same) return same.value;
  }
  return CUSTOM;
}
