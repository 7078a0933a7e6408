// Form controls the pages share: a select, a select of common choices
// with a "Custom…" text field, and an on/off switch. Each control carries
// data-key="<settings key>" (the end-to-end tests' hook).

import { CUSTOM, choiceFor, type Choice } from "./durations";
import { h } from "./dom";

export function select(key: string, choices: Choice[], value: string): HTMLSelectElement {
  const el = h("select", { "data-key": key }, ...choices.map((c) => h("option", { value: c.value }, c.label)));
  el.value = value;
  return el;
}

/** Puts `value` in `el`, adding an option for a value it does not list. */
export function setSelect(el: HTMLSelectElement, value: string, label = value): void {
  if (![...el.options].some((o) => o.value === value)) el.appendChild(h("option", { value }, label));
  el.value = value;
}

export interface ChoiceControl {
  /** The select (data-key) and the custom text field (data-custom-for). */
  el: HTMLElement;
  select: HTMLSelectElement;
  input: HTMLInputElement;
  /** Shows `value`: its choice, or "Custom…" with the text. */
  set(value: string): void;
}

/** A select of `choices` plus "Custom…", which reveals a text field.
 * `commit` is called with the chosen or typed value. */
export function choiceWithCustom(
  key: string,
  choices: Choice[],
  placeholder: string,
  commit: (value: string) => void,
): ChoiceControl {
  const sel = select(key, [...choices, { value: CUSTOM, label: "Custom…" }], choices[0]?.value ?? "");
  const input = h("input", {
    type: "text",
    class: "custom",
    "data-custom-for": key,
    placeholder,
    spellcheck: "false",
    autocomplete: "off",
    "aria-label": `Custom value`,
  });
  input.hidden = true;
  sel.addEventListener("change", () => {
    if (sel.value === CUSTOM) {
      input.hidden = false;
      input.focus();
      return;
    }
    input.hidden = true;
    // A value no option has (set from outside) leaves the select empty.
    if (sel.value) commit(sel.value);
  });
  const commitInput = (): void => {
    const text = input.value.trim();
    if (text) commit(text);
  };
  input.addEventListener("change", commitInput);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      input.blur();
    }
  });
  const control: ChoiceControl = {
    el: h("div", { class: "choice" }, sel, input),
    select: sel,
    input,
    set(value: string) {
      const choice = choiceFor(value, choices);
      sel.value = choice;
      if (choice === CUSTOM) {
        input.value = value;
        input.hidden = false;
      } else {
        input.value = "";
        input.hidden = true;
      }
    },
  };
  return control;
}

/** An on/off switch: a checkbox styled as a switch. */
export function toggle(key: string, checked: boolean, label: string): HTMLInputElement {
  const el = h("input", { type: "checkbox", role: "switch", class: "switch", "data-key": key, "aria-label": label });
  el.checked = checked;
  return el;
}
