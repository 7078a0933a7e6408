// The page's line to the Rust side, which forwards to the running app:
// `request` (one request object → its answer), `connect` (open the event
// stream), `startApp`, and the app's events. Pages get a `Bridge`; tests
// give them a fake one.

import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";

/** A request to the app: `cmd` and its arguments. */
export interface Request {
  cmd: string;
  [arg: string]: unknown;
}

/** The app's answer, as the control socket sends it. */
export interface Answer {
  ok: boolean;
  error?: string;
  field_errors?: Record<string, string>;
  [field: string]: unknown;
}

/** Reaching the app failed (not an `"ok":false` answer: that is the
 * app's). `kind` is "not-running" when no app listens. */
export class BridgeError extends Error {
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super(message);
    this.name = "BridgeError";
  }
}

export interface Bridge {
  request(request: Request): Promise<Answer>;
  connect(): Promise<unknown>;
  startApp(): Promise<string>;
  onEvent(handler: (event: unknown) => void): Promise<() => void>;
  firstPaint(): void;
}

/** The name the Rust side emits app events under (`watch.rs`). */
export const EVENT = "ezflow";

function toBridgeError(e: unknown): BridgeError {
  if (typeof e === "object" && e !== null && "message" in e) {
    const { kind, message } = e as { kind?: unknown; message?: unknown };
    return new BridgeError(typeof kind === "string" ? kind : "error", String(message));
  }
  return new BridgeError("error", String(e));
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw toBridgeError(e);
  }
}

/** The real bridge, through Tauri's IPC. */
export const tauriBridge: Bridge = {
  request: (request) => call<Answer>("request", { request }),
  connect: () => call<unknown>("connect"),
  startApp: () => call<string>("start_app"),
  onEvent: async (handler) => listen<unknown>(EVENT, (e) => handler(e.payload)),
  firstPaint: () => {
    void call<void>("first_paint").catch(() => undefined);
  },
};

/** A one-line reason from a failed request or an error answer. */
export function reason(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
