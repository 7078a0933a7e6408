#!/usr/bin/env bash
# Sets up a fresh Debian machine (system packages, test model, test audio)
# and runs EZ Flow's whole test suite, then the formatting and lint checks.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup-system.sh
scripts/fetch-test-assets.sh
cargo test --workspace --all-targets
cargo test --workspace --doc
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
