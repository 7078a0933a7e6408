#!/usr/bin/env bash
# Compares ezflow builds side by side in one run: each round transcribes each
# clip once with every build, in turn (so a busy moment hits all builds
# alike), and the medians of whisper.cpp's transcription time
# (`transcribe --json` timings: model load and decoding excluded) are
# reported with their ratio to the first build. Writes Markdown to stdout.
# THREADS=N sets whisper.cpp's threads (default 2).
#
# Usage: scripts/bench-cpu-builds.sh ROUNDS MODEL LABEL=EZFLOW... -- CLIP...
# e.g.   scripts/bench-cpu-builds.sh 7 target/test-assets/ggml-tiny.en.bin \
#          native=target/release/ezflow v3=target/package/bins/ezflow-x86-64-v3 \
#          -- target/test-assets/jfk.wav target/test-assets/audio/letter.wav
set -euo pipefail
rounds="$1" model="$2"
shift 2
builds=()
while [[ $# -gt 0 && "$1" != "--" ]]; do
  builds+=("$1")
  shift
done
shift
clips=("$@")
results="$(mktemp)"
trap 'rm -f "$results"' EXIT
for round in $(seq "$rounds"); do
  for clip in "${clips[@]}"; do
    for build in "${builds[@]}"; do
      label="${build%%=*}" exe="${build#*=}"
      ms="$(EZFLOW_NO_FIRST_RUN=1 "$exe" transcribe --json --threads "${THREADS:-2}" --model "$model" "$clip" 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["timings"]["transcribe_ms"])')"
      printf '%s\t%s\t%s\n' "$label" "$(basename "$clip")" "$ms" >>"$results"
    done
  done
  echo "bench-cpu-builds: round $round of $rounds done" >&2
done
python3 - "$results" "${builds[@]}" <<'EOF'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
labels = [b.split("=", 1)[0] for b in sys.argv[2:]]
clips = list(dict.fromkeys(r[1] for r in rows))
med = {(l, c): statistics.median(float(r[2]) for r in rows if r[0] == l and r[1] == c)
       for l in labels for c in clips}
print("| clip | " + " | ".join(f"{l} (ms)" for l in labels) + " | "
      + " | ".join(f"{l} / {labels[0]}" for l in labels[1:]) + " |")
print("|---" * (1 + 2 * len(labels) - 1) + "|")
for c in clips:
    base = med[(labels[0], c)]
    print(f"| {c} | " + " | ".join(f"{med[(l, c)]:.0f}" for l in labels) + " | "
          + " | ".join(f"{med[(l, c)] / base:.2f}" for l in labels[1:]) + " |")
EOF
