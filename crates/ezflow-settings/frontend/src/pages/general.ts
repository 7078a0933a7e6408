// General: the shortcut, how it works, how text is inserted, the
// microphone (with a live level meter), idle unload, longest recording,
// language, start at login. Each change is saved at once.

import { reason } from "../bridge";
import type { Context, Page } from "../context";
import { choiceWithCustom, select, setSelect, toggle, type ChoiceControl } from "../controls";
import { h } from "../dom";
import { IDLE_UNLOAD_CHOICES, LANGUAGE_CHOICES, MAX_RECORDING_CHOICES } from "../durations";
import { Subscriptions } from "../events";
import { fieldRow, SettingsForm, settingsOf, showError } from "../fields";
import { captureKey, isModifier, isSuperKey, releaseWithoutKey } from "../hotkey";
import { createMeter, type Meter } from "../meter";

interface Microphones {
  selected?: string;
  devices?: { name: string; is_default?: boolean }[];
}

/** The shortcut field: click it, press the keys. */
export interface HotkeyField {
  button: HTMLButtonElement;
  /** Shows the current shortcut again (after a refusal or a change). */
  refresh(): void;
}

export function hotkeyCapture(current: () => string, commit: (text: string) => void, problem: (text: string | null) => void): HotkeyField {
  const button = h("button", { type: "button", class: "hotkey", "data-key": "hotkey", "aria-live": "polite" });
  let capturing = false;
  let held = "";
  let superHeld = false;
  const show = (text: string): void => {
    button.replaceChildren(...text.split("+").map((k, i) => [i ? h("span", { class: "plus" }, "+") : null, h("kbd", null, k)]).flat().filter((n): n is HTMLElement => n !== null));
  };
  const stop = (): void => {
    capturing = false;
    held = "";
    superHeld = false;
    button.classList.remove("capturing");
    show(current());
  };
  button.addEventListener("click", () => {
    if (capturing) return;
    capturing = true;
    held = "";
    problem(null);
    button.classList.add("capturing");
    button.textContent = "Press the new shortcut…";
  });
  button.addEventListener("keydown", (e) => {
    if (!capturing) return;
    e.preventDefault();
    e.stopPropagation();
    if (isSuperKey(e)) superHeld = true;
    const result = captureKey({ code: e.code, key: e.key, ctrlKey: e.ctrlKey, altKey: e.altKey, shiftKey: e.shiftKey, metaKey: e.metaKey || superHeld });
    switch (result.kind) {
      case "pending":
        held = result.text;
        if (result.text) show(result.text);
        return;
      case "cancel":
        stop();
        return;
      case "unusable":
        problem(result.reason);
        stop();
        return;
      case "done":
        stop();
        show(result.text);
        commit(result.text);
        return;
    }
  });
  button.addEventListener("keyup", (e) => {
    if (!capturing) return;
    if (isSuperKey(e)) superHeld = false;
    if (!held) return;
    if (isModifier(e) && !e.ctrlKey && !e.altKey && !e.shiftKey && !e.metaKey && !superHeld) {
      const result = releaseWithoutKey(held);
      if (result.kind === "unusable") problem(result.reason);
      stop();
    }
  });
  button.addEventListener("blur", () => {
    if (capturing) stop();
  });
  show(current());
  return {
    button,
    refresh() {
      if (!capturing) show(current());
    },
  };
}

