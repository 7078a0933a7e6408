#!/usr/bin/env python3
"""The benchmark's transcription part: latency (end of audio to text), real-
time factor and word error rate of `ezflow transcribe` (GGML float16 and
q8_0) and faster-whisper (CTranslate2 int8 and float32) on the same clips,
the same weights, the same thread count, in the same run. Writes one
Markdown section per model, and every transcript to a second file.

scripts/bench.sh runs it inside the faster-whisper venv; the engines are run
by the functions of compare_faster_whisper.py, and the transcripts are scored
by `ezflow-bench wer` (the tests' word error rate).

Usage: bench_transcription.py --ezflow BIN [--ezflow-bench BIN] --threads N
           --model NAME=GGML_F16,GGML_Q8_0,CT2_DIR [--model ...]
           [--runs N] [--long-runs N] [--long-from SECONDS]
           [--note TEXT ...] --out FILE [--transcripts FILE] CLIP.wav...
"""
import argparse
import importlib.metadata
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_faster_whisper import (  # noqa: E402
    ezflow_bench_beside,
    read_clips,
    run_ezflow,
    run_faster_whisper,
    word_errors,
)

ENGINES = [
    ("ez16", "ezflow f16"),
    ("ez8", "ezflow q8_0"),
    ("fw8", "faster-whisper int8"),
    ("fw32", "faster-whisper float32"),
]


def parse_model(text):
    name, _, paths = text.partition("=")
    parts = paths.split(",")
    if not name or len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=GGML_F16,GGML_Q8_0,CT2_DIR")
    return name, parts[0], parts[1], parts[2]


def version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def cell(ms, seconds):
    return f"{ms:.0f} ms (RTF {ms / 1000 / seconds:.3f})"


def measure(args, name, f16, q8, ct2, clips, runs):
    """Runs the four engines; returns {engine: (times, texts)}."""
    out = {}
    for key, label in ENGINES:
        print(f"bench_transcription: {name}, {label}", file=sys.stderr, flush=True)
        if key == "ez16":
            out[key] = run_ezflow(args.ezflow, f16, clips, args.threads, runs)
        elif key == "ez8":
            out[key] = run_ezflow(args.ezflow, q8, clips, args.threads, runs)
        elif key == "fw8":
            out[key] = run_faster_whisper(ct2, "int8", clips, args.threads, runs)
        else:
            out[key] = run_faster_whisper(ct2, "float32", clips, args.threads, runs)
    return out


def section(name, results, clips, durations, refs, runs, bench):
    lines = [f"### {name}", ""]
    lines.append("Latency: decoded audio in memory to text, model loaded and warmed up, median of "
                 "the runs shown. RTF (real-time factor) = latency / audio duration; below 1 is "
                 "faster than real time. Ratio = faster-whisper's latency / ezflow's: above 1, "
                 "ezflow is faster.")
    lines.append("")
    lines.append("| clip | audio | runs | " + " | ".join(label for _, label in ENGINES)
                 + " | fw int8 ÷ ezflow q8_0 | fw float32 ÷ ezflow f16 |")
    lines.append("|---|---:|---:|" + "---:|" * (len(ENGINES) + 2))
    for c in clips:
        med = {k: statistics.median(results[k][0][c]) for k, _ in ENGINES}
        row = [os.path.basename(c), f"{durations[c]:.1f} s", str(runs[c])]
        row += [cell(med[k], durations[c]) for k, _ in ENGINES]
        row += [f"{med['fw8'] / med['ez8']:.2f}", f"{med['fw32'] / med['ez16']:.2f}"]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append("Word error rate against the reference text (lower is better; 0.05 = 5 words "
                 "wrong in 100). The last row pools all clips' words.")
    lines.append("")
    lines.append("| clip | words | " + " | ".join(label for _, label in ENGINES) + " |")
    lines.append("|---|---:|" + "---:|" * len(ENGINES))
    total_words = 0
    total_errors = dict.fromkeys((k for k, _ in ENGINES), 0)
    scores = iter(word_errors(bench, [(refs[c], results[k][1][c]) for c in clips for k, _ in ENGINES]))
    for c in clips:
        row = [os.path.basename(c), None]
        for k, _ in ENGINES:
            score = next(scores)
            n = score["reference_words"]
            total_errors[k] += score["edits"]
            row.append(f"{score['rate']:.3f}")
        row[1] = str(n)
        total_words += n
        lines.append("| " + " | ".join(row) + " |")
    lines.append("| **all clips** | " + str(total_words) + " | "
                 + " | ".join(f"**{total_errors[k] / max(1, total_words):.3f}**" for k, _ in ENGINES)
                 + " |")
    lines.append("")
    return lines


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ezflow", required=True)
    p.add_argument("--ezflow-bench", help="scores the transcripts (default: beside --ezflow)")
    p.add_argument("--model", action="append", type=parse_model, required=True,
                   help="NAME=GGML_F16,GGML_Q8_0,CT2_DIR; repeat for more models")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--long-runs", type=int, default=2,
                   help="runs for clips of --long-from seconds or more")
    p.add_argument("--long-from", type=float, default=60.0)
    p.add_argument("--note", action="append", default=[],
                   help="a line to add under the tables (e.g. a model not available)")
    p.add_argument("--out", required=True)
    p.add_argument("--transcripts")
    p.add_argument("clips", nargs="+")
    args = p.parse_args()

    bench = args.ezflow_bench or ezflow_bench_beside(args.ezflow)
    durations, refs = read_clips(args.clips)
    runs = {c: (args.long_runs if durations[c] >= args.long_from else args.runs)
            for c in args.clips}

    lines = ["## Transcription: ezflow and faster-whisper side by side", ""]
    lines.append(f"faster-whisper {version('faster-whisper')} (CTranslate2 {version('ctranslate2')}), "
                 f"{args.threads} threads for both engines, greedy decoding (beam 1), English, "
                 "no VAD, previous text not used as a prompt. ezflow: its release build, "
                 "`ezflow transcribe --json`, whose own timing excludes model load and audio "
                 f"decoding. Runs: {args.runs} per clip, {args.long_runs} for clips of "
                 f"{args.long_from:.0f} s or more.")
    lines.append("")
    transcripts = ["# Transcripts of the benchmark run", ""]
    for name, f16, q8, ct2 in args.model:
        results = measure(args, name, f16, q8, ct2, args.clips, runs)
        lines += section(name, results, args.clips, durations, refs, runs, bench)
        for c in args.clips:
            transcripts.append(f"## {name}: {os.path.basename(c)}")
            transcripts.append("")
            transcripts.append(f"- reference: {refs[c]}")
            for k, label in ENGINES:
                transcripts.append(f"- {label}: {results[k][1][c]}")
            transcripts.append("")
    for note in args.note:
        lines.append(note)
        lines.append("")
    report = "\n".join(lines)
    print(report)
    with open(args.out, "w") as f:
        f.write(report + "\n")
    if args.transcripts:
        with open(args.transcripts, "w") as f:
            f.write("\n".join(transcripts) + "\n")


if __name__ == "__main__":
    sys.exit(main())
