//! The installed-model store on a real temporary directory, installing from
//! a real tiny_http server on loopback. The base URL is passed to the store
//! explicitly, so no process-wide environment variable is touched.

use std::path::Path;

use ezflow_core::catalog;
use ezflow_core::download::{self, DownloadError, Progress, ProgressPhase};
use ezflow_core::models::{ModelSource, ModelStore, ModelsError};
use ezflow_testbed::http::LoopbackServer;
use ezflow_testbed::payload::{payload, sha256_hex};

/// Serves `files` by path (`/ggml-x.bin`), 404 for anything else; the
/// server records the paths asked for.
fn file_server(files: Vec<(&str, Vec<u8>)>) -> LoopbackServer {
    let files: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .map(|(name, data)| (format!("/{name}"), data))
        .collect();
    LoopbackServer::start(move |incoming| {
        let response = match files.iter().find(|(p, _)| *p == incoming.seen.path) {
            Some((_, data)) => {
                tiny_http::Response::from_data(data.clone()).with_chunked_threshold(usize::MAX)
            }
            None => tiny_http::Response::from_data(Vec::new()).with_status_code(404),
        };
        incoming.respond(response);
    })
}

fn write(path: &Path, len: usize) {
    std::fs::write(path, payload(len, len as u64)).expect("write test file");
}

fn no_progress() -> impl FnMut(&Progress) {
    |_: &Progress| {}
}

#[test]
fn a_missing_store_directory_lists_as_empty() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ModelStore::new(dir.path().join("not-created-yet"));
    assert!(store.list().expect("list").is_empty());
    assert!(store.partial_downloads().expect("partials").is_empty());
}

#[test]
fn list_shows_catalog_and_imported_models_but_not_partials_or_other_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ModelStore::new(dir.path());
    write(&store.path_for("custom-import"), 1000);
    write(&store.path_for("base.en"), 2000);
    write(&store.path_for("tiny"), 3000);
    write(&dir.path().join("ggml-small.en.bin.partial"), 4000);
    write(&dir.path().join("notes.txt"), 10);
    write(&dir.path().join("ggml-.bin"), 10);
    std::fs::create_dir(dir.path().join("ggml-dir.bin")).expect("make a directory");

    let models = store.list().expect("list");
    let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
    // Catalog order first (tiny before base.en), then other models.
    assert_eq!(ids, ["tiny", "base.en", "custom-import"]);

    let base = &models[1];
    assert_eq!(base.path, dir.path().join("ggml-base.en.bin"));
    assert_eq!(base.size_bytes, 2000);
    assert_eq!(base.catalog.map(|e| e.id), Some("base.en"));
    assert!(
        base.size_differs_from_catalog(),
        "2000 bytes is not the real base.en"
    );
    assert!(models[2].catalog.is_none());
    assert!(!models[2].size_differs_from_catalog());

    let partials = store.partial_downloads().expect("partials");
    assert_eq!(partials.len(), 1);
    assert_eq!(partials[0].id, "small.en");
    assert_eq!(partials[0].bytes_done, 4000);
    assert_eq!(
        partials[0].total,
        catalog::find("small.en").map(|e| e.size_bytes)
    );
}

