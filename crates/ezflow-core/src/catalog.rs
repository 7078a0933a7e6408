//! The catalog of downloadable Whisper models: the standard whisper.cpp GGML
//! files published in the `ggerganov/whisper.cpp` Hugging Face repository,
//! each pinned to its exact size and SHA-256 so a download can be verified.
//!
//! This module is data plus lookups. It never touches the network or the
//! disk; downloading is `download`'s job and the installed models are
//! `models`' job.

use std::fmt;

/// Where the model files live unless [`BASE_URL_ENV`] says otherwise.
pub const DEFAULT_BASE_URL: &str = "https://huggingface.co/ggerganov/whisper.cpp/resolve/main";

/// Overrides [`DEFAULT_BASE_URL`] (for mirrors, and for tests that serve the
/// files from a local HTTP server). An entry's URL is `base + "/" + file_name`.
pub const BASE_URL_ENV: &str = "EZFLOW_MODEL_BASE_URL";

/// How a model's weights are stored. The published "full precision" GGML
/// files hold their matrices in f16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quantization {
    F16,
    Q5_0,
    Q5_1,
    Q8_0,
}

impl Quantization {
    /// The short name used in file names and on screen (`f16`, `q5_1`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Quantization::F16 => "f16",
            Quantization::Q5_0 => "q5_0",
            Quantization::Q5_1 => "q5_1",
            Quantization::Q8_0 => "q8_0",
        }
    }
}

impl fmt::Display for Quantization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One downloadable model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogEntry {
    /// The id the user types (`base.en`, `small-q5_1`); the file is
    /// `ggml-{id}.bin`.
    pub id: &'static str,
    pub file_name: &'static str,
    /// Exact size of the published file in bytes.
    pub size_bytes: u64,
    /// Lowercase hex SHA-256 of the published file. `None` would mean no
    /// trustworthy value was found; the downloader then checks the size only
    /// and logs a warning. Every entry below has one.
    pub sha256: Option<&'static str>,
    pub english_only: bool,
    pub quantization: Quantization,
    /// Parameter count, precision and speed/quality tier, for people.
    pub description: &'static str,
}

impl CatalogEntry {
    /// The download URL, honouring [`BASE_URL_ENV`].
    pub fn url(&self) -> String {
        self.url_with_base(&base_url())
    }

    /// The download URL under an explicit base (a mirror, a test server).
    pub fn url_with_base(&self, base: &str) -> String {
        format!("{}/{}", base.trim_end_matches('/'), self.file_name)
    }
}

/// The base URL in effect: [`BASE_URL_ENV`] when set and not empty, else
/// [`DEFAULT_BASE_URL`]. A trailing `/` is dropped.
pub fn base_url() -> String {
    match std::env::var(BASE_URL_ENV) {
        Ok(v) if !v.trim().is_empty() => v.trim().trim_end_matches('/').to_string(),
        _ => DEFAULT_BASE_URL.to_string(),
    }
}

/// Every catalog entry, smallest family first, each family as f16, then its
/// quantized variants.
pub fn all() -> &'static [CatalogEntry] {
    CATALOG
}

/// The entry with this id, if any.
pub fn find(id: &str) -> Option<&'static CatalogEntry> {
    CATALOG.iter().find(|e| e.id == id)
}

