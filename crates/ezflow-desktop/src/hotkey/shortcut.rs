//! The global shortcut as the user writes it in the settings ("Ctrl+Alt+Space",
//! "Super+H", "F9"): parsing with actionable errors, and the canonical text.
//! Pure data, no display server: a key is stored as its XKB keysym, which is
//! the same number on X11 and on Wayland (xkbcommon).

use std::fmt;
use std::str::FromStr;

use ezflow_config::suggest::edit_distance;

/// The modifiers of a shortcut. `super_key` is the key with the logo
/// (Windows key), called Meta in KDE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Modifiers {
    pub ctrl: bool,
    pub alt: bool,
    pub shift: bool,
    pub super_key: bool,
}

impl Modifiers {
    /// True when no modifier is set.
    pub fn is_empty(&self) -> bool {
        !(self.ctrl || self.alt || self.shift || self.super_key)
    }
}

/// A global shortcut: modifiers plus exactly one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Shortcut {
    modifiers: Modifiers,
    keysym: u32,
}

impl Shortcut {
    /// The modifiers that must be held.
    pub fn modifiers(&self) -> Modifiers {
        self.modifiers
    }

    /// The key as an XKB keysym (for letters, the lower-case keysym).
    pub fn keysym(&self) -> u32 {
        self.keysym
    }

    /// The key's canonical name, as written back to the settings ("Space", "H", "F9").
    pub fn key_name(&self) -> String {
        key_name(self.keysym)
    }
}

/// Why a shortcut text was not accepted. Each message says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShortcutError {
    #[error("the shortcut is empty; write it like \"Ctrl+Alt+Space\"")]
    Empty,
    #[error("{text:?} has an empty part; join keys with a single '+', like \"Ctrl+Alt+Space\"")]
    EmptyPart { text: String },
    #[error("unknown key {key:?}{}", suggestion_text(.suggestion))]
    UnknownKey {
        key: String,
        suggestion: Option<String>,
    },
    #[error("{text:?} has only modifiers; add a key, like \"{text}+Space\"")]
    NoKey { text: String },
    #[error(
        "a shortcut has one key besides its modifiers, but {text:?} has two: {first} and {second}"
    )]
    TwoKeys {
        text: String,
        first: String,
        second: String,
    },
    #[error("{modifier} appears twice in {text:?}")]
    RepeatedModifier { text: String, modifier: String },
    #[error("{text:?} would take the key {key} away from every application; add Ctrl, Alt or Super, like \"Ctrl+Alt+{key}\"")]
    NeedsModifier { text: String, key: String },
}

