#!/usr/bin/env bash
# Sets up a fresh Debian machine and does EZ Flow's main job.
#
# - Always: transcribes the JFK clip (or the audio files given) with the
#   imported tiny.en model, proving the engine works on this machine.
# - On a desktop (DISPLAY or WAYLAND_DISPLAY set, no files given): then runs
#   the dictation app itself. Hold Ctrl+Alt+Space, speak, let go: the words
#   go into the focused window. It uses its own settings in
#   target/demo-config (tiny.en), so yours are not touched. Ctrl+C quits.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup-system.sh
EZFLOW_PROFILE=release scripts/fetch-test-assets.sh
assets="${EZFLOW_TEST_ASSETS:-$root/target/test-assets}"
cargo build --quiet --release -p ezflow
files=("$@")
if ((${#files[@]} == 0)); then
  files=("$assets/jfk.wav")
fi
"$root/target/release/ezflow" transcribe --model "$assets/ggml-tiny.en.bin" "${files[@]}"

if (($# == 0)) && [[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]]; then
  export EZFLOW_CONFIG_DIR="$root/target/demo-config"
  mkdir -p "$EZFLOW_CONFIG_DIR"
  if [[ ! -f "$EZFLOW_CONFIG_DIR/settings.toml" ]]; then
    printf 'model = "%s"\nlanguage = "en"\n' "$assets/ggml-tiny.en.bin" >"$EZFLOW_CONFIG_DIR/settings.toml"
  fi
  echo
  echo "Starting the dictation app: hold Ctrl+Alt+Space, speak, let go. Ctrl+C quits."
  exec "$root/target/release/ezflow"
fi
