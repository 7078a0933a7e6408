//! The real model library behind [`ModelLibrary`]: `ezflow_core`'s model
//! store, with each download and each import on a thread of its own.
//!
//! It owns the running downloads (one per model, catalog models and models
//! added from a URL alike, started by one spawn path over a
//! [`ModelSource`]; cancelled through the downloader's cancel flag, which
//! keeps the partial file for a resume) and imports, and publishes their progress and their end as events:
//! `download` at most 10 times a second per download, `download-finished`
//! with the error text, `import`/`import-finished`, and `models` when the
//! store changed; [`LibraryEvents`] also hands those the loop follows to
//! the loop (the tray shows a download's progress). Nothing runs between
//! downloads.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ezflow_control::{
    CatalogModel, DownloadEvent, DownloadProgress, Event, FinishedEvent, ImportEvent,
    ImportFinishedEvent, ImportQuantize, ModelsReport, OtherModel, UrlDownload,
};
use ezflow_core::catalog;
use ezflow_core::download::{Progress, ProgressPhase};
use ezflow_core::import::{self, ImportOptions, ImportProgress, WeightFormat};
use ezflow_core::models::{ModelSource, ModelStore};

use super::event::AppEvent;
use super::library::{self, ModelLibrary, UrlModel};
use super::publish::EventSink;

/// At most this often a download's progress is published.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// The store, the downloads and imports running in it, and where their
/// events go.
pub struct StoreLibrary {
    store: ModelStore,
    events: Arc<dyn EventSink>,
    running: Arc<Mutex<Running>>,
}

#[derive(Default)]
struct Running {
    downloads: HashMap<String, Download>,
    imports: HashSet<PathBuf>,
}

struct Download {
    cancel: Arc<AtomicBool>,
    progress: DownloadProgress,
    /// Where a model outside the catalog comes from; `None` for a catalog
    /// model (the report shows it in its catalog row).
    from_url: Option<String>,
}

fn lock(running: &Mutex<Running>) -> MutexGuard<'_, Running> {
    running.lock().unwrap_or_else(PoisonError::into_inner)
}

impl StoreLibrary {
    pub fn new(store: ModelStore, events: Arc<dyn EventSink>) -> Self {
        StoreLibrary {
            store,
            events,
            running: Arc::default(),
        }
    }

    /// Starts downloading `source` into the store on a thread of its own:
    /// the one spawn path of catalog downloads and downloads from a URL
    /// (`from_url`, listed in the report's `downloads`). Refused while a
    /// download of the same id runs. The downloader checks the size when
    /// the source knows it and the SHA-256, and deletes the partial file
    /// when they do not match.
    fn start_download(&self, source: ModelSource, from_url: Option<String>) -> Result<(), String> {
        let id = source.id.clone();
        let cancel = Arc::new(AtomicBool::new(false));
        {
            let mut running = lock(&self.running);
            if running.downloads.contains_key(&id) {
                return Err(format!(
                    "{id} is already downloading; wait for it to end or cancel it"
                ));
            }
            let partial = self
                .store
                .partial_downloads()
                .ok()
                .and_then(|p| p.into_iter().find(|p| p.id == id))
                .map_or(0, |p| p.bytes_done);
            running.downloads.insert(
                id.clone(),
                Download {
                    cancel: Arc::clone(&cancel),
                    progress: DownloadProgress {
                        done: partial,
                        total: source.size_bytes.unwrap_or(0),
                        bytes_per_sec: 0,
                    },
                    from_url,
                },
            );
        }
        let store = self.store.clone();
        let events = Arc::clone(&self.events);
        let running = Arc::clone(&self.running);
        let thread_id = id.clone();
        let url = source.url.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("download-{id}"))
            .spawn(move || {
                let id = thread_id;
                let mut last: Option<Instant> = None;
                let mut published = None::<DownloadProgress>;
                let mut on_progress = |p: &Progress| {
                    if p.phase != ProgressPhase::Downloading {
                        return;
                    }
                    let progress = DownloadProgress {
                        done: p.bytes_done,
                        total: p.total.unwrap_or(0),
                        bytes_per_sec: p.rate_bytes_per_sec.map_or(0, |r| r as u64),
                    };
                    if let Some(d) = lock(&running).downloads.get_mut(&id) {
                        d.progress = progress.clone();
                    }
                    let finished = p.total == Some(p.bytes_done);
                    if last.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) && !finished {
                        return;
                    }
                    last = Some(Instant::now());
                    events.publish(&Event::Download(DownloadEvent {
                        id: id.clone(),
                        done: progress.done,
                        total: progress.total,
                        bytes_per_sec: progress.bytes_per_sec,
                    }));
                    published = Some(progress);
                };
                let result = store.install_from(&source, &mut on_progress, Some(&cancel));
                lock(&running).downloads.remove(&id);
                let error = match result {
                    Ok(report) => {
                        tracing::info!(%id, path = %report.model.path.display(), "model downloaded");
                        // Of a file whose size the server did not say, the
                        // last progress may not have been published: the
                        // watchers see it complete before it ends.
                        let size = report.model.size_bytes;
                        if let Some(last) = published.filter(|p| p.done != size || p.total != size)
                        {
                            events.publish(&Event::Download(DownloadEvent {
                                id: id.clone(),
                                done: size,
                                total: size,
                                bytes_per_sec: last.bytes_per_sec,
                            }));
                        }
                        None
                    }
                    Err(e) => {
                        tracing::warn!(%id, "model download ended: {e}");
                        Some(e.to_string())
                    }
                };
                events.publish(&Event::DownloadFinished(FinishedEvent { id, error }));
                events.publish(&Event::Models);
            });
        if let Err(e) = spawned {
            lock(&self.running).downloads.remove(&id);
            return Err(format!("cannot start the download: {e}"));
        }
        tracing::info!(%id, %url, "model download started");
        Ok(())
    }
}

