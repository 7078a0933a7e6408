//! `ezflow models …`: list, download (with a progress bar), remove, locate
//! and import models. The work is the core library's `models`, `download`
//! and `import`; this module only talks to the terminal.

use crate::output::outln;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use ezflow_config::settings::Settings;
use ezflow_core::catalog;
use ezflow_core::download::{human_bytes, Progress};
use ezflow_core::import::{self, ImportOptions, ImportProgress, WeightFormat};
use ezflow_core::model_file;
use ezflow_core::models::ModelStore;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{ModelsCommand, Quantize};

pub fn run(command: ModelsCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = ModelStore::open_default()?;
    match command {
        ModelsCommand::List => list(&store, settings),
        ModelsCommand::Download { id } => download(&store, &id, settings),
        ModelsCommand::Remove { id } => {
            for path in store.remove(&id)? {
                outln!("removed {}", path.display());
            }
            Ok(())
        }
        ModelsCommand::Path { id } => {
            let path = store.resolve(&id)?;
            outln!("{}", path.display());
            Ok(())
        }
        ModelsCommand::Import {
            dir,
            id,
            output,
            force,
            quantize,
        } => {
            let weights = match quantize {
                Quantize::F16 => WeightFormat::F16,
                Quantize::Q8_0 => WeightFormat::Q8_0,
            };
            import(&store, &dir, id.as_deref(), output, force, weights)
        }
    }?;
    Ok(ExitCode::SUCCESS)
}

fn list(store: &ModelStore, settings: &Settings) -> anyhow::Result<()> {
    let installed = store.list()?;
    let partials = store.partial_downloads()?;
    // The active model is the one the settings name, if it resolves.
    let active = store.resolve(&settings.model).ok();
    let is_active = |path: &Path| active.as_deref() == Some(path);

    outln!("Models in {}", store.dir().display());
    outln!();
    outln!(
        "  {:<22} {:>10}  {:<12} description",
        "id",
        "size",
        "status"
    );
    for entry in catalog::all() {
        let here = installed.iter().find(|m| m.id == entry.id);
        let status = match here {
            Some(m) if is_active(&m.path) => "active".to_owned(),
            // Not the catalog's file: an import under the same id is fine,
            // a cut-off download is not.
            Some(m) if m.size_differs_from_catalog() => match model_file::inspect(&m.path) {
                Ok(_) => "imported".to_owned(),
                Err(_) => "damaged".to_owned(),
            },
            Some(_) => "installed".to_owned(),
            None => match partials.iter().find(|p| p.id == entry.id) {
                Some(p) => format!("{}% done", p.bytes_done * 100 / entry.size_bytes.max(1)),
                None => String::new(),
            },
        };
        outln!(
            "  {:<22} {:>10}  {:<12} {}",
            entry.id,
            human_bytes(entry.size_bytes),
            status,
            entry.description
        );
    }
    let others: Vec<_> = installed.iter().filter(|m| m.catalog.is_none()).collect();
    if !others.is_empty() {
        outln!();
        outln!("  Imported or added by hand:");
        for m in others {
            let status = if is_active(&m.path) {
                "active"
            } else {
                "installed"
            };
            outln!(
                "  {:<22} {:>10}  {:<12} {}",
                m.id,
                human_bytes(m.size_bytes),
                status,
                m.path.display()
            );
        }
    }
    if active.is_none() {
        outln!();
        outln!(
            "  The settings name model '{}', which is not installed: run `ezflow models download {}`.",
            settings.model, settings.model
        );
    }
    Ok(())
}

fn download(store: &ModelStore, id: &str, settings: &Settings) -> anyhow::Result<()> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        )
        .context("progress bar template")?
        .progress_chars("=> "),
    );
    bar.set_message(format!("downloading {id}"));
    let mut on_progress = |p: &Progress| {
        if let Some(total) = p.total {
            bar.set_length(total);
        }
        bar.set_position(p.bytes_done);
    };
    let cancel = AtomicBool::new(false);
    let result = store.install(id, &mut on_progress, Some(&cancel));
    bar.finish_and_clear();
    let report = result?;
    match report.download {
        None => outln!(
            "{id} is already installed at {}",
            report.model.path.display()
        ),
        Some(outcome) => {
            let resumed = if outcome.resumed_from > 0 {
                format!(", resumed at {}", human_bytes(outcome.resumed_from))
            } else {
                String::new()
            };
            outln!(
                "installed {id} ({}, SHA-256 {}{resumed}) at {}",
                human_bytes(outcome.size_bytes),
                if outcome.checksum_verified {
                    "verified"
                } else {
                    "not published, size checked"
                },
                report.model.path.display()
            );
            if let Some(telemetry) = crate::telemetry::open(settings) {
                crate::telemetry::log_failure(telemetry.record_download(id));
                crate::telemetry::deliver_at_exit(&telemetry);
            }
        }
    }
    Ok(())
}

fn import(
    store: &ModelStore,
    dir: &Path,
    id: Option<&str>,
    output: Option<PathBuf>,
    force: bool,
    weights: WeightFormat,
) -> anyhow::Result<()> {
    let dest = match (output, id) {
        (Some(output), _) => output,
        (None, Some(id)) => store.path_for(id),
        (None, None) => {
            let id = import::suggested_id(dir, weights)?;
            store.path_for(&id)
        }
    };
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("importing [{bar:30}] {bytes}/{total_bytes}")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    let on_progress = |p: ImportProgress| {
        bar.set_length(p.bytes_total);
        bar.set_position(p.bytes_written);
    };
    let result = import::import_ct2_dir(
        dir,
        &dest,
        ImportOptions {
            force,
            weights,
            progress: Some(&on_progress),
        },
    );
    bar.finish_and_clear();
    let report = result?;
    outln!(
        "imported {} ({} tensors, {}) to {}",
        report.model_id,
        report.tensor_count,
        human_bytes(report.bytes_written),
        report.dest.display()
    );
    Ok(())
}
