"""Benchmark: promptlift's choice-scoring rate as a fraction of the engine's raw prompt-processing rate.

On the demo's workload (the built-in ``sentiment`` task, chat format; the seed candidate and a
4-demo candidate; ``--examples`` val examples sent to the backend in chunks of ``--chunk`` as
``Run.evaluate`` sends them) it measures, for each engine and thread count,

- scoring: examples per second, and the tokens the model actually processed per second,
  counted by instrumentation (torch: a forward pre-hook on the decoder stack counting its input
  tokens; llama.cpp: the tokens ``ChoiceScorer`` put into its decode batches);
- raw: the engine's own prompt processing of the same number of tokens (the workload's prompt
  tokens, concatenated) in full batches of ``--raw-batch`` tokens, each a fresh causal sequence
  (llama.cpp: ``llama_decode`` of one full batch on the scorer's own context; torch: one
  forward of the decoder stack over one packed batch). 512 tokens is one llama.cpp ubatch and
  the span a scoring group may fill (torch: ``chunk_tokens``), so both arms attend over spans
  of the same size;

and reports their ratio (scoring tokens/s over raw tokens/s). The arms are interleaved
(scoring, raw, scoring, raw ...) ``--repeats`` times from a cold prefix cache, and the medians
are reported, so slow drift of the machine's load falls on both arms alike. ``--profile``
adds a cProfile of one scoring pass per engine and candidate (at the first thread count):
where the time goes (model, tokenization and chat template, per-request Python).

    python benchmarks/scoring_rate.py                          # both engines, 1 and 2 threads
    python benchmarks/scoring_rate.py --threads 1 --profile --out benchmarks/results/scoring_rate_1t

Writes ``benchmarks/results/scoring_rate.json`` and ``.md``. Wall-clock timings: the load
average is recorded at the start and end of every cell; on a busy machine absolute rates drop,
the ratio of the two interleaved arms much less.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from promptlift.bench import micro

RESULTS = Path(__file__).parent / "results"
ENGINES = ("torch", "llamacpp")
RAW_BATCH = 512


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = micro.parser(__doc__)
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--demos", type=int, nargs="+", default=[0, 4], help="candidates: the seed plus N demos")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=32, help="requests per complete() call (Run's default)")
    parser.add_argument("--raw-batch", type=int, default=RAW_BATCH, help="tokens per raw batch")
    parser.add_argument("--chunk-tokens", type=int, nargs="+", default=None,
                        help="torch: packed tokens per scoring forward, one row each (default: the backend's)")
    parser.add_argument("--profile", action="store_true", help="cProfile one scoring pass per engine and candidate")
    parser.add_argument("--out", type=Path, default=RESULTS / "scoring_rate")
    parser.add_argument("--report-only", action="store_true", help="re-render the markdown from the JSON")
    parser.add_argument("--merge", type=Path, nargs="+", default=None, metavar="JSON",
                        help="write one report of these runs' JSON files (e.g. one run per engine)")
    args = parser.parse_args(argv)
    if args.examples < 1 or args.repeats < 1 or args.chunk < 1 or args.raw_batch < 1:
        parser.error("--examples, --repeats, --chunk and --raw-batch must be >= 1")
    return args


# --- engines: scoring, counting, raw decoding ----------------------------------------------------
class TorchEngine:
    """The torch backend with a counting forward pre-hook on its decoder stack."""

    name = "torch"

    def __init__(self, backend: Any) -> None:
        from promptlift.softprompt.apply import decoder

        self.backend = backend
        self.stack = decoder(backend.model)
        self.tokens = self.forwards = 0
        self._hook = self.stack.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module: Any, args: tuple, kwargs: dict) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        embeds = kwargs.get("inputs_embeds")
        shape = ids.shape if ids is not None else embeds.shape[:2]
        self.tokens += int(shape[0] * shape[1])
        self.forwards += 1

    def set_threads(self, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)

    def clear(self) -> None:
        self.backend.store.clear()

    def prompt(self, request: Any) -> list[int]:
        return self.backend.encode(request)[0]

    def raw(self, tokens: Sequence[int]) -> None:
        """One forward of the decoder stack over ``tokens`` as one causal sequence, the LM head on the last."""
        import torch

        model = self.backend.model
        with torch.inference_mode():
            ids = torch.tensor([list(tokens)], device=model.device)
            hidden = self.stack(input_ids=ids, use_cache=False).last_hidden_state
            model.get_output_embeddings()(hidden[:, -1])

    def close(self) -> None:
        self._hook.remove()


class LlamaCppEngine:
    """The llama.cpp backend; its ChoiceScorer counts the tokens of every decode batch."""

    name = "llamacpp"

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.scorer = backend._scorer

    @property
    def tokens(self) -> int:
        return int(self.scorer.decoded_tokens)

    @property
    def forwards(self) -> int:
        return int(self.scorer.decodes)

    def set_threads(self, threads: int) -> None:
        pass  # fixed when the backend is built (one backend per thread count)

    def clear(self) -> None:
        self.scorer.clear()

    def prompt(self, request: Any) -> list[int]:
        return self.backend._item(request).prompt

    def raw(self, tokens: Sequence[int]) -> None:
        self.scorer.decode_plain(tokens)

    def close(self) -> None:
        pass


def build(name: str, threads: int) -> Any:
    if name == "torch":
        from promptlift.backends.torch import TorchBackend

        return TorchEngine(TorchBackend.from_spec("smollm2", device="cpu", threads=threads))
    from promptlift.backends.llamacpp import LlamaCppBackend

    return LlamaCppEngine(LlamaCppBackend.from_spec("smollm2", n_threads=threads))


# --- the two arms --------------------------------------------------------------------------------
def workload(demos: int, examples: int) -> list:
    """The demo's requests: sentiment val examples under the seed candidate with ``demos`` label-alternating demos."""
    from promptlift.tasks.builtin import get_task

    task = get_task("sentiment", sizes=(300, examples, 200)) if examples > 100 else get_task("sentiment")
    positive = [e for e in task.train if e.output == task.choices[0]]
    negative = [e for e in task.train if e.output != task.choices[0]]
    chosen = tuple(e for pair in zip(positive, negative) for e in pair)[:demos]
    candidate = task.seed.with_(demos=chosen)
    return [task.render(candidate, e) for e in task.val[:examples]]


