#!/usr/bin/env bash
# Accuracy at the edges, side by side: the word error rate of EZ Flow and
# faster-whisper (same tiny.en weights, same thread count, greedy and beam 5)
# on the labelled clips as recorded and cut tight to their speech (see
# scripts/accuracy.py). Writes target/bench/accuracy.md (and the transcripts
# beside it) and prints the table; scripts/bench.sh runs it too.
#
# Usage: scripts/accuracy.sh [THREADS] [BEAMS]    (defaults: 2 and 1,5)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
threads="${1:-2}"
beams="${2:-1,5}"
if [[ "${EZFLOW_ACCURACY_NO_SETUP:-}" != 1 ]]; then
  # The benchmark's setup: system packages, test assets, the faster-whisper
  # venv, the release build.
  scripts/bench.sh --setup-only
fi
assets="${EZFLOW_TEST_ASSETS:-$root/target/test-assets}"
venv="$root/target/faster-whisper-venv"
names=(jfk_a jfk_b jfk_c jfk_d jfk_full
  Front_Center Front_Left Front_Right Rear_Center Rear_Left Rear_Right Side_Left Side_Right
  short_works short_call short_thanks short_noon short_done short_send short_good short_lunch
  schedule note letter)
recorded=() tight=()
for name in "${names[@]}"; do
  for dir in jfk-clips alsa-clips audio; do
    if [[ -f "$assets/$dir/$name.wav" ]]; then recorded+=("$assets/$dir/$name.wav"); fi
  done
  tight+=("$assets/tight/$name.wav")
done
join() { local IFS=,; echo "$*"; }
mkdir -p target/bench
"$venv/bin/python" scripts/accuracy.py --ezflow target/release/ezflow \
  --ggml "$assets/ggml-tiny.en.bin" --ggml-q8 "$assets/ggml-tiny.en-q8_0.bin" --ct2 "$assets/ct2-tiny.en" \
  --threads "$threads" --beams "$beams" \
  --set "recorded=$(join "${recorded[@]}")" --set "tight=$(join "${tight[@]}")" \
  --out target/bench/accuracy.md --transcripts target/bench/accuracy-transcripts.md