fn suggestion_text(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(name) => format!("; did you mean {name}?"),
        None => "; use a letter, a digit, F1–F24, Space, Return, Tab, Escape, Backspace, \
                 Insert, Delete, Home, End, PageUp, PageDown, Left, Right, Up, Down, Pause, \
                 Print, Menu or a punctuation key such as Comma or Slash"
            .to_owned(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Modifier {
    Ctrl,
    Alt,
    Shift,
    Super,
}

/// Modifier names: the canonical one first.
const MODIFIERS: &[(Modifier, &str, &[&str])] = &[
    (Modifier::Ctrl, "Ctrl", &["control", "ctl"]),
    (Modifier::Alt, "Alt", &["mod1", "option"]),
    (Modifier::Shift, "Shift", &[]),
    (
        Modifier::Super,
        "Super",
        &["meta", "win", "windows", "logo", "mod4", "cmd", "command"],
    ),
];

/// Named keys (besides letters, digits and F-keys): canonical name, aliases, keysym.
const NAMED_KEYS: &[(&str, &[&str], u32)] = &[
    ("Space", &["spacebar"], 0x0020),
    ("Return", &["enter"], 0xff0d),
    ("Tab", &[], 0xff09),
    ("Escape", &["esc"], 0xff1b),
    ("Backspace", &["back"], 0xff08),
    ("Delete", &["del"], 0xffff),
    ("Insert", &["ins"], 0xff63),
    ("Home", &[], 0xff50),
    ("End", &[], 0xff57),
    ("PageUp", &["pgup", "prior"], 0xff55),
    ("PageDown", &["pgdn", "next"], 0xff56),
    ("Left", &[], 0xff51),
    ("Up", &[], 0xff52),
    ("Right", &[], 0xff53),
    ("Down", &[], 0xff54),
    ("Pause", &["break"], 0xff13),
    ("Print", &["printscreen", "prtsc", "sysrq"], 0xff61),
    ("Menu", &["apps"], 0xff67),
    ("Minus", &["-"], 0x002d),
    ("Equal", &["="], 0x003d),
    ("Comma", &[","], 0x002c),
    ("Period", &["."], 0x002e),
    ("Slash", &["/"], 0x002f),
    ("Backslash", &["\\"], 0x005c),
    ("Semicolon", &[";"], 0x003b),
    ("Apostrophe", &["'", "quote"], 0x0027),
    ("Grave", &["`", "backtick"], 0x0060),
    ("BracketLeft", &["["], 0x005b),
    ("BracketRight", &["]"], 0x005d),
];

const F1: u32 = 0xffbe;
const F_KEYS: u32 = 24;

/// Keys that type text or edit it: bound alone (or with Shift only) they
/// would be taken away from every application.
fn types_text(keysym: u32) -> bool {
    keysym < 0xff00 || matches!(keysym, 0xff0d | 0xff09 | 0xff08 | 0xffff | 0xff1b)
}

fn key_name(keysym: u32) -> String {
    match keysym {
        0x61..=0x7a => char::from_u32(keysym - 0x20).map(String::from),
        0x30..=0x39 => char::from_u32(keysym).map(String::from),
        k if (F1..F1 + F_KEYS).contains(&k) => Some(format!("F{}", k - F1 + 1)),
        k => NAMED_KEYS
            .iter()
            .find(|(_, _, sym)| *sym == k)
            .map(|(name, _, _)| (*name).to_owned()),
    }
    .unwrap_or_else(|| format!("0x{keysym:x}"))
}

fn parse_modifier(part: &str) -> Option<Modifier> {
    let lower = part.to_ascii_lowercase();
    MODIFIERS
        .iter()
        .find(|(_, name, aliases)| name.eq_ignore_ascii_case(&lower) || aliases.contains(&&*lower))
        .map(|(m, _, _)| *m)
}

fn parse_key(part: &str) -> Option<u32> {
    let mut chars = part.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        if c.is_ascii_alphabetic() {
            return Some(u32::from(c.to_ascii_lowercase()));
        }
        if c.is_ascii_digit() {
            return Some(u32::from(c));
        }
    }
    let lower = part.to_ascii_lowercase();
    if let Some(number) = lower.strip_prefix('f') {
        if let Ok(n) = number.parse::<u32>() {
            if (1..=F_KEYS).contains(&n) && !number.starts_with('0') {
                return Some(F1 + n - 1);
            }
        }
    }
    NAMED_KEYS
        .iter()
        .find(|(name, aliases, _)| name.eq_ignore_ascii_case(&lower) || aliases.contains(&&*lower))
        .map(|(_, _, sym)| *sym)
}

/// The closest known key or modifier name, if it is close enough to be a typo.
fn suggest(part: &str) -> Option<String> {
    let lower = part.to_ascii_lowercase();
    let candidates = NAMED_KEYS
        .iter()
        .flat_map(|(name, aliases, _)| {
            std::iter::once((*name, name.to_ascii_lowercase()))
                .chain(aliases.iter().map(move |a| (*name, (*a).to_owned())))
        })
        .chain(MODIFIERS.iter().flat_map(|(_, name, aliases)| {
            std::iter::once((*name, name.to_ascii_lowercase()))
                .chain(aliases.iter().map(move |a| (*name, (*a).to_owned())))
        }))
        .filter(|(_, alias)| alias.chars().count() > 1);
    let allowed = if lower.chars().count() >= 5 { 2 } else { 1 };
    candidates
        .map(|(name, alias)| (edit_distance(&lower, &alias), name))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name.to_owned())
}

impl FromStr for Shortcut {
    type Err = ShortcutError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(ShortcutError::Empty);
        }
        let mut modifiers = Modifiers::default();
        let mut key: Option<(u32, String)> = None;
        for raw in trimmed.split('+') {
            let part = raw.trim();
            if part.is_empty() {
                return Err(ShortcutError::EmptyPart {
                    text: trimmed.to_owned(),
                });
            }
            if let Some(modifier) = parse_modifier(part) {
                let (flag, name) = match modifier {
                    Modifier::Ctrl => (&mut modifiers.ctrl, "Ctrl"),
                    Modifier::Alt => (&mut modifiers.alt, "Alt"),
                    Modifier::Shift => (&mut modifiers.shift, "Shift"),
                    Modifier::Super => (&mut modifiers.super_key, "Super"),
                };
                if *flag {
                    return Err(ShortcutError::RepeatedModifier {
                        text: trimmed.to_owned(),
                        modifier: name.to_owned(),
                    });
                }
                *flag = true;
                continue;
            }
            let Some(keysym) = parse_key(part) else {
                return Err(ShortcutError::UnknownKey {
                    key: part.to_owned(),
                    suggestion: suggest(part),
                });
            };
            if let Some((_, first)) = &key {
                return Err(ShortcutError::TwoKeys {
                    text: trimmed.to_owned(),
                    first: first.clone(),
                    second: key_name(keysym),
                });
            }
            key = Some((keysym, key_name(keysym)));
        }
        let Some((keysym, name)) = key else {
            return Err(ShortcutError::NoKey {
                text: trimmed.to_owned(),
            });
        };
        if types_text(keysym) && !(modifiers.ctrl || modifiers.alt || modifiers.super_key) {
            return Err(ShortcutError::NeedsModifier {
                text: trimmed.to_owned(),
                key: name,
            });
        }
        Ok(Shortcut { modifiers, keysym })
    }
}

