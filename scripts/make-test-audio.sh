#!/usr/bin/env bash
# Generates the labelled audio clips the audio and engine tests use.
#
# Usage: scripts/make-test-audio.sh [OUTPUT_DIR]   (default: <repo>/target/test-assets/audio)
#
# Everything is synthesised locally, so the result is small (well under a few MB)
# and needs no network:
#   - espeak-ng speaks a few typical dictation sentences (22.05 kHz mono 16-bit WAV),
#     each with its text in a .txt beside it;
#   - sox, flac, lame and oggenc derive the other formats, rates, depths and
#     channel layouts from one sentence ("schedule");
#   - sox makes silence, room tone and a sentence padded with silence and noise.
# manifest.tsv records, for every clip, what sox measures (duration, rate,
# channels) and, where known, where the speech starts and ends, so tests compare
# against measured facts instead of numbers copied into the test.
#
# Idempotent: it rebuilds every file in a scratch directory and moves the set
# into place, so reruns give the same files (sox runs with -R: fixed noise seeds).
#
# Needs (Debian packages): espeak-ng, sox, libsox-fmt-all, flac, lame, vorbis-tools.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out_dir="${1:-$root/target/test-assets/audio}"

for tool in espeak-ng sox soxi flac lame oggenc; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "error: '$tool' is not installed (Debian packages: espeak-ng sox libsox-fmt-all flac lame vorbis-tools)" >&2
        exit 1
    fi
done

mkdir -p "$(dirname "$out_dir")"
scratch="$(mktemp -d "$(dirname "$out_dir")/.make-test-audio.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

# Silence padding and noise level of the padded sentence; tests read them back
# from the manifest.
pad_s=1.5
# White noise at vol 0.003 is about -59 dBFS RMS: a quiet room.
pad_noise_vol=0.003
# Room tone is louder (about -44 dBFS RMS) so that only the detector's noise-floor
# estimate, not its absolute minimum, can call it silence.
room_tone_vol=0.02

speak() { # name text [voice]
    local name="$1" text="$2" voice="${3:-en-us}"
    espeak-ng -v "$voice" -s 165 -w "$scratch/$name.wav" "$text"
    printf '%s\n' "$text" >"$scratch/$name.txt"
}

speak hello "Hello world."
speak schedule "Please schedule the meeting for Tuesday afternoon."
speak note "Send a note to Sarah saying the quarterly report is ready for review, and copy the whole team."
# Short dictations (1-2 s), the clips where a shortened encoder window is
# most likely to make the decoder loop or invent words.
speak short_works "Yes, that works for me."
speak short_call "Call me back later." en-gb
speak short_thanks "Thanks, see you tomorrow."
speak short_noon "Let's meet at noon." en-gb
speak short_done "I'm done for today."
speak short_send "Send the file now." en-gb
speak short_good "Sounds good."
speak short_lunch "Lunch is ready." en-gb
speak letter "Dear Michael, thank you for your message. I have reviewed the draft contract, and I think the payment terms in section four need another look before we sign. Could we talk about it on Friday morning?"

src="$scratch/schedule.wav"
sox_() { sox -R -V1 "$@"; }

# Other containers and codecs, at rates and layouts a user's files might have.
sox_ "$src" -r 44100 -c 2 "$scratch/schedule_44k1_stereo.tmp.wav" rate -v
flac --silent --force -o "$scratch/schedule_44k1_stereo.flac" "$scratch/schedule_44k1_stereo.tmp.wav"
sox_ "$src" -r 48000 -c 2 "$scratch/schedule_48k_stereo.tmp.wav" rate -v
lame --quiet -b 128 --resample 48 "$scratch/schedule_48k_stereo.tmp.wav" "$scratch/schedule_48k_stereo.mp3"
# soxi estimates an MP3's duration from its bit rate; what lame was given is exact
# (a gapless decoder trims the encoder's delay and padding back to it).
mp3_duration_s="$(soxi -D "$scratch/schedule_48k_stereo.tmp.wav")"
oggenc --quiet --serial 1 -q 4 -o "$scratch/schedule_22k05.ogg" "$src"
rm -f "$scratch"/*.tmp.wav

# WAV sample formats and rates.
sox_ "$src" -b 24 -e signed-integer -r 48000 "$scratch/schedule_48k_s24.wav" rate -v
sox_ "$src" -b 32 -e signed-integer "$scratch/schedule_22k05_s32.wav"
sox_ "$src" -b 32 -e floating-point "$scratch/schedule_22k05_f32.wav"
sox_ "$src" -b 8 -e unsigned-integer "$scratch/schedule_22k05_u8.wav"
sox_ "$src" -r 8000 "$scratch/schedule_8k.wav" rate -v
sox_ "$src" -r 16000 "$scratch/schedule_16k.wav" rate -v
sox_ "$src" -r 16000 -c 3 "$scratch/schedule_16k_3ch.wav" rate -v

# The sentence with espeak's own leading/trailing silence cut off: all speech.
sox_ "$src" "$scratch/schedule_speech_only.wav" \
    silence 1 0.01 -50d reverse silence 1 0.01 -50d reverse
speech_s="$(soxi -D "$scratch/schedule_speech_only.wav")"

# The same speech with pad_s of silence before and after, under low noise.
sox_ "$scratch/schedule_speech_only.wav" "$scratch/padded.tmp.wav" pad "$pad_s" "$pad_s"
padded_len="$(soxi -s "$scratch/padded.tmp.wav")"
sox_ -r 22050 -c 1 -n -b 16 "$scratch/noise.tmp.wav" synth "${padded_len}s" whitenoise vol "$pad_noise_vol"
sox_ -m -v 1 "$scratch/padded.tmp.wav" -v 1 "$scratch/noise.tmp.wav" "$scratch/schedule_padded.wav"
rm -f "$scratch"/*.tmp.wav

# No speech at all: digital silence, and quiet room tone.
sox_ -D -n -r 16000 -c 1 -b 16 "$scratch/silence_3s.wav" trim 0 3
sox_ -n -r 16000 -c 1 -b 16 "$scratch/room_tone_3s.wav" synth 3 whitenoise vol "$room_tone_vol"

manifest="$scratch/manifest.tsv"
printf 'file\tduration_s\tsample_rate\tchannels\tspeech_start_s\tspeech_end_s\n' >"$manifest"
for f in "$scratch"/*.wav "$scratch"/*.flac "$scratch"/*.mp3 "$scratch"/*.ogg; do
    name="$(basename "$f")"
    start=- end=-
    case "$name" in
        schedule_speech_only.wav) start=0 end="$speech_s" ;;
        schedule_padded.wav)
            start="$pad_s"
            end="$(awk -v a="$pad_s" -v b="$speech_s" 'BEGIN { printf "%.6f", a + b }')"
            ;;
        silence_3s.wav | room_tone_3s.wav) start=none end=none ;;
    esac
    duration="$(soxi -D "$f")"
    if [[ "$name" == *.mp3 ]]; then duration="$mp3_duration_s"; fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$duration" "$(soxi -r "$f")" \
        "$(soxi -c "$f")" "$start" "$end" >>"$manifest"
done

chmod 755 "$scratch"
rm -rf "$out_dir"
mv "$scratch" "$out_dir"
trap - EXIT

echo "made $(($(wc -l <"$out_dir/manifest.tsv") - 1)) clips in $out_dir ($(du -sh "$out_dir" | cut -f1)):"
cat "$out_dir/manifest.tsv"
