//! The models as the settings window sees them: what the loop needs of the
//! model store ([`ModelLibrary`]: the report, downloads, cancel, remove,
//! import), which catalog model suits this machine ([`recommended`]), and
//! the rules for a model added from a URL ([`check_url_model`]).
//! The real library is `downloads.rs` over `ezflow_core`'s `models`,
//! `download` and `import`; the unit tests use a fake.
//!
//! It must not decide which model is active (the `model` setting, written
//! by the loop) nor load one (the transcriber).

use std::collections::BTreeMap;

use ezflow_control::{ImportQuantize, ModelsReport};
use ezflow_core::models::{self, ModelsError};

pub trait ModelLibrary {
    /// The catalog, what is installed and running downloads, for the
    /// `model` setting `active`; the recommendation for English speech
    /// (`english`) or other.
    fn report(&self, active: &str, loaded: bool, english: bool) -> Result<ModelsReport, String>;
    /// Starts downloading the catalog model `id` on a thread of its own;
    /// progress and the end are published as events.
    fn download(&self, id: &str) -> Result<(), String>;
    /// Starts downloading a model that is not in the catalog (checked by
    /// [`check_url_model`]) on a thread of its own, as [`download`] does;
    /// its events carry `model.name` as the id.
    ///
    /// [`download`]: ModelLibrary::download
    fn download_url(&self, model: &UrlModel) -> Result<(), String>;
    /// Cancels the running download of `id`; its partial file stays.
    fn cancel(&self, id: &str) -> Result<(), String>;
    /// Deletes the installed model `id` (and a partial download of it).
    fn remove(&self, id: &str) -> Result<(), String>;
    /// Starts converting the faster-whisper folder `path` on a thread of
    /// its own; progress and the end are published as events.
    fn import(&self, path: &str, quantize: Option<ImportQuantize>) -> Result<(), String>;
    /// Whether the model `id` is installed (a file in the store).
    fn is_installed(&self, id: &str) -> bool;
    /// Whether the store holds no model at all (the first run).
    fn is_empty(&self) -> bool;
    /// The catalog model suggested for this machine ([`recommended`]), for
    /// English speech (`english`) or other.
    fn recommended(&self, english: bool) -> String;
}

/// A `model-download-url` request whose arguments passed
/// [`check_url_model`]: trimmed, the SHA-256 in lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlModel {
    /// The store id: the file becomes `ggml-<name>.bin`.
    pub name: String,
    pub url: String,
    /// 64 lowercase hex digits.
    pub sha256: String,
}

/// The longest name a model added from a URL may have.
const MAX_NAME_CHARS: usize = 100;

/// What a name may be made of, said where one is refused.
const NAME_CHARS: &str = "use letters, digits, '.', '-' and '_', such as my-model-q8_0";

/// Checks the arguments of `model-download-url`: every refusal as one line
/// per field (`name`, `url`, `sha256`), fit to show beside that field.
/// `is_installed` says whether a model of that name is in the store.
pub fn check_url_model(
    name: &str,
    url: &str,
    sha256: &str,
    is_installed: impl Fn(&str) -> bool,
) -> Result<UrlModel, BTreeMap<String, String>> {
    let (name, url, sha256) = (name.trim(), url.trim(), sha256.trim());
    let mut errors = BTreeMap::new();
    if let Err(why) = check_name(name, is_installed) {
        errors.insert("name".to_owned(), why);
    }
    if let Err(why) = check_url(url) {
        errors.insert("url".to_owned(), why);
    }
    if let Err(why) = check_sha256(sha256) {
        errors.insert("sha256".to_owned(), why);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(UrlModel {
        name: name.to_owned(),
        url: url.to_owned(),
        sha256: sha256.to_ascii_lowercase(),
    })
}

fn check_name(name: &str, is_installed: impl Fn(&str) -> bool) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!(
            "give the model a name; {NAME_CHARS} (the file becomes ggml-<name>.bin)"
        ));
    }
    match models::validate_id(name) {
        Ok(()) => {}
        Err(ModelsError::InvalidId { reason, .. }) => {
            return Err(format!("not a valid name: {reason}; {NAME_CHARS}"))
        }
        Err(e) => return Err(e.to_string()),
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(format!("{c:?} cannot be in a name; {NAME_CHARS}"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("a name has at most {MAX_NAME_CHARS} characters"));
    }
    if name.to_ascii_lowercase().ends_with(".bin") {
        return Err(format!(
            "leave out the .bin: the file becomes ggml-{}.bin",
            &name[..name.len() - 4]
        ));
    }
    if ezflow_core::catalog::find(name).is_some() {
        return Err(format!(
            "{name} is a catalog model; use Download in the list"
        ));
    }
    if is_installed(name) {
        return Err(format!(
            "a model named {name} is already installed; remove it first, or choose another name"
        ));
    }
    Ok(())
}