def score(engine: Any, requests: Sequence[Any], chunk: int) -> tuple[float, int, int]:
    """(seconds, tokens processed, forwards) of scoring ``requests`` from a cold cache, in chunks."""
    engine.clear()
    tokens, forwards = engine.tokens, engine.forwards
    start = time.perf_counter()
    for at in range(0, len(requests), chunk):
        engine.backend.complete(requests[at : at + chunk])
    return time.perf_counter() - start, engine.tokens - tokens, engine.forwards - forwards


def raw_batches(stream: Sequence[int], count: int, batch: int) -> list[list[int]]:
    """``count`` tokens taken from ``stream`` (cycled) in batches of ``batch`` (the last one may be short)."""
    if not stream:
        raise ValueError("no tokens to decode")
    tokens = [stream[i % len(stream)] for i in range(count)]
    return [tokens[i : i + batch] for i in range(0, count, batch)]


def raw(engine: Any, batches: Sequence[Sequence[int]]) -> tuple[float, int]:
    """(seconds, tokens processed) of the engine's raw decode of ``batches``."""
    tokens = engine.tokens
    start = time.perf_counter()
    for part in batches:
        engine.raw(part)
    return time.perf_counter() - start, engine.tokens - tokens


def cell(engine: Any, requests: Sequence[Any], args: argparse.Namespace) -> dict[str, Any]:
    """The interleaved arms on one workload, medians over ``args.repeats``."""
    stream = [t for r in requests for t in engine.prompt(r)]
    score(engine, requests[: args.chunk], args.chunk)  # warm-up: lazy imports, allocations
    load_start = micro.load()
    runs = []
    for _ in range(args.repeats):
        seconds, tokens, forwards = score(engine, requests, args.chunk)
        raw_seconds, raw_tokens = raw(engine, raw_batches(stream, tokens, args.raw_batch))
        runs.append({"seconds": seconds, "tokens": tokens, "forwards": forwards, "raw_seconds": raw_seconds,
                     "raw_tokens": raw_tokens, "ratio": (tokens / seconds) / (raw_tokens / raw_seconds)})
    median = statistics.median
    return {
        "examples": len(requests),
        "prompt_tokens_per_example": len(stream) / len(requests),
        "model_tokens_per_example": runs[0]["tokens"] / len(requests),
        "tokens_per_forward": runs[0]["tokens"] / max(1, runs[0]["forwards"]),
        "examples_per_s": median(len(requests) / r["seconds"] for r in runs),
        "tokens_per_s": median(r["tokens"] / r["seconds"] for r in runs),
        "raw_tokens_per_s": median(r["raw_tokens"] / r["raw_seconds"] for r in runs),
        "ratio": median(r["ratio"] for r in runs),
        "runs": runs, "load_start": load_start, "load_end": micro.load(),
    }


