//! Embeds the built frontend (`frontend/dist`) and the window's
//! configuration and capabilities into the binary, through `tauri-build`.
//! Refuses to build without the frontend, saying how to build it.

use std::path::Path;

fn main() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("frontend/dist");
    println!("cargo:rerun-if-changed=frontend/dist");
    println!("cargo:rerun-if-changed=tauri.conf.json");
    println!("cargo:rerun-if-changed=capabilities");
    if !dist.join("index.html").is_file() {
        eprintln!(
            "error: the settings window's frontend is not built: {} has no index.html.\n\
             Run scripts/build-settings-ui.sh (npm ci && npm run build in \
             crates/ezflow-settings/frontend) first.",
            dist.display()
        );
        panic!(
            "crates/ezflow-settings/frontend/dist is missing; run scripts/build-settings-ui.sh first"
        );
    }
    tauri_build::build();
}