fn check_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err(
            "give the address of the model file, starting with https:// or http://".to_owned(),
        );
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("not an address; it must start with https:// or http://".to_owned());
    };
    if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
        return Err(format!(
            "{scheme}:// addresses are not supported; give one starting with https:// or http://"
        ));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("an address has no spaces; write a space as %20".to_owned());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = match host_port.strip_prefix('[') {
        // An IPv6 literal: [::1]:8080.
        Some(v6) => {
            let (host, after) = v6.split_once(']').unwrap_or((v6, ""));
            (host, after.strip_prefix(':'))
        }
        None => match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err(format!("the address has no host name after {scheme}://"));
    }
    if let Some(port) = port.filter(|p| p.parse::<u16>().map_or(true, |p| p == 0)) {
        return Err(format!("{port:?} is not a port number (1 to 65535)"));
    }
    Ok(())
}

fn check_sha256(sha256: &str) -> Result<(), String> {
    const WHAT: &str = "a SHA-256 is 64 hex digits (0-9, a-f), as the model's publisher lists it";
    if sha256.is_empty() {
        return Err(format!(
            "give the file's SHA-256; {WHAT} (the download is checked against it)"
        ));
    }
    if let Some(c) = sha256.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("{c:?} is not a hex digit; {WHAT}"));
    }
    if sha256.len() != 64 {
        return Err(format!("this has {} digits; {WHAT}", sha256.len()));
    }
    Ok(())
}

/// The catalog model to suggest on a machine with `cores` physical cores
/// and `memory` bytes of RAM, for English (`english`) or other speech.
///
/// The rule, from the benchmark's real-time factors (docs/performance.md):
/// - under 2 GiB of memory or a single core: `tiny` (about 0.1 GB loaded);
///   anything larger leaves too little for the rest of the desktop or
///   runs slower than speech;
/// - 8 cores or more and at least 8 GiB: `small` (about 0.5 GB loaded,
///   noticeably more accurate, still well under real time there);
/// - otherwise `base` (about 0.2 GB loaded), the default.
///
/// English-only (`.en`) models are more accurate for English at the same
/// size, so they are suggested unless the speech is in another language.
pub fn recommended(cores: usize, memory: Option<u64>, english: bool) -> &'static str {
    const GIB: u64 = 1024 * 1024 * 1024;
    let memory = memory.unwrap_or(4 * GIB);
    let family = if memory < 2 * GIB || cores <= 1 {
        "tiny"
    } else if cores >= 8 && memory >= 8 * GIB {
        "small"
    } else {
        "base"
    };
    match (family, english) {
        ("tiny", true) => "tiny.en",
        ("tiny", false) => "tiny",
        ("small", true) => "small.en",
        ("small", false) => "small",
        (_, true) => "base.en",
        (_, false) => "base",
    }
}