// Sizes and SHA-256 values: the Git LFS metadata (size, oid = sha256) of the
// files in huggingface.co/ggerganov/whisper.cpp at revision
// 5359861c739e955e79d9a303bcbc70fb988958b1 (what `resolve/main` served when
// these sources were written). Hugging Face cannot be reached from the machine
// this was written on, so every value was copied from public source files that
// record them, and all 27 (size and hash) agree across three independent ones:
//   - Sal7one/Hearth: app/src/main/java/com/sal7one/transiber/models/WhisperDownloads.kt
//   - tnware/freehand-stt: internal/managedruntime (Go `whisperProvider` specs,
//     "the official Hugging Face API's LFS metadata")
//   - a `ReXConfig.java` (package `ni.shikatu.rex`), WHISPER_MODEL_CHECKSUMS
// with partial confirmation from braidcast/braidcast-studio
// frontend/src/voice/VoiceModels.cpp (the four *-q5_1 English/base entries it
// pins). Which quantized files exist (q5_1 for tiny/base/small, q5_0 for
// medium and large-v3-turbo, q8_0 for all) follows the repository's model
// card, mirrored in piggestpig/Unreal-Mineprep:
// Mineprep/Render/models/whisper/README.md.
static CATALOG: &[CatalogEntry] = &[
    CatalogEntry {
        id: "tiny",
        file_name: "ggml-tiny.bin",
        size_bytes: 77_691_713,
        sha256: Some("be07e048e1e599ad46341c8d2a135645097a538221678b7acdd1b1919c6e1b21"),
        english_only: false,
        quantization: Quantization::F16,
        description: "39 M parameters, full precision: fastest, least accurate",
    },
    CatalogEntry {
        id: "tiny-q5_1",
        file_name: "ggml-tiny-q5_1.bin",
        size_bytes: 32_152_673,
        sha256: Some("818710568da3ca15689e31a743197b520007872ff9576237bda97bd1b469c3d7"),
        english_only: false,
        quantization: Quantization::Q5_1,
        description: "39 M parameters, 5-bit quantized: fastest, least accurate",
    },
    CatalogEntry {
        id: "tiny-q8_0",
        file_name: "ggml-tiny-q8_0.bin",
        size_bytes: 43_537_433,
        sha256: Some("c2085835d3f50733e2ff6e4b41ae8a2b8d8110461e18821b09a15c40c42d1cca"),
        english_only: false,
        quantization: Quantization::Q8_0,
        description: "39 M parameters, 8-bit quantized: fastest, least accurate",
    },
    CatalogEntry {
        id: "tiny.en",
        file_name: "ggml-tiny.en.bin",
        size_bytes: 77_704_715,
        sha256: Some("921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f"),
        english_only: true,
        quantization: Quantization::F16,
        description: "39 M parameters, full precision: fastest, least accurate",
    },
    CatalogEntry {
        id: "tiny.en-q5_1",
        file_name: "ggml-tiny.en-q5_1.bin",
        size_bytes: 32_166_155,
        sha256: Some("c77c5766f1cef09b6b7d47f21b546cbddd4157886b3b5d6d4f709e91e66c7c2b"),
        english_only: true,
        quantization: Quantization::Q5_1,
        description: "39 M parameters, 5-bit quantized: fastest, least accurate",
    },
    CatalogEntry {
        id: "tiny.en-q8_0",
        file_name: "ggml-tiny.en-q8_0.bin",
        size_bytes: 43_550_795,
        sha256: Some("5bc2b3860aa151a4c6e7bb095e1fcce7cf12c7b020ca08dcec0c6d018bb7dd94"),
        english_only: true,
        quantization: Quantization::Q8_0,
        description: "39 M parameters, 8-bit quantized: fastest, least accurate",
    },
    CatalogEntry {
        id: "base",
        file_name: "ggml-base.bin",
        size_bytes: 147_951_465,
        sha256: Some("60ed5bc3dd14eea856493d334349b405782ddcaf0028d4b5df4088345fba2efe"),
        english_only: false,
        quantization: Quantization::F16,
        description: "74 M parameters, full precision: fast, good for clear dictation",
    },
    CatalogEntry {
        id: "base-q5_1",
        file_name: "ggml-base-q5_1.bin",
        size_bytes: 59_707_625,
        sha256: Some("422f1ae452ade6f30a004d7e5c6a43195e4433bc370bf23fac9cc591f01a8898"),
        english_only: false,
        quantization: Quantization::Q5_1,
        description: "74 M parameters, 5-bit quantized: fast, good for clear dictation",
    },
    CatalogEntry {
        id: "base-q8_0",
        file_name: "ggml-base-q8_0.bin",
        size_bytes: 81_768_585,
        sha256: Some("c577b9a86e7e048a0b7eada054f4dd79a56bbfa911fbdacf900ac5b567cbb7d9"),
        english_only: false,
        quantization: Quantization::Q8_0,
        description: "74 M parameters, 8-bit quantized: fast, good for clear dictation",
    },
    CatalogEntry {
        id: "base.en",
        file_name: "ggml-base.en.bin",
        size_bytes: 147_964_211,
        sha256: Some("a03779c86df3323075f5e796cb2ce5029f00ec8869eee3fdfb897afe36c6d002"),
        english_only: true,
        quantization: Quantization::F16,
        description: "74 M parameters, full precision: fast, good for clear dictation",
    },
    CatalogEntry {
        id: "base.en-q5_1",
        file_name: "ggml-base.en-q5_1.bin",
        size_bytes: 59_721_011,
        sha256: Some("4baf70dd0d7c4247ba2b81fafd9c01005ac77c2f9ef064e00dcf195d0e2fdd2f"),
        english_only: true,
        quantization: Quantization::Q5_1,
        description: "74 M parameters, 5-bit quantized: fast, good for clear dictation",
    },
    CatalogEntry {
        id: "base.en-q8_0",
        file_name: "ggml-base.en-q8_0.bin",
        size_bytes: 81_781_811,
        sha256: Some("a4d4a0768075e13cfd7e19df3ae2dbc4a68d37d36a7dad45e8410c9a34f8c87e"),
        english_only: true,
        quantization: Quantization::Q8_0,
        description: "74 M parameters, 8-bit quantized: fast, good for clear dictation",
    },
    CatalogEntry {
        id: "small",
        file_name: "ggml-small.bin",
        size_bytes: 487_601_967,
        sha256: Some("1be3a9b2063867b937e64e2ec7483364a79917e157fa98c5d94b5c1fffea987b"),
        english_only: false,
        quantization: Quantization::F16,
        description: "244 M parameters, full precision: more accurate, about 3x slower than base",
    },
    CatalogEntry {
        id: "small-q5_1",
        file_name: "ggml-small-q5_1.bin",
        size_bytes: 190_085_487,
        sha256: Some("ae85e4a935d7a567bd102fe55afc16bb595bdb618e11b2fc7591bc08120411bb"),
        english_only: false,
        quantization: Quantization::Q5_1,
        description: "244 M parameters, 5-bit quantized: more accurate, about 3x slower than base",
    },
    CatalogEntry {
        id: "small-q8_0",
        file_name: "ggml-small-q8_0.bin",
        size_bytes: 264_464_607,
        sha256: Some("49c8fb02b65e6049d5fa6c04f81f53b867b5ec9540406812c643f177317f779f"),
        english_only: false,
        quantization: Quantization::Q8_0,
        description: "244 M parameters, 8-bit quantized: more accurate, about 3x slower than base",
    },
    CatalogEntry {
        id: "small.en",
        file_name: "ggml-small.en.bin",
        size_bytes: 487_614_201,
        sha256: Some("c6138d6d58ecc8322097e0f987c32f1be8bb0a18532a3f88f734d1bbf9c41e5d"),
        english_only: true,
        quantization: Quantization::F16,
        description: "244 M parameters, full precision: more accurate, about 3x slower than base",
    },
    CatalogEntry {
        id: "small.en-q5_1",
        file_name: "ggml-small.en-q5_1.bin",
        size_bytes: 190_098_681,
        sha256: Some("bfdff4894dcb76bbf647d56263ea2a96645423f1669176f4844a1bf8e478ad30"),
        english_only: true,
        quantization: Quantization::Q5_1,
        description: "244 M parameters, 5-bit quantized: more accurate, about 3x slower than base",
    },
    CatalogEntry {
        id: "small.en-q8_0",
        file_name: "ggml-small.en-q8_0.bin",
        size_bytes: 264_477_561,
        sha256: Some("67a179f608ea6114bd3fdb9060e762b588a3fb3bd00c4387971be4d177958067"),
        english_only: true,
        quantization: Quantization::Q8_0,
        description: "244 M parameters, 8-bit quantized: more accurate, about 3x slower than base",
    },
    CatalogEntry {
        id: "medium",
        file_name: "ggml-medium.bin",
        size_bytes: 1_533_763_059,
        sha256: Some("6c14d5adee5f86394037b4e4e8b59f1673b6cee10e3cf0b11bbdbee79c156208"),
        english_only: false,
        quantization: Quantization::F16,
        description: "769 M parameters, full precision: high accuracy, slow on a CPU",
    },
    CatalogEntry {
        id: "medium-q5_0",
        file_name: "ggml-medium-q5_0.bin",
        size_bytes: 539_212_467,
        sha256: Some("19fea4b380c3a618ec4723c3eef2eb785ffba0d0538cf43f8f235e7b3b34220f"),
        english_only: false,
        quantization: Quantization::Q5_0,
        description: "769 M parameters, 5-bit quantized: high accuracy, slow on a CPU",
    },
    CatalogEntry {
        id: "medium-q8_0",
        file_name: "ggml-medium-q8_0.bin",
        size_bytes: 823_369_779,
        sha256: Some("42a1ffcbe4167d224232443396968db4d02d4e8e87e213d3ee2e03095dea6502"),
        english_only: false,
        quantization: Quantization::Q8_0,
        description: "769 M parameters, 8-bit quantized: high accuracy, slow on a CPU",
    },
    CatalogEntry {
        id: "medium.en",
        file_name: "ggml-medium.en.bin",
        size_bytes: 1_533_774_781,
        sha256: Some("cc37e93478338ec7700281a7ac30a10128929eb8f427dda2e865faa8f6da4356"),
        english_only: true,
        quantization: Quantization::F16,
        description: "769 M parameters, full precision: high accuracy, slow on a CPU",
    },
    CatalogEntry {
        id: "medium.en-q5_0",
        file_name: "ggml-medium.en-q5_0.bin",
        size_bytes: 539_225_533,
        sha256: Some("76733e26ad8fe1c7a5bf7531a9d41917b2adc0f20f2e4f5531688a8c6cd88eb0"),
        english_only: true,
        quantization: Quantization::Q5_0,
        description: "769 M parameters, 5-bit quantized: high accuracy, slow on a CPU",
    },
    CatalogEntry {
        id: "medium.en-q8_0",
        file_name: "ggml-medium.en-q8_0.bin",
        size_bytes: 823_382_461,
        sha256: Some("43fa2cd084de5a04399a896a9a7a786064e221365c01700cea4666005218f11c"),
        english_only: true,
        quantization: Quantization::Q8_0,
        description: "769 M parameters, 8-bit quantized: high accuracy, slow on a CPU",
    },
    CatalogEntry {
        id: "large-v3-turbo",
        file_name: "ggml-large-v3-turbo.bin",
        size_bytes: 1_624_555_275,
        sha256: Some("1fc70f774d38eb169993ac391eea357ef47c88757ef72ee5943879b7e8e2bc69"),
        english_only: false,
        quantization: Quantization::F16,
        description: "809 M parameters, full precision: close to large-v3 accuracy, slow on a CPU",
    },
    CatalogEntry {
        id: "large-v3-turbo-q5_0",
        file_name: "ggml-large-v3-turbo-q5_0.bin",
        size_bytes: 574_041_195,
        sha256: Some("394221709cd5ad1f40c46e6031ca61bce88931e6e088c188294c6d5a55ffa7e2"),
        english_only: false,
        quantization: Quantization::Q5_0,
        description: "809 M parameters, 5-bit quantized: close to large-v3 accuracy, slow on a CPU",
    },
    CatalogEntry {
        id: "large-v3-turbo-q8_0",
        file_name: "ggml-large-v3-turbo-q8_0.bin",
        size_bytes: 874_188_075,
        sha256: Some("317eb69c11673c9de1e1f0d459b253999804ec71ac4c23c17ecf5fbe24e259a1"),
        english_only: false,
        quantization: Quantization::Q8_0,
        description: "809 M parameters, 8-bit quantized: close to large-v3 accuracy, slow on a CPU",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_consistent() {
        let mut seen = std::collections::HashSet::new();
        for e in all() {
            assert!(seen.insert(e.id), "duplicate id {}", e.id);
            assert_eq!(e.file_name, format!("ggml-{}.bin", e.id));
            assert_eq!(e.english_only, e.id.contains(".en"), "{}", e.id);
            let suffix = e.id.rsplit_once('-').map(|(_, s)| s).unwrap_or("");
            match e.quantization {
                Quantization::F16 => assert!(!suffix.starts_with('q'), "{}", e.id),
                q => assert_eq!(suffix, q.as_str(), "{}", e.id),
            }
            let hash = e.sha256.unwrap_or_default();
            assert_eq!(hash.len(), 64, "{}", e.id);
            assert!(
                hash.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{}",
                e.id
            );
            assert!(e.size_bytes > 30_000_000, "{}", e.id);
        }
        assert_eq!(all().len(), 27);
    }

    #[test]
    fn quantized_files_are_smaller_than_their_f16_parent() {
        for e in all().iter().filter(|e| e.quantization != Quantization::F16) {
            let parent_id = e.id.rsplit_once('-').map(|(p, _)| p).unwrap_or(e.id);
            let parent = find(parent_id).unwrap_or_else(|| panic!("no parent for {}", e.id));
            assert!(e.size_bytes < parent.size_bytes, "{}", e.id);
        }
    }

    #[test]
    fn find_and_urls() {
        let e = find("base.en").expect("base.en is in the catalog");
        assert_eq!(e.size_bytes, 147_964_211);
        assert_eq!(
            e.url_with_base(DEFAULT_BASE_URL),
            "https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-base.en.bin"
        );
        assert_eq!(
            e.url_with_base("http://127.0.0.1:9/models/"),
            "http://127.0.0.1:9/models/ggml-base.en.bin"
        );
        assert!(find("large-v3-turbo-q5_0").is_some());
        assert!(find("base.en-q5_0").is_none(), "not published upstream");
        assert!(find("huge").is_none());
    }
}
