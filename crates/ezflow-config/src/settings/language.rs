//! The `language` setting: Whisper's language table and the [`Language`]
//! value (automatic detection or one language code).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::fields::LANGUAGE_ACCEPTS;
use super::{invalid, SettingsError};
use crate::suggest::closest;

/// Whisper's languages, `(code, English name)`, in whisper.cpp's id order (the
/// index is the language id). 99 languages plus Cantonese (`yue`), which only
/// large-v3 models know.
pub const WHISPER_LANGUAGES: &[(&str, &str)] = &[
    ("en", "english"),
    ("zh", "chinese"),
    ("de", "german"),
    ("es", "spanish"),
    ("ru", "russian"),
    ("ko", "korean"),
    ("fr", "french"),
    ("ja", "japanese"),
    ("pt", "portuguese"),
    ("tr", "turkish"),
    ("pl", "polish"),
    ("ca", "catalan"),
    ("nl", "dutch"),
    ("ar", "arabic"),
    ("sv", "swedish"),
    ("it", "italian"),
    ("id", "indonesian"),
    ("hi", "hindi"),
    ("fi", "finnish"),
    ("vi", "vietnamese"),
    ("he", "hebrew"),
    ("uk", "ukrainian"),
    ("el", "greek"),
    ("ms", "malay"),
    ("cs", "czech"),
    ("ro", "romanian"),
    ("da", "danish"),
    ("hu", "hungarian"),
    ("ta", "tamil"),
    ("no", "norwegian"),
    ("th", "thai"),
    ("ur", "urdu"),
    ("hr", "croatian"),
    ("bg", "bulgarian"),
    ("lt", "lithuanian"),
    ("la", "latin"),
    ("mi", "maori"),
    ("ml", "malayalam"),
    ("cy", "welsh"),
    ("sk", "slovak"),
    ("te", "telugu"),
    ("fa", "persian"),
    ("lv", "latvian"),
    ("bn", "bengali"),
    ("sr", "serbian"),
    ("az", "azerbaijani"),
    ("sl", "slovenian"),
    ("kn", "kannada"),
    ("et", "estonian"),
    ("mk", "macedonian"),
    ("br", "breton"),
    ("eu", "basque"),
    ("is", "icelandic"),
    ("hy", "armenian"),
    ("ne", "nepali"),
    ("mn", "mongolian"),
    ("bs", "bosnian"),
    ("kk", "kazakh"),
    ("sq", "albanian"),
    ("sw", "swahili"),
    ("gl", "galician"),
    ("mr", "marathi"),
    ("pa", "punjabi"),
    ("si", "sinhala"),
    ("km", "khmer"),
    ("sn", "shona"),
    ("yo", "yoruba"),
    ("so", "somali"),
    ("af", "afrikaans"),
    ("oc", "occitan"),
    ("ka", "georgian"),
    ("be", "belarusian"),
    ("tg", "tajik"),
    ("sd", "sindhi"),
    ("gu", "gujarati"),
    ("am", "amharic"),
    ("yi", "yiddish"),
    ("lo", "lao"),
    ("uz", "uzbek"),
    ("fo", "faroese"),
    ("ht", "haitian creole"),
    ("ps", "pashto"),
    ("tk", "turkmen"),
    ("nn", "nynorsk"),
    ("mt", "maltese"),
    ("sa", "sanskrit"),
    ("lb", "luxembourgish"),
    ("my", "myanmar"),
    ("bo", "tibetan"),
    ("tl", "tagalog"),
    ("mg", "malagasy"),
    ("as", "assamese"),
    ("tt", "tatar"),
    ("haw", "hawaiian"),
    ("ln", "lingala"),
    ("ha", "hausa"),
    ("ba", "bashkir"),
    ("jw", "javanese"),
    ("su", "sundanese"),
    ("yue", "cantonese"),
];

/// The spoken language: automatic detection, or one of
/// [`WHISPER_LANGUAGES`]. Written as `"auto"` or the language code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Language(Option<&'static str>);

impl Language {
    /// Let Whisper detect the language.
    pub const AUTO: Language = Language(None);

    /// The Whisper code (`"de"`), or `None` for automatic detection.
    pub fn code(self) -> Option<&'static str> {
        self.0
    }

    /// `"auto"` or the code, as written in the settings file.
    pub fn as_str(self) -> &'static str {
        self.0.unwrap_or("auto")
    }

    /// The language's English name (`"german"`), or `None` for automatic.
    pub fn name(self) -> Option<&'static str> {
        let code = self.0?;
        WHISPER_LANGUAGES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, n)| *n)
    }

    pub fn is_auto(self) -> bool {
        self.0.is_none()
    }
}

/// Accepts `auto`, a code or an English name, in any case (as whisper.cpp
/// itself does); the code is what gets stored.
pub(super) fn parse_language(s: &str) -> Result<Language, String> {
    let wanted = s.trim().to_lowercase();
    if wanted == "auto" {
        return Ok(Language::AUTO);
    }
    if wanted.is_empty() {
        return Err("it is empty; write \"auto\" to detect the language".to_owned());
    }
    if let Some((code, _)) = WHISPER_LANGUAGES
        .iter()
        .find(|(c, n)| *c == wanted || *n == wanted)
    {
        return Ok(Language(Some(code)));
    }
    let names = WHISPER_LANGUAGES.iter().map(|(_, n)| *n);
    let hint = match closest(&wanted, names) {
        Some(name) => {
            let code = WHISPER_LANGUAGES
                .iter()
                .find(|(_, n)| *n == name)
                .map_or("", |(c, _)| *c);
            format!("; did you mean {code:?} ({name})?")
        }
        None => String::new(),
    };
    Err(format!("Whisper does not know this language{hint}"))
}

impl FromStr for Language {
    type Err = SettingsError;
    fn from_str(s: &str) -> Result<Self, SettingsError> {
        parse_language(s).map_err(|r| invalid("language", s, r, LANGUAGE_ACCEPTS))
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Language {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Language {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
