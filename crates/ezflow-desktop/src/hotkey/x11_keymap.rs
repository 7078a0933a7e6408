//! A snapshot of an X server's keyboard mapping (keycode → keysyms) and
//! modifier mapping (modifier bit → keycodes), with the look-ups the hotkey
//! and text insertion need: which keycodes carry a keysym, which modifier bit
//! a key drives, and which keycodes are free to borrow. Shared by
//! `hotkey/x11.rs` and `insert/x11.rs`; it only reads, never changes the map.

use x11rb::connection::Connection;
use x11rb::errors::ReplyError;
use x11rb::protocol::xproto::ConnectionExt as _;

pub(crate) const NO_SYMBOL: u32 = 0;

pub(crate) mod keysym {
    pub const SHIFT_L: u32 = 0xffe1;
    pub const SHIFT_R: u32 = 0xffe2;
    pub const CONTROL_L: u32 = 0xffe3;
    pub const CONTROL_R: u32 = 0xffe4;
    pub const CAPS_LOCK: u32 = 0xffe5;
    pub const META_L: u32 = 0xffe7;
    pub const META_R: u32 = 0xffe8;
    pub const ALT_L: u32 = 0xffe9;
    pub const ALT_R: u32 = 0xffea;
    pub const SUPER_L: u32 = 0xffeb;
    pub const SUPER_R: u32 = 0xffec;
    pub const NUM_LOCK: u32 = 0xff7f;
    pub const SCROLL_LOCK: u32 = 0xff14;
    pub const RETURN: u32 = 0xff0d;
    pub const TAB: u32 = 0xff09;
}

/// The core modifier bits (ModMask): Shift, Lock, Control, Mod1…Mod5.
pub(crate) mod mask {
    pub const SHIFT: u16 = 1 << 0;
    pub const LOCK: u16 = 1 << 1;
    pub const CONTROL: u16 = 1 << 2;
    pub const MOD1: u16 = 1 << 3;
    pub const MOD2: u16 = 1 << 4;
    pub const MOD4: u16 = 1 << 6;
}

pub(crate) struct Keymap {
    min_keycode: u8,
    per_keycode: usize,
    keysyms: Vec<u32>,
    /// For each of the 8 modifier bits, the keycodes that set it.
    modifiers: Vec<Vec<u8>>,
}

impl Keymap {
    /// Reads both mappings from the server (two round trips).
    pub(crate) fn fetch(conn: &impl Connection) -> Result<Self, ReplyError> {
        let setup = conn.setup();
        let (min, max) = (setup.min_keycode, setup.max_keycode);
        let count = max.saturating_sub(min).saturating_add(1);
        let keyboard = conn.get_keyboard_mapping(min, count)?;
        let modifier = conn.get_modifier_mapping()?;
        let keyboard = keyboard.reply()?;
        let modifier = modifier.reply()?;
        let per_modifier = modifier.keycodes.len() / 8;
        let modifiers = (0..8)
            .map(|bit| {
                modifier
                    .keycodes
                    .iter()
                    .skip(bit * per_modifier)
                    .take(per_modifier)
                    .copied()
                    .filter(|&k| k != 0)
                    .collect()
            })
            .collect();
        Ok(Keymap {
            min_keycode: min,
            per_keycode: usize::from(keyboard.keysyms_per_keycode),
            keysyms: keyboard.keysyms,
            modifiers,
        })
    }

    /// How many keysyms each keycode has in the core map.
    pub(crate) fn per_keycode(&self) -> usize {
        self.per_keycode
    }

    /// All keycodes the map covers.
    pub(crate) fn keycodes(&self) -> impl Iterator<Item = u8> + '_ {
        let count = self
            .keysyms
            .len()
            .checked_div(self.per_keycode)
            .unwrap_or(0);
        (0..count).filter_map(|i| u8::try_from(usize::from(self.min_keycode) + i).ok())
    }

    /// The keysyms of `keycode`, one per column (empty when out of range).
    pub(crate) fn keysyms_of(&self, keycode: u8) -> &[u32] {
        let Some(index) = usize::from(keycode).checked_sub(usize::from(self.min_keycode)) else {
            return &[];
        };
        let start = index * self.per_keycode;
        self.keysyms
            .get(start..start + self.per_keycode)
            .unwrap_or(&[])
    }

    /// The first keycode carrying `keysym` in one of `columns`, with the column.
    pub(crate) fn find(&self, keysym: u32, columns: &[usize]) -> Option<(u8, usize)> {
        self.keycodes().find_map(|keycode| {
            let syms = self.keysyms_of(keycode);
            columns
                .iter()
                .find(|&&c| syms.get(c) == Some(&keysym))
                .map(|&c| (keycode, c))
        })
    }

    /// Every keycode carrying `keysym` in any column.
    pub(crate) fn keycodes_for(&self, keysym: u32) -> Vec<u8> {
        self.keycodes()
            .filter(|&k| self.keysyms_of(k).contains(&keysym))
            .collect()
    }

    /// The modifier bit set by a key carrying one of `keysyms`, if any.
    pub(crate) fn modifier_mask(&self, keysyms: &[u32]) -> Option<u16> {
        self.modifiers
            .iter()
            .enumerate()
            .find_map(|(bit, keycodes)| {
                keycodes
                    .iter()
                    .any(|&k| self.keysyms_of(k).iter().any(|s| keysyms.contains(s)))
                    .then_some(1u16 << bit)
            })
    }

    /// Keycodes with no keysym at all: no key of the keyboard produces
    /// anything with them, so they can be borrowed for a moment.
    pub(crate) fn spare_keycodes(&self) -> Vec<u8> {
        self.keycodes()
            .filter(|&k| self.keysyms_of(k).iter().all(|&s| s == NO_SYMBOL))
            .collect()
    }
}

/// The keysyms to press for `text`: newlines as Return, tabs as Tab, other
/// control characters skipped (a CR LF pair is one Return).
pub(crate) fn text_keysyms(text: &str) -> Vec<u32> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let sym = match c {
            '\r' if chars.peek() == Some(&'\n') => continue,
            '\n' | '\r' => keysym::RETURN,
            '\t' => keysym::TAB,
            c if c.is_control() => {
                tracing::warn!("skipping control character U+{:04X}", u32::from(c));
                continue;
            }
            c => char_keysym(c),
        };
        out.push(sym);
    }
    out
}

/// The X keysym of a character: Latin-1 keysyms are the code points,
/// everything else is the Unicode keysym 0x0100_0000 + code point.
fn char_keysym(c: char) -> u32 {
    let code = u32::from(c);
    match code {
        0x20..=0x7e | 0xa0..=0xff => code,
        _ => 0x0100_0000 + code,
    }
}
