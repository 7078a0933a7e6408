#!/usr/bin/env bash
# Sets up a fresh Debian machine and does EZ Flow's main job: transcribes
# speech on this machine. Until the tray app lands, that is the command line:
# the JFK clip, with the imported tiny.en model. Pass your own audio files
# (WAV, FLAC, MP3, OGG) to transcribe those instead.
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
exec "$root/target/release/ezflow" transcribe --model "$assets/ggml-tiny.en.bin" "${files[@]}"