/// The machine's memory in bytes (`MemTotal` in `/proc/meminfo`).
pub fn total_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line
        .trim_start_matches("MemTotal:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * 1024 * 1024;

    #[test]
    fn the_recommendation_follows_cores_and_memory() {
        assert_eq!(recommended(2, Some(4 * GIB), true), "base.en");
        assert_eq!(recommended(1, Some(16 * GIB), true), "tiny.en");
        assert_eq!(recommended(16, Some(GIB), true), "tiny.en");
        assert_eq!(recommended(8, Some(8 * GIB), true), "small.en");
        assert_eq!(recommended(8, Some(6 * GIB), false), "base");
        assert_eq!(recommended(4, None, true), "base.en");
        for id in ["tiny", "tiny.en", "base", "base.en", "small", "small.en"] {
            assert!(
                ezflow_core::catalog::find(id).is_some(),
                "{id} is in the catalog"
            );
        }
    }

    const SHA: &str = "3F0C5E0A1B2C3D4E5F60718293A4B5C6D7E8F90123456789ABCDEF0123456789";

    fn check(name: &str, url: &str, sha256: &str) -> Result<UrlModel, BTreeMap<String, String>> {
        check_url_model(name, url, sha256, |id| id == "mine")
    }

    fn refused(name: &str, url: &str, sha256: &str) -> BTreeMap<String, String> {
        check(name, url, sha256).expect_err("refused")
    }

    #[test]
    fn a_url_model_is_trimmed_and_its_hash_lowercased() {
        let model = check(
            " acme_med-1.q8 ",
            " https://models.example/ggml-acme.bin ",
            SHA,
        )
        .unwrap();
        assert_eq!(
            model,
            UrlModel {
                name: "acme_med-1.q8".into(),
                url: "https://models.example/ggml-acme.bin".into(),
                sha256: SHA.to_ascii_lowercase(),
            }
        );
        for url in [
            "http://127.0.0.1:8080/m.bin",
            "HTTPS://user@host/m.bin?x=1",
            "http://[::1]:9/m",
        ] {
            assert!(check("m", url, SHA).is_ok(), "{url}");
        }
    }

    #[test]
    fn each_bad_argument_is_refused_beside_its_field() {
        let url = "https://models.example/m.bin";
        let all = refused("", "", "");
        assert_eq!(
            all.keys().collect::<Vec<_>>(),
            ["name", "sha256", "url"],
            "every field at once: {all:?}"
        );
        assert!(all["name"].starts_with("give the model a name"), "{all:?}");
        assert!(all["url"].contains("https://"), "{all:?}");
        assert!(all["sha256"].contains("64 hex digits"), "{all:?}");

        let name = |n: &str| refused(n, url, SHA)["name"].clone();
        assert_eq!(
            name("base.en"),
            "base.en is a catalog model; use Download in the list"
        );
        assert!(name("mine").contains("already installed; remove it first"));
        assert!(name("a/b").contains("path separator"), "{}", name("a/b"));
        assert!(name(".hidden").contains("starts with a dot"));
        assert!(name("my model").starts_with("' ' cannot be in a name"));
        assert!(name("m.bin").contains("ggml-m.bin"), "{}", name("m.bin"));
        assert!(name(&"x".repeat(101)).contains("at most 100"));

        let bad_url = |u: &str| refused("m", u, SHA)["url"].clone();
        assert!(bad_url("models.example/m.bin").contains("must start with https://"));
        assert!(bad_url("ftp://models.example/m.bin").starts_with("ftp:// addresses are not"));
        assert!(bad_url("file:///tmp/m.bin").starts_with("file:// addresses"));
        assert!(bad_url("https:///m.bin").contains("no host name"));
        assert!(bad_url("https://host/a b.bin").contains("%20"));
        assert!(bad_url("https://host:http/m").contains("not a port number"));

        let sha = |h: &str| refused("m", url, h)["sha256"].clone();
        assert!(sha(&SHA[..63]).starts_with("this has 63 digits"));
        assert!(sha(&format!("{}g", &SHA[..63])).starts_with("'g' is not a hex digit"));
        assert!(sha(&format!("sha256:{SHA}")).starts_with("'s' is not a hex digit"));
    }

    #[test]
    fn this_machine_has_memory() {
        assert!(total_memory().is_some_and(|m| m > 0));
    }
}
