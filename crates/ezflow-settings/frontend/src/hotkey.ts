// Building a shortcut's text ("Ctrl+Alt+Space") from key events, with the
// names the app's hotkey parser accepts, and refusing combinations it
// could never use (modifiers alone, or a key that types text without Ctrl,
// Alt or Super).

/** The parts of a key event this needs (a KeyboardEvent has them all). */
export interface KeyLike {
  code: string;
  key: string;
  ctrlKey: boolean;
  altKey: boolean;
  shiftKey: boolean;
  metaKey: boolean;
}

export type Capture =
  /** Only modifiers so far: show them and wait for the key. */
  | { kind: "pending"; text: string }
  /** A complete shortcut. */
  | { kind: "done"; text: string }
  /** Not a shortcut the app could use; `reason` is one line. */
  | { kind: "unusable"; text: string; reason: string }
  /** Escape alone: stop capturing, keep the old shortcut. */
  | { kind: "cancel" };

const MODIFIER_CODES = new Set([
  "ControlLeft",
  "ControlRight",
  "AltLeft",
  "AltRight",
  "ShiftLeft",
  "ShiftRight",
  "MetaLeft",
  "MetaRight",
  "OSLeft",
  "OSRight",
  "AltGraph",
  "CapsLock",
  "Fn",
]);

const MODIFIER_KEYS = ["Control", "Alt", "Shift", "Meta", "OS", "Super", "Hyper", "AltGraph"];

/** Whether the event is a modifier key itself. */
export function isModifier(e: Pick<KeyLike, "code" | "key">): boolean {
  return MODIFIER_CODES.has(e.code) || MODIFIER_KEYS.includes(e.key);
}

/** Whether the event is the Super (logo) key itself: WebKitGTK does not
 * always report Super in metaKey, so the capture tracks it. */
export function isSuperKey(e: Pick<KeyLike, "code" | "key">): boolean {
  return ["MetaLeft", "MetaRight", "OSLeft", "OSRight"].includes(e.code) || ["Meta", "OS", "Super", "Hyper"].includes(e.key);
}

/** `KeyboardEvent.code` → the app's key name (layout-independent). */
const NAMED: Record<string, string> = {
  Space: "Space",
  Enter: "Return",
  NumpadEnter: "Return",
  Tab: "Tab",
  Escape: "Escape",
  Backspace: "Backspace",
  Delete: "Delete",
  Insert: "Insert",
  Home: "Home",
  End: "End",
  PageUp: "PageUp",
  PageDown: "PageDown",
  ArrowLeft: "Left",
  ArrowUp: "Up",
  ArrowRight: "Right",
  ArrowDown: "Down",
  Pause: "Pause",
  PrintScreen: "Print",
  ContextMenu: "Menu",
  Minus: "Minus",
  Equal: "Equal",
  Comma: "Comma",
  Period: "Period",
  Slash: "Slash",
  Backslash: "Backslash",
  Semicolon: "Semicolon",
  Quote: "Apostrophe",
  Backquote: "Grave",
  BracketLeft: "BracketLeft",
  BracketRight: "BracketRight",
};

/** Keys that type or edit text: alone (or with Shift only) they would be
 * taken from every application. */
const TYPES_TEXT = new Set(["Space", "Return", "Tab", "Backspace", "Delete", "Escape"]);
const PUNCTUATION = new Set([
  "Minus",
  "Equal",
  "Comma",
  "Period",
  "Slash",
  "Backslash",
  "Semicolon",
  "Apostrophe",
  "Grave",
  "BracketLeft",
  "BracketRight",
]);

/** `KeyboardEvent.key` → the app's key name, for events without a usable
 * `code` (synthesized ones, such as WebDriver's). */
const KEY_NAMED: Record<string, string> = {
  " ": "Space",
  Spacebar: "Space",
  Enter: "Return",
  Tab: "Tab",
  Escape: "Escape",
  Esc: "Escape",
  Backspace: "Backspace",
  Delete: "Delete",
  Insert: "Insert",
  Home: "Home",
  End: "End",
  PageUp: "PageUp",
  PageDown: "PageDown",
  ArrowLeft: "Left",
  ArrowUp: "Up",
  ArrowRight: "Right",
  ArrowDown: "Down",
  Pause: "Pause",
  PrintScreen: "Print",
  ContextMenu: "Menu",
  "-": "Minus",
  "=": "Equal",
  ",": "Comma",
  ".": "Period",
  "/": "Slash",
  "\\": "Backslash",
  ";": "Semicolon",
  "'": "Apostrophe",
  "`": "Grave",
  "[": "BracketLeft",
  "]": "BracketRight",
};

/** The app's name for a key event: by its physical `code`, else by its
 * `key` value; null for keys the app cannot bind. */
export function eventKeyName(e: Pick<KeyLike, "code" | "key">): string | null {
  const byCode = keyName(e.code);
  if (byCode !== null) return byCode;
  // A real key the app has no name for (a keypad key) is not guessed.
  if (e.code && e.code !== "Unidentified") return null;
  if (/^[a-zA-Z0-9]$/.test(e.key)) return e.key.toUpperCase();
  const f = /^F([1-9]|1[0-9]|2[0-4])$/.exec(e.key);
  if (f) return `F${f[1]}`;
  return KEY_NAMED[e.key] ?? null;
}

/** The app's name for the event's key, or null for keys it cannot bind. */
export function keyName(code: string): string | null {
  let m = /^Key([A-Z])$/.exec(code);
  if (m) return m[1] ?? null;
  m = /^Digit([0-9])$/.exec(code);
  if (m) return m[1] ?? null;
  m = /^F([1-9]|1[0-9]|2[0-4])$/.exec(code);
  if (m) return `F${m[1]}`;
  return NAMED[code] ?? null;
}

function modifiers(e: KeyLike): string[] {
  const parts: string[] = [];
  if (e.ctrlKey) parts.push("Ctrl");
  if (e.altKey) parts.push("Alt");
  if (e.shiftKey) parts.push("Shift");
  if (e.metaKey) parts.push("Super");
  return parts;
}

/** What a key-down means while the shortcut field is capturing. */
export function captureKey(e: KeyLike): Capture {
  const mods = modifiers(e);
  if (isModifier(e)) {
    return { kind: "pending", text: mods.length ? `${mods.join("+")}+…` : "" };
  }
  const key = eventKeyName(e);
  if (key === "Escape" && mods.length === 0) return { kind: "cancel" };
  const text = [...mods, key ?? (e.key.length === 1 ? e.key.toUpperCase() : e.key || e.code)].join("+");
  if (key === null) {
    return { kind: "unusable", text, reason: `${text} cannot be a shortcut: ${e.key || e.code} is not a key EZ Flow can listen for; try a letter, a digit or an F key` };
  }
  const strong = e.ctrlKey || e.altKey || e.metaKey;
  const typesText = /^[A-Z0-9]$/.test(key) || TYPES_TEXT.has(key) || PUNCTUATION.has(key);
  if (!strong && typesText) {
    return {
      kind: "unusable",
      text,
      reason: `${text} types text; add Ctrl, Alt or Super so other applications keep the key`,
    };
  }
  return { kind: "done", text };
}

/** What releasing the keys means when no complete shortcut was pressed:
 * modifiers alone are not a shortcut. */
export function releaseWithoutKey(heldText: string): Capture {
  const text = heldText.replace(/\+…$/, "");
  return {
    kind: "unusable",
    text,
    reason: `${text || "Modifiers"} alone is not a shortcut; hold the modifiers and press a key, such as Ctrl+Alt+Space`,
  };
}