export function createPage(): Page {
  const subs = new Subscriptions();
  let meter: Meter | null = null;

  return {
    async mount(root: HTMLElement, ctx: Context) {
      const form = new SettingsForm(ctx.bridge, root);
      const status = h("p", { class: "page-status" }, "Loading settings…");
      root.append(h("header", { class: "page-head" }, h("h1", null, "General"), h("p", { class: "lede" }, "How you dictate: the shortcut, the microphone and where the words go.")), status);
      try {
        await form.load();
      } catch (e) {
        status.textContent = reason(e);
        return;
      }
      status.remove();

      // Shortcut.
      const hotkeyProblem = (text: string | null): void => showError(root, "hotkey", text);
      const hotkey = hotkeyCapture(
        () => form.str("hotkey", "Ctrl+Alt+Space"),
        (text) => {
          void (async () => {
            const problem = await form.check("hotkey", text);
            if (problem) {
              hotkeyProblem(problem);
              hotkey.refresh();
              return;
            }
            await form.save("hotkey", text, () => hotkey.refresh());
            hotkey.refresh();
          })();
        },
        hotkeyProblem,
      );

      const mode = select("hotkey_mode", [
        { value: "push-to-talk", label: "Hold to talk" },
        { value: "toggle", label: "Press to start and stop" },
      ], form.str("hotkey_mode", "push-to-talk"));
      const insert = select("insert_method", [
        { value: "paste", label: "Paste" },
        { value: "type", label: "Type key by key" },
      ], form.str("insert_method", "paste"));

      const mic = h("select", { "data-key": "microphone" }, h("option", { value: "" }, "System default"));
      setSelect(mic, form.str("microphone"));
      meter = createMeter(ctx.bridge, ctx.events, () => mic.value);

      const idle: ChoiceControl = choiceWithCustom("idle_unload", IDLE_UNLOAD_CHOICES, "e.g. 90s, 10m, 1h30m", (v) =>
        void form.save("idle_unload", v, () => idle.set(form.str("idle_unload", "5m"))),
      );
      idle.set(form.str("idle_unload", "5m"));
      const maxRec: ChoiceControl = choiceWithCustom("max_recording", MAX_RECORDING_CHOICES, "e.g. 90s, 3m", (v) =>
        void form.save("max_recording", v, () => maxRec.set(form.str("max_recording", "5m"))),
      );
      maxRec.set(form.str("max_recording", "5m"));
      const lang: ChoiceControl = choiceWithCustom("language", LANGUAGE_CHOICES, "a code such as \"da\", or a name", (v) =>
        void form.save("language", v, () => lang.set(form.str("language", "auto"))),
      );
      lang.set(form.str("language", "auto"));
      // The `autostart` setting; the app keeps the login entry in step.
      // An app from before the setting reports only whether its entry is
      // in place.
      const startsAtLogin = (): boolean => {
        const v = form.values.autostart;
        return typeof v === "boolean" ? v : form.startAtLogin;
      };
      const login = toggle("autostart", startsAtLogin(), "Start EZ Flow when you log in");

      const bindSelect = (el: HTMLSelectElement, key: string): void => {
        el.addEventListener("change", () => {
          void form.save(key, el.value, () => setSelect(el, form.str(key)));
        });
      };
      bindSelect(mode, "hotkey_mode");
      bindSelect(insert, "insert_method");
      mic.addEventListener("change", () => {
        void form.save("microphone", mic.value, () => setSelect(mic, form.str("microphone"))).then(() => meter?.restart());
      });
      login.addEventListener("change", () => {
        void form.save("autostart", login.checked, () => {
          login.checked = startsAtLogin();
        });
      });

      root.append(
        h("section", { class: "card" },
          h("h2", null, "Shortcut"),
          fieldRow("hotkey", "Dictation shortcut", "Click, then press the keys you want.", hotkey.button),
          fieldRow("hotkey_mode", "How the shortcut works", "Hold it while you speak, or press once to start and again to stop.", mode),
          fieldRow("insert_method", "How text is inserted", "Pasting is fastest and restores your clipboard; typing works where pasting is blocked.", insert),
        ),
        h("section", { class: "card" },
          h("h2", null, "Microphone"),
          fieldRow("microphone", "Input device", "Speak to see the level move.", mic, meter.el),
        ),
        h("section", { class: "card" },
          h("h2", null, "Speech model"),
          fieldRow("language", "Language", "English-only models (.en) always use English.", lang.el),
          fieldRow("idle_unload", "Free the model's memory", "When to unload the model after its last use.", idle.el),
          fieldRow("max_recording", "Longest recording", "A dictation stops by itself after this.", maxRec.el),
        ),
        h("section", { class: "card" },
          h("h2", null, "System"),
          fieldRow("autostart", "Start at login", "Start EZ Flow when you log in.", login),
        ),
      );

      // The microphone list, then the meter.
      void ctx.bridge.request({ cmd: "microphones" }).then((answer) => {
        const list = answer.ok ? (answer.microphones as Microphones | undefined) : undefined;
        for (const d of list?.devices ?? []) {
          if (d.name && ![...mic.options].some((o) => o.value === d.name)) {
            mic.appendChild(h("option", { value: d.name }, d.is_default ? `${d.name} (default)` : d.name));
          }
        }
        setSelect(mic, form.str("microphone"));
      }).catch(() => undefined);
      meter.start();

      // Changes made elsewhere (another client, the file edited).
      subs.add(ctx.events.on("settings", () => {
        void ctx.bridge.request({ cmd: "settings" }).then((answer) => {
          const report = answer.ok ? settingsOf(answer) : null;
          if (!report) return;
          form.apply(report);
          const active = document.activeElement;
          if (active !== mode) setSelect(mode, form.str("hotkey_mode"));
          if (active !== insert) setSelect(insert, form.str("insert_method"));
          if (active !== mic) setSelect(mic, form.str("microphone"));
          if (active !== idle.input && active !== idle.select) idle.set(form.str("idle_unload", "5m"));
          if (active !== maxRec.input && active !== maxRec.select) maxRec.set(form.str("max_recording", "5m"));
          if (active !== lang.input && active !== lang.select) lang.set(form.str("language", "auto"));
          login.checked = startsAtLogin();
          hotkey.refresh();
        }).catch(() => undefined);
      }));
    },
    unmount() {
      subs.dropAll();
      meter?.stop();
      meter = null;
    },
  };
}
