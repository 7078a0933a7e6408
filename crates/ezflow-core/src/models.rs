//! The installed-model store: the directory of `ggml-*.bin` files EZ Flow
//! can load, what is in it, where a model would go, resolving what the user
//! typed (an id or a path) to a file, removing models, and installing catalog
//! models through the downloader.
//!
//! It owns file naming in the models directory (`ggml-{id}.bin`, partial
//! downloads as `ggml-{id}.bin.partial`). It does not open or validate model
//! contents (that is the engine's and `model_file`'s job) and it never prints.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tracing::{info, warn};

use crate::catalog::{self, CatalogEntry};
use crate::download::{self, DownloadError, DownloadOutcome, DownloadRequest, Progress};
use ezflow_config::paths::{self, PathsError};

const FILE_PREFIX: &str = "ggml-";
const FILE_SUFFIX: &str = ".bin";
const PARTIAL_SUFFIX: &str = ".partial";

/// A model file in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledModel {
    /// `base.en` for `ggml-base.en.bin`.
    pub id: String,
    pub path: PathBuf,
    pub size_bytes: u64,
    /// The catalog entry with this id, if there is one (imported and
    /// hand-placed models have none).
    pub catalog: Option<&'static CatalogEntry>,
}

impl InstalledModel {
    /// True when a catalog model's file does not have the catalog's size
    /// (damaged, or replaced by hand). Always false for non-catalog models.
    pub fn size_differs_from_catalog(&self) -> bool {
        self.catalog
            .is_some_and(|entry| entry.size_bytes != self.size_bytes)
    }
}

/// An unfinished download in the store (`ggml-{id}.bin.partial`); running
/// the download again resumes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialDownload {
    pub id: String,
    pub path: PathBuf,
    pub bytes_done: u64,
    /// The full size, when the id is in the catalog.
    pub total: Option<u64>,
}

/// Where to fetch a model from and what it must be. Catalog installs build
/// one from the catalog; other sources (a mirror, a custom model URL) pass
/// their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSource {
    pub id: String,
    pub url: String,
    pub size_bytes: Option<u64>,
    /// Lowercase hex SHA-256; `None` verifies the size only.
    pub sha256: Option<String>,
}

/// The result of an install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallReport {
    pub model: InstalledModel,
    /// `None` when the model was already installed and nothing was fetched.
    pub download: Option<DownloadOutcome>,
}