impl fmt::Display for Shortcut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.modifiers;
        for (on, name) in [
            (m.ctrl, "Ctrl"),
            (m.alt, "Alt"),
            (m.shift, "Shift"),
            (m.super_key, "Super"),
        ] {
            if on {
                write!(f, "{name}+")?;
            }
        }
        f.write_str(&key_name(self.keysym))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Shortcut, ShortcutError> {
        text.parse()
    }

    #[test]
    fn canonical_round_trip() {
        for (text, canonical) in [
            ("Ctrl+Alt+Space", "Ctrl+Alt+Space"),
            ("ctrl + alt + space", "Ctrl+Alt+Space"),
            ("Super+h", "Super+H"),
            ("Meta+H", "Super+H"),
            ("F9", "F9"),
            ("f24", "F24"),
            ("Space+Alt+Control", "Ctrl+Alt+Space"),
            ("Shift+Super+Return", "Shift+Super+Return"),
            ("Ctrl+Shift+,", "Ctrl+Shift+Comma"),
            ("Alt+PgUp", "Alt+PageUp"),
            ("Pause", "Pause"),
            ("Ctrl+7", "Ctrl+7"),
        ] {
            let shortcut = parse(text).unwrap();
            assert_eq!(shortcut.to_string(), canonical, "{text}");
            assert_eq!(parse(canonical).unwrap(), shortcut, "{canonical}");
        }
    }

    #[test]
    fn keysyms_are_xkb_keysyms() {
        let s = parse("Super+H").unwrap();
        assert_eq!(s.keysym(), 0x68);
        assert!(s.modifiers().super_key && !s.modifiers().ctrl);
        assert_eq!(parse("Ctrl+Alt+Space").unwrap().keysym(), 0x20);
        assert_eq!(parse("F9").unwrap().keysym(), 0xffc6);
        assert!(parse("F9").unwrap().modifiers().is_empty());
    }

    #[test]
    fn typo_gets_a_suggestion() {
        let err = parse("Ctrl+Alt+Spcae").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown key \"Spcae\"; did you mean Space?"
        );
        let err = parse("Ctlr+A").unwrap_err();
        assert_eq!(err.to_string(), "unknown key \"Ctlr\"; did you mean Ctrl?");
        let err = parse("Ctrl+Retrun").unwrap_err();
        assert!(err.to_string().contains("did you mean Return?"), "{err}");
    }

    #[test]
    fn unknown_key_without_close_match_lists_keys() {
        let err = parse("Ctrl+Banana").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("unknown key \"Banana\"; use a letter"),
            "{text}"
        );
        assert!(matches!(
            err,
            ShortcutError::UnknownKey {
                suggestion: None,
                ..
            }
        ));
    }

    #[test]
    fn structural_errors() {
        assert_eq!(parse("  "), Err(ShortcutError::Empty));
        assert!(matches!(
            parse("Ctrl++A"),
            Err(ShortcutError::EmptyPart { .. })
        ));
        assert!(matches!(
            parse("Ctrl+Alt"),
            Err(ShortcutError::NoKey { .. })
        ));
        let err = parse("Ctrl+A+B").unwrap_err();
        assert_eq!(
            err.to_string(),
            "a shortcut has one key besides its modifiers, but \"Ctrl+A+B\" has two: A and B"
        );
        assert_eq!(
            parse("Ctrl+Control+A").unwrap_err().to_string(),
            "Ctrl appears twice in \"Ctrl+Control+A\""
        );
        assert!(matches!(parse("F0"), Err(ShortcutError::UnknownKey { .. })));
        assert!(matches!(
            parse("F25"),
            Err(ShortcutError::UnknownKey { .. })
        ));
        assert!(matches!(
            parse("F09"),
            Err(ShortcutError::UnknownKey { .. })
        ));
    }

    #[test]
    fn typing_keys_need_a_real_modifier() {
        for text in ["A", "Shift+A", "Space", "Return", "Shift+Space"] {
            assert!(
                matches!(parse(text), Err(ShortcutError::NeedsModifier { .. })),
                "{text}"
            );
        }
        assert_eq!(
            parse("Space").unwrap_err().to_string(),
            "\"Space\" would take the key Space away from every application; \
             add Ctrl, Alt or Super, like \"Ctrl+Alt+Space\""
        );
        assert!(parse("Shift+F9").is_ok());
        assert!(parse("Super+A").is_ok());
    }
}
