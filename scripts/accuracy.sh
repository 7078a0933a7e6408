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
# The clips: every one fetch-test-assets.sh cut tight, and the same clip as
# recorded.
recorded=() tight=()
for cut in "$assets"/tight/*.wav; do
  name="$(basename "$cut")"
  for dir in jfk-clips alsa-clips audio; do
    if [[ -f "$assets/$dir/$name" ]]; then recorded+=("$assets/$dir/$name"); fi
  done
  tight+=("$cut")
done
if ((${#tight[@]} != ${#recorded[@]})); then
  echo "accuracy.sh: ${#tight[@]} tight clips but ${#recorded[@]} recorded ones; run scripts/fetch-test-assets.sh" >&2
  exit 1
fi
join() { local IFS=,; echo "$*"; }
mkdir -p target/bench
"$venv/bin/python" scripts/accuracy.py --ezflow target/release/ezflow \
  --ggml "$assets/ggml-tiny.en.bin" --ggml-q8 "$assets/ggml-tiny.en-q8_0.bin" --ct2 "$assets/ct2-tiny.en" \
  --threads "$threads" --beams "$beams" \
  --set "recorded=$(join "${recorded[@]}")" --set "tight=$(join "${tight[@]}")" \
  --out target/bench/accuracy.md --transcripts target/bench/accuracy-transcripts.md
