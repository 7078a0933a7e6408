#!/usr/bin/env bash
# Runs EZ Flow and faster-whisper side by side on the same tiny.en weights and
# the test clips (short real and synthetic dictations, and longer ones), and
# prints a Markdown table of time and word error rate. faster-whisper is
# installed from PyPI into target/faster-whisper-venv on first use.
#
# Usage: scripts/compare-faster-whisper.sh [THREADS] [RUNS]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
threads="${1:-2}"
runs="${2:-5}"
# The benchmark's setup: system packages, test assets, the faster-whisper
# venv, the release build.
scripts/bench.sh --setup-only
assets="${EZFLOW_TEST_ASSETS:-$root/target/test-assets}"
venv="$root/target/faster-whisper-venv"
clips=(
  "$assets"/jfk-clips/jfk_{a,b,c,d}.wav
  "$assets"/audio/short_{works,call,thanks,noon,done,send,good,lunch}.wav
  "$assets"/audio/{schedule,note,letter}.wav
)
clips+=("$assets/jfk-clips/jfk_full.wav") # made by fetch-test-assets.sh
mkdir -p target/bench
"$venv/bin/python" scripts/compare_faster_whisper.py \
  --ezflow target/release/ezflow --ggml "$assets/ggml-tiny.en.bin" --ggml-q8 "$assets/ggml-tiny.en-q8_0.bin" --ct2 "$assets/ct2-tiny.en" \
  --threads "$threads" --runs "$runs" --out target/bench/faster-whisper-comparison.md "${clips[@]}"