# --- profile --------------------------------------------------------------------------------------
WATCH = {  # (file ending, function) -> what it is; cumulative seconds are reported
    "torch": [("backends/torch.py", "encode", "tokenization + chat template"),
              ("backends/torch.py", "text", "chat template"),
              ("torch_scoring.py", "_run", "packed forward (mask, model, LM head)"),
              ("torch_scoring.py", "tree_mask", "tree mask"), ("torch_scoring.py", "pack", "packing"),
              ("torch_prefix.py", "extend", "prefix forward"), ("torch_prefix.py", "cluster", "grouping")],
    "llamacpp": [("backends/llamacpp.py", "_item", "tokenization + chat template"),
                 ("backends/llamacpp.py", "text", "chat template"),
                 ("_internals.py", "decode", "llama_decode"), ("llamacpp_scoring.py", "_groups", "grouping"),
                 ("llamacpp_scoring.py", "_fill", "batch filling"), ("llamacpp_scoring.py", "log_softmax", "log-softmax"),
                 ("llamacpp_scoring.py", "_logits", "logits access"), ("_internals.py", "kv_cache_seq_cp", "KV copy"),
                 ("_internals.py", "kv_cache_seq_rm", "KV remove")],
}


def profile(engine: Any, requests: Sequence[Any], chunk: int, top: int = 12) -> dict[str, Any]:
    """A cProfile of one cold scoring pass: watched functions' cumulative seconds, the top by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    seconds, _, _ = score(engine, requests, chunk)
    profiler.disable()
    return summarize(pstats.Stats(profiler), WATCH[engine.name], seconds, top)


def summarize(stats: pstats.Stats, watch: Sequence[tuple[str, str, str]], seconds: float, top: int) -> dict[str, Any]:
    table: dict = stats.stats  # type: ignore[attr-defined]  # {(file, line, name): (cc, nc, tt, ct, callers)}
    watched: dict[str, float] = {}
    for ending, function, what in watch:
        # the outermost call's cumulative time counts once: recursion already folds into it
        total = sum(v[3] for (file, _, name), v in table.items() if file.endswith(ending) and name == function)
        watched[f"{what} ({Path(ending).name}:{function})"] = total
    own = sorted(table.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    return {"seconds": seconds, "watched": watched,
            "top_own_time": [{"function": f"{Path(f).name}:{line}:{name}", "seconds": v[2], "calls": v[1]}
                             for (f, line, name), v in own]}


# --- report ---------------------------------------------------------------------------------------
def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Choice-scoring rate against the engine's raw prompt processing (sentiment, SmolLM2-135M, CPU)", "",
        f"{report['machine']}. {report['args']['examples']} val examples per candidate, sent in chunks of "
        f"{report['args']['chunk']} requests; each cell interleaves the two arms {report['args']['repeats']} times "
        "and reports medians. Model tokens are counted by instrumentation (torch: a pre-hook on the decoder stack; "
        "llama.cpp: the scorer's decode batches); the raw arm decodes as many of the workload's prompt tokens "
        f"in fresh batches of {report['args']['raw_batch']}. ratio = scoring model tokens/s / raw tokens/s.", "",
        "| engine | threads | demos | prompt tok/ex | model tok/ex | tok/forward | examples/s | scoring tok/s "
        "| raw tok/s | ratio | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["cells"]:
        lines.append(
            f"| {row['engine']} | {row['threads']} | {row['demos']} | {row['prompt_tokens_per_example']:.0f} | "
            f"{row['model_tokens_per_example']:.1f} | {row['tokens_per_forward']:.0f} | {row['examples_per_s']:.2f} | "
            f"{row['tokens_per_s']:.0f} | {row['raw_tokens_per_s']:.0f} | {row['ratio']:.2f} | "
            f"{row['load_start']:.1f}-{row['load_end']:.1f} |")
    for key, found in report.get("profiles", {}).items():
        lines += ["", f"## Profile: {key} ({found['seconds']:.1f} s under cProfile)", "",
                  "| watched function | cumulative s | share |", "|---|---|---|"]
        lines += [f"| {what} | {s:.2f} | {s / found['seconds']:.0%} |" for what, s in found["watched"].items()]
        lines += ["", "| top own time | s | calls |", "|---|---|---|"]
        lines += [f"| `{t['function']}` | {t['seconds']:.2f} | {t['calls']} |" for t in found["top_own_time"]]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, make: Callable[[str, int], Any] = build) -> dict[str, Any]:
    report: dict[str, Any] = {"machine": micro.machine(), "args": {k: str(v) for k, v in vars(args).items()},
                              "cells": [], "profiles": {}}
    report["args"].update(repeats=args.repeats, raw_batch=args.raw_batch)
    workloads = {demos: workload(demos, args.examples) for demos in args.demos}
    for name in args.engines:
        engine = None
        for threads in args.threads:
            if engine is None or name == "llamacpp":  # llama.cpp fixes its threads when built
                engine = make(name, threads)
            engine.set_threads(threads)
            variants = args.chunk_tokens if name == "torch" and args.chunk_tokens else [None]
            for demos, requests in workloads.items():
                for chunk_tokens in variants:
                    label = name if chunk_tokens is None else f"{name} (chunk {chunk_tokens})"
                    if chunk_tokens is not None:
                        engine.backend.chunk_tokens = chunk_tokens
                    row = {"engine": label, "threads": threads, "demos": demos, **cell(engine, requests, args)}
                    report["cells"].append(row)
                    print(json.dumps({k: v for k, v in row.items() if k != "runs"}), flush=True)
                    if args.profile and threads == args.threads[0]:
                        key = f"{label}, {threads} thread(s), {demos} demos"
                        report["profiles"][key] = profile(engine, requests, args.chunk)
        if engine is not None:
            engine.close()
    report["load_end"] = micro.load()
    return report


def merge(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One report of several runs: their cells and profiles in order, each run's machine line kept."""
    merged = dict(reports[0], cells=[], profiles={})
    merged["machine"] = "; ".join(f"run {i + 1}: {r['machine']}" for i, r in enumerate(reports))
    for i, report in enumerate(reports):
        merged["cells"] += [dict(row, run=i + 1) for row in report["cells"]]
        merged["profiles"].update(report.get("profiles", {}))
    return merged


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.report_only:
        report = json.loads(args.out.with_suffix(".json").read_text())
    elif args.merge:
        report = merge([json.loads(path.read_text()) for path in args.merge])
    else:
        report = run(args)
    micro.write(args.out, report, markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