#[test]
fn resolve_accepts_paths_and_installed_ids_and_explains_the_rest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ModelStore::new(dir.path().join("models"));
    std::fs::create_dir_all(store.dir()).expect("make store");
    write(&store.path_for("base.en"), 100);
    let elsewhere = dir.path().join("my-model.bin");
    write(&elsewhere, 100);

    let as_str = |p: &Path| p.to_str().expect("UTF-8 temp path").to_string();
    assert_eq!(
        store.resolve(&as_str(&elsewhere)).expect("a path"),
        elsewhere
    );
    assert_eq!(
        store.resolve("base.en").expect("installed id"),
        store.path_for("base.en")
    );
    assert_eq!(
        store
            .resolve("ggml-base.en.bin")
            .expect("installed file name"),
        store.path_for("base.en")
    );

    let missing = dir.path().join("nope").join("model.bin");
    let error = store.resolve(&as_str(&missing)).expect_err("no such file");
    assert!(matches!(error, ModelsError::NoSuchFile { .. }), "{error:?}");
    assert!(error.to_string().contains(&as_str(&missing)), "{error}");

    let error = store.resolve("small.en").expect_err("not installed");
    assert!(
        matches!(error, ModelsError::NotInstalled { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "model 'small.en' is not installed; run `ezflow models download small.en`"
    );

    let error = store.resolve("huge-v9").expect_err("unknown");
    assert!(matches!(error, ModelsError::Unknown { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("'huge-v9'"), "{message}");
    assert!(
        message.contains("base.en") && message.contains("large-v3-turbo"),
        "{message}"
    );
    assert!(message.contains("ezflow models list"), "{message}");
}

#[test]
fn remove_deletes_the_model_and_its_partial_and_refuses_what_is_absent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ModelStore::new(dir.path());
    let model = store.path_for("tiny.en");
    let partial = download::partial_path(&model);
    write(&model, 100);
    write(&partial, 50);

    let removed = store.remove("tiny.en").expect("remove");
    assert_eq!(removed.len(), 2);
    assert!(!model.exists() && !partial.exists());
    assert!(store.list().expect("list").is_empty());

    let error = store.remove("tiny.en").expect_err("nothing left");
    assert!(
        matches!(error, ModelsError::NothingToRemove { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("tiny.en"), "{error}");

    // A partial alone can be removed too.
    write(&download::partial_path(&store.path_for("base")), 10);
    assert_eq!(store.remove("base").expect("remove partial").len(), 1);
    assert!(store.partial_downloads().expect("partials").is_empty());
}

#[test]
fn ids_that_would_leave_the_store_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ModelStore::new(dir.path().join("models"));
    let outside = dir.path().join("ggml-victim.bin");
    write(&outside, 10);

    for id in ["../victim", "a/../../victim", "..", ""] {
        let error = store.remove(id).expect_err("invalid id");
        assert!(
            matches!(error, ModelsError::InvalidId { .. }),
            "{id}: {error:?}"
        );
    }
    assert!(outside.exists());
}

#[test]
fn install_downloads_into_a_new_store_and_the_model_can_then_be_resolved() {
    let data = payload(1024 * 1024 + 7, 42);
    let hash = sha256_hex(&data);
    let server = file_server(vec![("ggml-custom.bin", data.clone())]);
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        ModelStore::new(dir.path().join("new").join("models")).with_base_url(server.base_url());
    let source = ModelSource {
        id: "custom".into(),
        url: format!("{}/ggml-custom.bin", server.base_url()),
        size_bytes: Some(data.len() as u64),
        sha256: Some(hash.clone()),
    };

    let mut last = None;
    let report = store
        .install_from(
            &source,
            &mut |p: &Progress| {
                if p.phase == ProgressPhase::Downloading {
                    last = Some(p.bytes_done);
                }
            },
            None,
        )
        .expect("install");
    assert_eq!(last, Some(data.len() as u64));
    let outcome = report.download.expect("it was downloaded");
    assert_eq!(outcome.sha256, hash);
    assert_eq!(report.model.path, store.path_for("custom"));
    assert_eq!(
        std::fs::read(store.path_for("custom")).expect("installed"),
        data
    );
    assert_eq!(
        store.resolve("custom").expect("resolve"),
        store.path_for("custom")
    );
    assert_eq!(store.list().expect("list").len(), 1);

    // Installing again fetches nothing.
    let again = store
        .install_from(&source, &mut no_progress(), None)
        .expect("second install");
    assert!(again.download.is_none());
    assert_eq!(server.paths().len(), 1);
}

#[test]
fn installing_a_catalog_model_uses_the_base_url_and_enforces_the_catalog_size() {
    // The loopback server cannot hold the real tiny.en-q5_1 weights, so it
    // serves a file of the wrong size: the install must refuse it (the
    // catalog's size is checked before the body) and leave nothing behind.
    let entry = catalog::find("tiny.en-q5_1").expect("in the catalog");
    let server = file_server(vec![(entry.file_name, payload(4096, 1))]);
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        ModelStore::new(dir.path().join("models")).with_base_url(format!("{}/", server.base_url()));

    let source = store
        .catalog_source("tiny.en-q5_1")
        .expect("catalog source");
    assert_eq!(
        source.url,
        format!("{}/ggml-tiny.en-q5_1.bin", server.base_url())
    );
    assert_eq!(source.size_bytes, Some(entry.size_bytes));
    assert_eq!(source.sha256.as_deref(), entry.sha256);

    let error = store
        .install("tiny.en-q5_1", &mut no_progress(), None)
        .expect_err("wrong size");
    match &error {
        ModelsError::Download {
            id,
            source: DownloadError::SizeMismatch {
                expected, actual, ..
            },
        } => {
            assert_eq!(id, "tiny.en-q5_1");
            assert_eq!(*expected, entry.size_bytes);
            assert_eq!(*actual, 4096);
        }
        other => panic!("expected a size mismatch, got {other:?}"),
    }
    assert_eq!(server.paths(), ["/ggml-tiny.en-q5_1.bin"]);
    assert!(store.list().expect("list").is_empty());
    assert!(store.partial_downloads().expect("partials").is_empty());
}

#[test]
fn installing_a_model_missing_on_the_server_or_unknown_fails_clearly() {
    let server = file_server(vec![]);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ModelStore::new(dir.path()).with_base_url(server.base_url());

    let error = store
        .install("base.en", &mut no_progress(), None)
        .expect_err("404");
    assert!(
        matches!(
            error,
            ModelsError::Download {
                source: DownloadError::NotFound { .. },
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("HTTP 404"), "{error}");

    let error = store
        .install("huge-v9", &mut no_progress(), None)
        .expect_err("unknown");
    assert!(matches!(error, ModelsError::Unknown { .. }), "{error:?}");
    assert_eq!(
        server.paths(),
        ["/ggml-base.en.bin"],
        "the unknown id made no request"
    );
}