/// Why a store operation failed; the messages tell the user what to run.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    #[error(transparent)]
    Paths(#[from] PathsError),

    #[error("model '{id}' is not installed; run `ezflow models download {id}`")]
    NotInstalled { id: String },

    #[error(
        "unknown model '{id}'; known models include {known}; run `ezflow models list` to see them all"
    )]
    Unknown { id: String, known: String },

    #[error("'{id}' is not a valid model id: {reason}")]
    InvalidId { id: String, reason: &'static str },

    #[error("model file {} does not exist", .path.display())]
    NoSuchFile { path: PathBuf },

    #[error(
        "model path {} is {what}, not a model file; give a GGML model file (ggml-*.bin), \
         or convert a faster-whisper (CTranslate2) folder with `ezflow models import DIR`",
        .path.display()
    )]
    NotAFile { path: PathBuf, what: &'static str },

    #[error("model '{id}' is not installed in {}; there is nothing to remove", .dir.display())]
    NothingToRemove { id: String, dir: PathBuf },

    #[error("downloading model '{id}' failed: {source}")]
    Download {
        id: String,
        #[source]
        source: DownloadError,
    },

    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ModelsError {
    let path = path.to_path_buf();
    move |source| ModelsError::Io {
        action,
        path,
        source,
    }
}

/// Checks that `id` can name a model in the store. Ids become file names
/// (`ggml-{id}.bin`), so anything that could leave the directory or hide
/// the file is refused ([`ModelsError::InvalidId`] says why).
pub fn validate_id(id: &str) -> Result<(), ModelsError> {
    let invalid = |reason| {
        Err(ModelsError::InvalidId {
            id: id.to_string(),
            reason,
        })
    };
    if id.is_empty() {
        return invalid("it is empty");
    }
    if id.contains(['/', '\\']) || id.contains('\0') {
        return invalid("it contains a path separator");
    }
    if id == "." || id == ".." || id.starts_with('.') {
        return invalid("it starts with a dot");
    }
    Ok(())
}

/// `base.en` from `ggml-base.en.bin`; `None` for any other name.
fn id_from_file_name(name: &str) -> Option<&str> {
    let id = name.strip_prefix(FILE_PREFIX)?.strip_suffix(FILE_SUFFIX)?;
    (!id.is_empty()).then_some(id)
}

/// A few ids to suggest in "unknown model" errors: the full-precision
/// catalog models, which name every family.
fn known_ids_hint() -> String {
    let ids: Vec<&str> = catalog::all()
        .iter()
        .filter(|e| e.quantization == catalog::Quantization::F16)
        .map(|e| e.id)
        .collect();
    format!(
        "{} (and quantized variants such as base.en-q5_1)",
        ids.join(", ")
    )
}

/// The models directory and the operations on it.
#[derive(Debug, Clone)]
pub struct ModelStore {
    dir: PathBuf,
    base_url: String,
    stall_timeout: Duration,
}

impl ModelStore {
    /// A store over `dir`, downloading from the catalog's base URL (which
    /// honours `EZFLOW_MODEL_BASE_URL`). The directory is created on the
    /// first install, not here.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ModelStore {
            dir: dir.into(),
            base_url: catalog::base_url(),
            stall_timeout: download::DEFAULT_STALL_TIMEOUT,
        }
    }

    /// The store in the platform data directory (or `EZFLOW_MODELS_DIR`).
    pub fn open_default() -> Result<Self, ModelsError> {
        Ok(ModelStore::new(paths::models_dir()?))
    }

    /// Downloads from this base URL instead (a mirror, a test server).
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_string();
        self
    }

    /// How long a download may receive nothing before it counts as stalled.
    pub fn with_stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = timeout;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Where the model `id` lives (or would live) in this store. The id is
    /// not checked here; the operations that touch files validate it.
    pub fn path_for(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{FILE_PREFIX}{id}{FILE_SUFFIX}"))
    }

    /// The model files in the store: catalog models in catalog order, then
    /// any other `ggml-*.bin` (imported ones) by id. Partial downloads are
    /// not models; see [`ModelStore::partial_downloads`]. A store directory
    /// that does not exist yet is simply empty.
    pub fn list(&self) -> Result<Vec<InstalledModel>, ModelsError> {
        let mut models = Vec::new();
        for (name, path) in self.files()? {
            let Some(id) = id_from_file_name(&name) else {
                continue;
            };
            let meta = match fs::metadata(&path) {
                Ok(m) if m.is_file() => m,
                Ok(_) => continue,
                // Removed between listing and looking: not installed any more.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("inspect", &path)(e)),
            };
            models.push(InstalledModel {
                id: id.to_string(),
                path,
                size_bytes: meta.len(),
                catalog: catalog::find(id),
            });
        }
        let catalog_rank = |m: &InstalledModel| {
            catalog::all()
                .iter()
                .position(|e| e.id == m.id)
                .unwrap_or(usize::MAX)
        };
        models.sort_by(|a, b| {
            catalog_rank(a)
                .cmp(&catalog_rank(b))
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(models)
    }

    /// Unfinished downloads (`ggml-{id}.bin.partial`), by id.
    pub fn partial_downloads(&self) -> Result<Vec<PartialDownload>, ModelsError> {
        let mut partials = Vec::new();
        for (name, path) in self.files()? {
            let Some(id) = name
                .strip_suffix(PARTIAL_SUFFIX)
                .and_then(id_from_file_name)
            else {
                continue;
            };
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            partials.push(PartialDownload {
                id: id.to_string(),
                path,
                bytes_done: meta.len(),
                total: catalog::find(id).map(|e| e.size_bytes),
            });
        }
        partials.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(partials)
    }

    /// Names and paths of the entries in the store directory.
    fn files(&self) -> Result<Vec<(String, PathBuf)>, ModelsError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("read the models directory", &self.dir)(e)),
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err("read the models directory", &self.dir))?;
            // Names that are not UTF-8 cannot be model ids anyone can type.
            if let Ok(name) = entry.file_name().into_string() {
                files.push((name, entry.path()));
            }
        }
        Ok(files)
    }

    /// Turns what the user typed into a model file:
    /// - something with a path separator, or ending in `.bin`, is a path and
    ///   must exist (a bare `ggml-{id}.bin` that is not in the current
    ///   directory is looked up in the store);
    /// - anything else is a model id: installed → its file; in the catalog
    ///   but not installed → an error saying how to download it; unknown →
    ///   an error listing known ids (unless a file of that name exists in
    ///   the current directory, which is then the path).
    pub fn resolve(&self, id_or_path: &str) -> Result<PathBuf, ModelsError> {
        let looks_like_path = id_or_path.contains(['/', '\\']) || id_or_path.ends_with(FILE_SUFFIX);
        if looks_like_path {
            let path = PathBuf::from(id_or_path);
            if let Ok(metadata) = fs::metadata(&path) {
                return match crate::file_kind::not_a_regular_file(&metadata) {
                    None => Ok(path),
                    Some(what) => Err(ModelsError::NotAFile { path, what }),
                };
            }
            let bare_file_name = !id_or_path.contains(['/', '\\']);
            match id_from_file_name(id_or_path) {
                Some(id) if bare_file_name => return self.resolve_id(id),
                _ => return Err(ModelsError::NoSuchFile { path }),
            }
        }
        match self.resolve_id(id_or_path) {
            // A file in the current directory whose name is not an installed
            // id (`model.gguf`) is still a path the user gave us.
            Err(ModelsError::NotInstalled { .. } | ModelsError::Unknown { .. })
                if Path::new(id_or_path).is_file() =>
            {
                Ok(PathBuf::from(id_or_path))
            }
            other => other,
        }
    }

    fn resolve_id(&self, id: &str) -> Result<PathBuf, ModelsError> {
        validate_id(id)?;
        let path = self.path_for(id);
        if path.is_file() {
            return Ok(path);
        }
        if catalog::find(id).is_some() {
            return Err(ModelsError::NotInstalled { id: id.to_string() });
        }
        Err(ModelsError::Unknown {
            id: id.to_string(),
            known: known_ids_hint(),
        })
    }

    /// Removes the model `id` and any partial download of it. Returns the
    /// files removed; an error when there was neither.
    pub fn remove(&self, id: &str) -> Result<Vec<PathBuf>, ModelsError> {
        validate_id(id)?;
        let mut removed = Vec::new();
        let model = self.path_for(id);
        for path in [download::partial_path(&model), model] {
            match fs::remove_file(&path) {
                Ok(()) => {
                    info!(path = %path.display(), "removed");
                    removed.push(path);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove", &path)(e)),
            }
        }
        if removed.is_empty() {
            return Err(ModelsError::NothingToRemove {
                id: id.to_string(),
                dir: self.dir.clone(),
            });
        }
        Ok(removed)
    }

    /// The catalog model `id` fetched from this store's base URL.
    pub fn catalog_source(&self, id: &str) -> Result<ModelSource, ModelsError> {
        let entry = catalog::find(id).ok_or_else(|| ModelsError::Unknown {
            id: id.to_string(),
            known: known_ids_hint(),
        })?;
        Ok(ModelSource {
            id: entry.id.to_string(),
            url: entry.url_with_base(&self.base_url),
            size_bytes: Some(entry.size_bytes),
            sha256: entry.sha256.map(str::to_string),
        })
    }

    /// Downloads the catalog model `id` into the store (creating the
    /// directory), resuming an earlier partial, verified against the
    /// catalog's size and SHA-256. A model already installed with the
    /// catalog's size is left alone.
    pub fn install(
        &self,
        id: &str,
        progress: &mut dyn FnMut(&Progress),
        cancel: Option<&AtomicBool>,
    ) -> Result<InstallReport, ModelsError> {
        let source = self.catalog_source(id)?;
        self.install_from(&source, progress, cancel)
    }

    /// Downloads `source` into the store as `ggml-{source.id}.bin`.
    pub fn install_from(
        &self,
        source: &ModelSource,
        progress: &mut dyn FnMut(&Progress),
        cancel: Option<&AtomicBool>,
    ) -> Result<InstallReport, ModelsError> {
        validate_id(&source.id)?;
        let dest = self.path_for(&source.id);
        if let Ok(meta) = fs::metadata(&dest) {
            let complete = meta.is_file() && source.size_bytes.is_none_or(|s| s == meta.len());
            if complete {
                info!(id = %source.id, path = %dest.display(), "already installed");
                return Ok(InstallReport {
                    model: self.installed(&source.id, dest, meta.len()),
                    download: None,
                });
            }
            warn!(id = %source.id, size = meta.len(), expected = ?source.size_bytes,
                "the installed file has the wrong size; downloading it again");
        }
        fs::create_dir_all(&self.dir).map_err(io_err("create the models directory", &self.dir))?;

        let mut request = DownloadRequest::new(source.url.clone(), dest.clone())
            .stall_timeout(self.stall_timeout);
        request.expected_size = source.size_bytes;
        request.expected_sha256 = source.sha256.as_ref().map(|s| s.to_ascii_lowercase());
        request.cancel = cancel;
        let outcome =
            download::download(&request, progress).map_err(|source_err| ModelsError::Download {
                id: source.id.clone(),
                source: source_err,
            })?;
        Ok(InstallReport {
            model: self.installed(&source.id, outcome.path.clone(), outcome.size_bytes),
            download: Some(outcome),
        })
    }

    fn installed(&self, id: &str, path: PathBuf, size_bytes: u64) -> InstalledModel {
        InstalledModel {
            id: id.to_string(),
            path,
            size_bytes,
            catalog: catalog::find(id),
        }
    }
}
