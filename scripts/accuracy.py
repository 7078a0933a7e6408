#!/usr/bin/env python3
"""Accuracy at the edges, side by side: the word error rate of `ezflow
transcribe` (GGML float16 and q8_0) and faster-whisper (CTranslate2 int8 and
float32) on the same tiny.en weights, on the labelled clips as recorded and
the same clips cut tight to their speech (speech from the first sample to
the last), greedy and with a beam, in one run.

The word error rate is the corpus rate: all word edits over all reference
words of a set (so a one-word clip weighs one word). Scored by `ezflow-bench
wer`, the tests' word error rate and normalisation. Times are the mean of
each engine's transcription time over the set's clips (model loaded, after
a warm-up; one run per clip unless --runs says more), beside the WER only so
that a beam's cost is seen next to what it buys; the speed benchmark is
scripts/bench.sh.

Usage: accuracy.py --ezflow BIN --ggml MODEL --ggml-q8 MODEL --ct2 DIR
                   [--threads N] [--runs N] [--beams 1,5] [--engines ez16,ez8,fw8,fw32]
                   [--out FILE] [--transcripts FILE]
                   --set NAME=CLIP.wav,CLIP.wav,... [--set ...]
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_faster_whisper import (  # noqa: E402
    cpu_model,
    ezflow_bench_beside,
    read_clips,
    run_ezflow,
    run_faster_whisper,
    word_errors,
)

ENGINES = {
    "ez16": "ezflow f16",
    "ez8": "ezflow q8_0",
    "fw8": "faster-whisper int8",
    "fw32": "faster-whisper float32",
}


def parse_set(text):
    name, _, clips = text.partition("=")
    clips = [c for c in clips.split(",") if c]
    if not name or not clips:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=CLIP.wav,...")
    return name, clips


def run(args, engine, clips, beam):
    if engine == "ez16":
        return run_ezflow(args.ezflow, args.ggml, clips, args.threads, args.runs, beam=beam)
    if engine == "ez8":
        return run_ezflow(args.ezflow, args.ggml_q8, clips, args.threads, args.runs, beam=beam)
    compute = "int8" if engine == "fw8" else "float32"
    return run_faster_whisper(args.ct2, compute, clips, args.threads, args.runs, beam=beam)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ezflow", required=True)
    p.add_argument("--ggml", required=True)
    p.add_argument("--ggml-q8", required=True)
    p.add_argument("--ct2", required=True)
    p.add_argument("--ezflow-bench")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--beams", default="1,5")
    p.add_argument("--engines", default="ez16,ez8,fw8,fw32")
    p.add_argument("--set", dest="sets", type=parse_set, action="append", required=True)
    p.add_argument("--out")
    p.add_argument("--transcripts")
    args = p.parse_args()

    bench = args.ezflow_bench or ezflow_bench_beside(args.ezflow)
    beams = [int(b) for b in args.beams.split(",")]
    engines = args.engines.split(",")
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        p.error(f"unknown engine {unknown[0]!r}; choose from {', '.join(ENGINES)}")
    all_clips = [c for _, clips in args.sets for c in clips]
    _, refs = read_clips(all_clips)

    # results[(engine, beam)] = (times, texts) over all clips of all sets.
    results = {}
    for beam in beams:
        for engine in engines:
            print(f"accuracy: {ENGINES[engine]}, beam {beam}", file=sys.stderr)
            results[(engine, beam)] = run(args, engine, all_clips, beam)

    pairs = [(refs[c], results[k][1][c]) for k in results for c in all_clips]
    scores = iter(word_errors(bench, pairs))
    score = {(k, c): next(scores) for k in results for c in all_clips}

    lines = [
        f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; threads: {args.threads}; "
        f"model: tiny.en; corpus word error rate (all edits / all reference words); "
        f"ms: mean transcription time per clip (median of {args.runs} run(s) each)",
        "",
    ]
    header = "| engine | beam |" + "".join(f" WER {n} | ms {n} |" for n, _ in args.sets)
    lines += [header, "|---|---:|" + "---:|---:|" * len(args.sets)]
    for (engine, beam), (times, _) in results.items():
        row = f"| {ENGINES[engine]} | {beam} |"
        for _, clips in args.sets:
            edits = sum(score[((engine, beam), c)]["edits"] for c in clips)
            words = sum(score[((engine, beam), c)]["reference_words"] for c in clips)
            ms = statistics.mean(statistics.median(times[c]) for c in clips)
            row += f" {100 * edits / words:.1f} % | {ms:.0f} |"
        lines.append(row)
    report = "\n".join(lines)
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report + "\n")
    if args.transcripts:
        with open(args.transcripts, "w") as f:
            for (engine, beam), (_, texts) in results.items():
                f.write(f"## {ENGINES[engine]}, beam {beam}\n\n")
                for c in all_clips:
                    s = score[((engine, beam), c)]
                    f.write(f"- {os.path.basename(os.path.dirname(c))}/{os.path.basename(c)} "
                            f"({s['edits']}/{s['reference_words']}): {texts[c]!r}\n")
                f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