impl ModelLibrary for StoreLibrary {
    fn report(&self, active: &str, loaded: bool, english: bool) -> Result<ModelsReport, String> {
        let installed = self.store.list().map_err(|e| e.to_string())?;
        let partials = self.store.partial_downloads().map_err(|e| e.to_string())?;
        let active_path = self.store.resolve(active).ok();
        let is_active = |id: &str, path: &Path| {
            id == active || active_path.as_deref().is_some_and(|p| p == path)
        };
        let running = lock(&self.running);
        let catalog = catalog::all()
            .iter()
            .map(|entry| {
                let path = self.store.path_for(entry.id);
                CatalogModel {
                    id: entry.id.to_owned(),
                    description: entry.description.to_owned(),
                    size_bytes: entry.size_bytes,
                    english_only: entry.english_only,
                    installed: installed.iter().any(|m| m.id == entry.id),
                    active: is_active(entry.id, &path),
                    download: running.downloads.get(entry.id).map(|d| d.progress.clone()),
                    partial_bytes: partials
                        .iter()
                        .find(|p| p.id == entry.id)
                        .map_or(0, |p| p.bytes_done),
                }
            })
            .collect();
        let other = installed
            .iter()
            .filter(|m| m.catalog.is_none())
            .map(|m| OtherModel {
                id: m.id.clone(),
                name: m
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                path: m.path.display().to_string(),
                size_bytes: m.size_bytes,
                active: is_active(&m.id, &m.path),
            })
            .collect();
        let mut downloads: Vec<UrlDownload> = running
            .downloads
            .iter()
            .filter_map(|(id, d)| {
                let url = d.from_url.as_ref()?;
                Some(UrlDownload {
                    id: id.clone(),
                    url: url.clone(),
                    done: d.progress.done,
                    total: d.progress.total,
                    bytes_per_sec: d.progress.bytes_per_sec,
                })
            })
            .collect();
        downloads.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(ModelsReport {
            active: active.to_owned(),
            active_installed: active_path.is_some(),
            loaded,
            recommended: self.recommended(english),
            dir: self.store.dir().display().to_string(),
            catalog,
            other,
            downloads,
        })
    }

    fn download(&self, id: &str) -> Result<(), String> {
        let source = self.store.catalog_source(id).map_err(|e| e.to_string())?;
        self.start_download(source, None)
    }

    fn download_url(&self, model: &UrlModel) -> Result<(), String> {
        let dest = self.store.path_for(&model.name);
        if dest.exists() {
            return Err(format!(
                "a model named {} is already installed ({}); remove it first, or choose another name",
                model.name,
                dest.display()
            ));
        }
        let source = ModelSource {
            id: model.name.clone(),
            url: model.url.clone(),
            size_bytes: None,
            sha256: Some(model.sha256.clone()),
        };
        self.start_download(source, Some(model.url.clone()))
    }

    fn cancel(&self, id: &str) -> Result<(), String> {
        match lock(&self.running).downloads.get(id) {
            Some(download) => {
                download.cancel.store(true, Ordering::Relaxed);
                Ok(())
            }
            None => Err(format!(
                "{id} is not downloading; there is nothing to cancel"
            )),
        }
    }

