#!/usr/bin/env bash
# Builds what the settings window's end-to-end tests and benchmark drive it
# with: `tauri-driver` (a crate), installed into target/tools/bin, in front
# of WebKitGTK's WebKitWebDriver (Debian's webkit2gtk-driver, installed by
# setup-system.sh). Does nothing when the pinned version is already there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="2.1.0"
bin="$root/target/tools/bin/tauri-driver"
if [[ -x "$bin" ]] && "$bin" --help >/dev/null 2>&1 \
  && [[ "$(cat "$root/target/tools/tauri-driver.version" 2>/dev/null)" == "$version" ]]; then
  exit 0
fi
echo "setup-window-tests: building tauri-driver $version" >&2
cargo install tauri-driver --version "$version" --locked \
  --root "$root/target/tools" --target-dir "$root/target/tools-build" --quiet
echo "$version" > "$root/target/tools/tauri-driver.version"
