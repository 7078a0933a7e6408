#!/usr/bin/env python3
"""Side-by-side accuracy and speed of `ezflow transcribe` and faster-whisper.

Both run the same tiny.en weights (faster-whisper on the CTranslate2 files,
ezflow on our GGML import of them), greedy decoding, English, the same thread
count, on the same clips. Timed: transcription only, from decoded 16 kHz audio
to text, model already loaded, after a warm-up; the median of --runs runs.
Word error rate against each clip's reference text (a .txt beside the .wav),
scored by `ezflow-bench wer`: the tests' word error rate and normalisation
(crates/ezflow-testbed/src/wer.rs), so there is no second copy here.

The functions here (word errors, running each engine, reading clips) are
also what scripts/bench_transcription.py, the benchmark's transcription part,
uses.

Usage: compare_faster_whisper.py --ezflow BIN --ggml MODEL --ggml-q8 MODEL --ct2 DIR
                                 [--ezflow-bench BIN] [--threads N] [--runs N] [--out FILE]
                                 CLIP.wav...
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import wave


def ezflow_bench_beside(ezflow):
    """The ezflow-bench binary of the same build as `ezflow` (beside it in
    target/PROFILE), built with cargo if it is not there yet."""
    path = os.path.join(os.path.dirname(os.path.abspath(ezflow)), "ezflow-bench")
    if not os.access(path, os.X_OK):
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        profile = os.path.basename(os.path.dirname(path))
        cmd = ["cargo", "build", "--quiet", "-p", "ezflow-bench"]
        if profile != "debug":
            cmd += ["--profile", profile]
        subprocess.run(cmd, check=True, cwd=root)
    return path


def word_errors(ezflow_bench, pairs):
    """Word errors of each (reference, hypothesis) pair, scored by
    `ezflow-bench wer`: a list of {"edits", "reference_words", "rate"}, in
    the order of `pairs`."""
    request = json.dumps([{"reference": r, "hypothesis": h} for r, h in pairs])
    out = subprocess.run([ezflow_bench, "wer"], input=request, check=True,
                         capture_output=True, text=True).stdout
    scores = json.loads(out)
    if len(scores) != len(pairs):
        raise RuntimeError(f"ezflow-bench wer scored {len(scores)} of {len(pairs)} pairs")
    return scores


def runs_for(runs, clip):
    """`runs` is a count for every clip, or a dict clip -> count."""
    return runs[clip] if isinstance(runs, dict) else runs


def isolated_env():
    """The environment for `ezflow`, with its own empty config and data
    directories so that the user's settings file (language, telemetry)
    cannot change what is measured."""
    home = tempfile.mkdtemp(prefix="ezflow-compare-")
    env = dict(os.environ)
    env["EZFLOW_CONFIG_DIR"] = os.path.join(home, "config")
    env["EZFLOW_DATA_DIR"] = os.path.join(home, "data")
    env.pop("EZFLOW_LOG", None)
    return env


def run_ezflow(ezflow, model, clips, threads, runs, language="en", beam=None):
    """Per clip: the list of transcribe ms over its runs, and the last text.

    One `ezflow transcribe --json` process per run; its first file warms the
    model up and is not counted. transcribe_ms is ezflow's own timing of
    decoded audio to text, model load excluded."""
    times = {c: [] for c in clips}
    texts = {}
    env = isolated_env()
    for r in range(max(runs_for(runs, c) for c in clips)):
        todo = [c for c in clips if runs_for(runs, c) > r]
        cmd = [ezflow, "transcribe", "--json", "--threads", str(threads),
               "--language", language, "--model", model]
        if beam is not None:
            cmd += ["--beam", str(beam)]
        cmd += [clips[0]] + todo
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        results = [json.loads(line) for line in out.splitlines()][1:]
        for clip, result in zip(todo, results):
            times[clip].append(result["timings"]["transcribe_ms"])
            texts[clip] = result["text"]
    return times, texts


def run_faster_whisper(ct2, compute_type, clips, threads, runs, language="en", beam=1):
    """Per clip: the list of transcription ms over its runs, and the last
    text. Decoded audio in memory to the last segment's text, model loaded,
    after a warm-up on the first clip."""
    from faster_whisper import WhisperModel, decode_audio

    model = WhisperModel(ct2, device="cpu", compute_type=compute_type,
                         cpu_threads=threads, num_workers=1)
    audio = {c: decode_audio(c, sampling_rate=16000) for c in clips}

    def transcribe(samples):
        segments, _ = model.transcribe(samples, language=language, beam_size=beam,
                                       condition_on_previous_text=False,
                                       vad_filter=False)
        return " ".join(s.text.strip() for s in segments)  # the generator runs here

    transcribe(audio[clips[0]])  # warm-up
    times = {c: [] for c in clips}
    texts = {}
    for r in range(max(runs_for(runs, c) for c in clips)):
        for c in clips:
            if runs_for(runs, c) <= r:
                continue
            started = time.perf_counter()
            texts[c] = transcribe(audio[c])
            times[c].append((time.perf_counter() - started) * 1000)
    return times, texts


def read_clips(clips):
    """Durations in seconds (WAV header) and reference texts (.txt beside)."""
    durations = {}
    refs = {}
    for c in clips:
        with wave.open(c) as w:
            durations[c] = w.getnframes() / w.getframerate()
        with open(os.path.splitext(c)[0] + ".txt") as f:
            refs[c] = f.read().strip()
    return durations, refs


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ezflow", required=True)
    p.add_argument("--ggml", required=True, help="the float16 GGML import")
    p.add_argument("--ggml-q8", required=True, help="the q8_0 GGML import")
    p.add_argument("--ct2", required=True)
    p.add_argument("--ezflow-bench", help="scores the transcripts (default: beside --ezflow)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out")
    p.add_argument("clips", nargs="+")
    args = p.parse_args()

    bench = args.ezflow_bench or ezflow_bench_beside(args.ezflow)
    durations, refs = read_clips(args.clips)
    ez_t, ez_x = run_ezflow(args.ezflow, args.ggml, args.clips, args.threads, args.runs)
    eq_t, eq_x = run_ezflow(args.ezflow, args.ggml_q8, args.clips, args.threads, args.runs)
    f8_t, f8_x = run_faster_whisper(args.ct2, "int8", args.clips, args.threads, args.runs)
    f32_t, f32_x = run_faster_whisper(args.ct2, "float32", args.clips, args.threads, args.runs)
    texts = (ez_x, eq_x, f8_x, f32_x)
    scores = iter(word_errors(bench, [(refs[c], x[c]) for c in args.clips for x in texts]))
    # Whether ezflow q8_0 and faster-whisper int8 heard different words.
    differ = [s["edits"] != 0 for s in word_errors(bench, [(eq_x[c], f8_x[c]) for c in args.clips])]

    lines = []
    lines.append(f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; threads: {args.threads}; "
                 f"model: tiny.en; median of {args.runs} runs; times exclude model load and audio decoding")
    lines.append("")
    lines.append("| clip | audio s | ezflow f16 ms | ezflow q8_0 ms | fw int8 ms | fw f32 ms "
                 "| fw int8 / ezflow q8_0 | fw f32 / ezflow f16 "
                 "| WER ezflow f16 | WER ezflow q8_0 | WER fw int8 | WER fw f32 |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    keys = ["ez", "eq", "f8", "f32", "wez", "weq", "wf8", "wf32"]
    tot = dict.fromkeys(keys, 0.0)
    for c in args.clips:
        ez, eq, f8, f32 = (statistics.median(t[c]) for t in (ez_t, eq_t, f8_t, f32_t))
        we, wq, w8, w32 = (next(scores)["rate"] for _ in texts)
        for k, v in zip(keys, (ez, eq, f8, f32, we, wq, w8, w32)):
            tot[k] += v
        lines.append(f"| {os.path.basename(c)} | {durations[c]:.1f} | {ez:.0f} | {eq:.0f} | {f8:.0f} | {f32:.0f} | "
                     f"{f8 / eq:.2f} | {f32 / ez:.2f} | {we:.2f} | {wq:.2f} | {w8:.2f} | {w32:.2f} |")
    n = len(args.clips)
    lines.append(f"| **mean** | | {tot['ez']/n:.0f} | {tot['eq']/n:.0f} | {tot['f8']/n:.0f} | {tot['f32']/n:.0f} | "
                 f"{tot['f8']/tot['eq']:.2f} | {tot['f32']/tot['ez']:.2f} | {tot['wez']/n:.3f} | {tot['weq']/n:.3f} | "
                 f"{tot['wf8']/n:.3f} | {tot['wf32']/n:.3f} |")
    lines.append("")
    lines.append("Where the texts differ (ezflow q8_0 / faster-whisper int8):")
    lines.append("")
    for c, different in zip(args.clips, differ):
        if different:
            lines.append(f"- {os.path.basename(c)}: \"{eq_x[c]}\" / \"{f8_x[c]}\"")
    report = "\n".join(lines)
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report + "\n")


if __name__ == "__main__":
    sys.exit(main())