    fn remove(&self, id: &str) -> Result<(), String> {
        if lock(&self.running).downloads.contains_key(id) {
            return Err(format!(
                "{id} is downloading; cancel the download first (model-cancel)"
            ));
        }
        self.store.remove(id).map(drop).map_err(|e| e.to_string())
    }

    fn import(&self, path: &str, quantize: Option<ImportQuantize>) -> Result<(), String> {
        let src = PathBuf::from(path);
        if !src.is_dir() {
            return Err(format!(
                "{path} is not a folder; choose the faster-whisper (CTranslate2) model folder \
                 that holds model.bin, config.json and vocabulary.txt"
            ));
        }
        let weights = match quantize {
            Some(ImportQuantize::Q8_0) => WeightFormat::Q8_0,
            None => WeightFormat::F16,
        };
        let id = import::suggested_id(&src, weights).map_err(|e| e.to_string())?;
        let dest = self.store.path_for(&id);
        if dest.exists() {
            return Err(format!(
                "a model {id} is installed already ({}); remove it first to import it again",
                dest.display()
            ));
        }
        if !lock(&self.running).imports.insert(src.clone()) {
            return Err(format!("{path} is being imported already"));
        }
        let dir = self.store.dir().to_owned();
        let events = Arc::clone(&self.events);
        let running = Arc::clone(&self.running);
        let thread_src = src.clone();
        let spawned = std::thread::Builder::new()
            .name("model-import".into())
            .spawn(move || {
                let src = thread_src;
                let path = src.display().to_string();
                let step = |step: &str| {
                    events.publish(&Event::Import(ImportEvent {
                        path: path.clone(),
                        step: step.to_owned(),
                    }))
                };
                step("converting");
                let last = Mutex::new(None::<Instant>);
                let on_progress = |p: ImportProgress| {
                    let mut last = last.lock().unwrap_or_else(PoisonError::into_inner);
                    if last.is_some_and(|t: Instant| t.elapsed() < PROGRESS_EVERY) {
                        return;
                    }
                    *last = Some(Instant::now());
                    let percent = (p.bytes_written * 100)
                        .checked_div(p.bytes_total)
                        .unwrap_or(0);
                    step(&format!("converting {percent}%"));
                };
                let result = std::fs::create_dir_all(&dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))
                    .and_then(|()| {
                        import::import_ct2_dir(
                            &src,
                            &dest,
                            ImportOptions {
                                force: false,
                                weights,
                                progress: Some(&on_progress),
                            },
                        )
                        .map_err(|e| e.to_string())
                    });
                lock(&running).imports.remove(&src);
                let (id, error) = match result {
                    Ok(report) => {
                        tracing::info!(id = %report.model_id, "model imported");
                        (report.model_id, None)
                    }
                    Err(e) => {
                        tracing::warn!(%path, "model import failed: {e}");
                        (id, Some(e))
                    }
                };
                events.publish(&Event::ImportFinished(ImportFinishedEvent {
                    id,
                    path,
                    error,
                }));
                events.publish(&Event::Models);
            });
        if let Err(e) = spawned {
            lock(&self.running).imports.remove(&src);
            return Err(format!("cannot start the import: {e}"));
        }
        Ok(())
    }

    fn is_installed(&self, id: &str) -> bool {
        self.store.resolve(id).is_ok()
    }

    fn is_empty(&self) -> bool {
        self.store.list().map_or(true, |models| models.is_empty())
    }

    fn recommended(&self, english: bool) -> String {
        library::recommended(
            ezflow_config::settings::physical_cores(),
            library::total_memory(),
            english,
        )
        .to_owned()
    }
}

/// Where the library's events go: to the watchers, and those the loop
/// follows (a download's progress and end, an import's end, the store
/// changed) into the loop's channel too, so the tray can show them.
pub struct LibraryEvents {
    pub watchers: Arc<dyn EventSink>,
    pub app: Sender<AppEvent>,
}

impl EventSink for LibraryEvents {
    fn publish(&self, event: &Event) {
        self.watchers.publish(event);
        if matches!(
            event,
            Event::Download(_)
                | Event::DownloadFinished(_)
                | Event::ImportFinished(_)
                | Event::Models
        ) {
            // The loop gone means the app is quitting: nothing to tell.
            let _ = self.app.send(AppEvent::Library(event.clone()));
        }
    }
}
