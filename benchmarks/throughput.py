"""Benchmark: local inference throughput — prefix reuse and batching against a naive loop.

On the built-in ``sentiment`` task (val examples, the seed instruction plus 0, 4 or 16
label-alternating train demos, chat format) it measures examples per second for

- choice scoring: a naive per-example transformers loop (one full forward over prompt +
  choice for each choice, full logits: what a plain HF loop does), ``TorchBackend`` and
  ``LlamaCppBackend``; the torch backend's log-probabilities are compared with the naive
  ones (max absolute difference);
- generation (greedy, ``--max-tokens``): a naive loop of ``model.generate`` per example,
  ``TorchBackend`` and ``LlamaCppBackend``;

and the tokens per second each engine runs through the model, set against the model's FLOP
bound on this machine. FLOPs per token are counted from the config (2 x the non-embedding
parameters, attention 4 x layers x q_dim x context, the LM head where logits are computed).
Peak FLOP/s is given two ways: the theoretical AVX2 peak (cores x clock x 32 fp32 FLOP/cycle:
two 256-bit FMA units, as on AMD Zen 2/3 and Intel Haswell+) and a measured fp32 matmul
(torch, the same thread count, best of 5). The backends are driven the way ``Run.evaluate``
drives them: chunks of ``--chunk`` requests per ``complete`` call.

    .venv/bin/python benchmarks/throughput.py                      # the full table
    .venv/bin/python benchmarks/throughput.py --demos 0 --examples 8 --naive-examples 2
    python benchmarks/throughput.py --device cuda --engines naive torch --examples 2048 \
        --chunk 1024 --out OUT                                    # a GPU row (no llama.cpp there)

Writes ``benchmarks/results/throughput.json`` and ``throughput.md``. The naive loop's cost
per example does not depend on how many examples run, so it runs on the first
``--naive-examples`` only. Timings are wall-clock and sensitive to other load on the machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable

from promptlift.bench import micro

RESULTS = Path(__file__).parent / "results"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = micro.parser(__doc__)
    parser.add_argument("--demos", type=int, nargs="+", default=[0, 4, 16])
    parser.add_argument("--examples", type=int, default=64, help="val examples for the backends")
    parser.add_argument("--naive-examples", type=int, default=8, help="examples for the naive loop")
    parser.add_argument("--generate-examples", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--chunk", type=int, default=32, help="requests per complete() call (Run's default)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--engines", nargs="+", default=["naive", "torch", "llamacpp"])
    parser.add_argument("--device", default="cpu", help="the torch engines' device: cpu, cuda (bf16)")
    parser.add_argument("--chunk-tokens", type=int, default=None,
                        help="packed tokens per scoring forward of the torch backend (its default: 512 CPU, 4096 CUDA)")
    parser.add_argument("--no-generation", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--report-only", action="store_true", help="re-render throughput.md from the JSON")
    return parser.parse_args(argv)


# --- FLOP accounting --------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Flops:
    """FLOPs of one token of a Llama-style model, from its config."""

    body: float  # 2 x non-embedding parameters
    attention_per_context: float  # 4 x layers x q_dim: QK^T and AV per token of context
    head: float  # the LM head (2 x vocab x hidden), where logits are computed

    @classmethod
    def of(cls, config: Any) -> Flops:
        h, layers = config.hidden_size, config.num_hidden_layers
        heads, kv = config.num_attention_heads, config.num_key_value_heads
        head_dim = getattr(config, "head_dim", None) or h // heads
        q_dim, kv_dim = heads * head_dim, kv * head_dim
        per_layer = h * q_dim * 2 + h * kv_dim * 2 + 3 * h * config.intermediate_size
        return cls(body=2.0 * per_layer * layers, attention_per_context=4.0 * layers * q_dim,
                   head=2.0 * config.vocab_size * h)

    def sequence(self, tokens: int, context: int = 0, logits: int = 0) -> float:
        """FLOPs of running ``tokens`` causal tokens after ``context`` cached ones."""
        attention = self.attention_per_context * (tokens * context + tokens * (tokens + 1) / 2)
        return tokens * self.body + attention + logits * self.head


def measured_peak(threads: int, size: int | None = None, repeats: int = 5, device: str = "cpu") -> float:
    """Best matmul FLOP/s of torch: fp32 on ``threads`` CPU threads, or bf16 on a CUDA device
    (``size`` x ``size`` matrices; default 1024 on a CPU, 8192 on a GPU)."""
    import torch

    cuda = device.startswith("cuda")
    size = size or (8192 if cuda else 1024)
    torch.set_num_threads(threads)
    dtype = torch.bfloat16 if cuda else torch.float32
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(4):
            a @ b
        if cuda:
            torch.cuda.synchronize()
        best = max(best, 4 * 2 * size**3 / (time.perf_counter() - start))
    return best


def theoretical_peak(threads: int, device: str = "cpu") -> tuple[float, str]:
    """cores used x clock x 32 fp32 FLOP/cycle (AVX2, two FMA units); the clock from /proc/cpuinfo.

    On a CUDA device there is no theoretical figure here (0): the device's name is the "how".
    """
    if device.startswith("cuda"):
        import torch

        return 0.0, f"{torch.cuda.get_device_name(device)} (bf16)"
    cores = min(threads, os.cpu_count() or 1)
    ghz, model = 0.0, platform.processor()
    try:
        info = Path("/proc/cpuinfo").read_text()
        model = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name"))
        mhz = [float(line.split(":", 1)[1]) for line in info.splitlines() if line.startswith("cpu MHz")]
        bogo = [float(line.split(":", 1)[1]) for line in info.splitlines() if line.startswith("bogomips")]
        ghz = (statistics.mean(mhz) if mhz else statistics.mean(bogo) / 2) / 1000
    except (OSError, StopIteration, ValueError):
        pass
    flags = "avx2+fma" if "avx2" in Path("/proc/cpuinfo").read_text() else "unknown"
    return cores * ghz * 1e9 * 32, f"{model}, {cores} cores x {ghz:.2f} GHz x 32 FLOP/cycle ({flags})"


# --- engines ------------------------------------------------------------------------------
def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def in_chunks(backend: Any, requests: list, chunk: int) -> list:
    out = []
    for start in range(0, len(requests), chunk):
        out.extend(backend.complete(requests[start : start + chunk]))
    return out


def cold_scoring(backend: Any, requests: list, chunk: int) -> tuple[list, float]:
    """(completions, seconds) of scoring ``requests`` from an empty prefix store (the torch
    backend's; its token counters zeroed too), in chunks as ``Run.evaluate`` sends them."""
    store = getattr(backend, "store", None)
    if store is not None:
        store.clear()
        store.prefix_tokens = store.packed_tokens = 0
    return timed(lambda: in_chunks(backend, requests, chunk))


def naive_scores(backend: Any, requests: list, flops: Flops) -> tuple[list[list[float]], float, int, float]:
    """(log-probs, seconds, tokens run, FLOPs) of one full forward per (example, choice)."""
    import torch

    from promptlift.backends.torch_scoring import reference_logprobs

    encoded = [backend.encode(r) for r in requests]
    with torch.inference_mode():
        scores, seconds = timed(lambda: [reference_logprobs(backend.model, p, c) for p, c in encoded])
    lengths = [len(p) + len(c) for p, cs in encoded for c in cs]
    return scores, seconds, sum(lengths), sum(flops.sequence(n, logits=n) for n in lengths)


def naive_generate(backend: Any, requests: list, max_tokens: int) -> tuple[list[str], float, int]:
    import torch

    def run() -> tuple[list[str], int]:
        texts, made = [], 0
        for request in requests:
            prompt, _ = backend.encode(request)
            out = backend.model.generate(torch.tensor([prompt], device=backend.device), max_new_tokens=max_tokens, do_sample=False,
                                         pad_token_id=backend.tokenizer.pad_token_id)[0, len(prompt):]
            made += len(out)
            texts.append(backend.tokenizer.decode(out, skip_special_tokens=True).strip())
        return texts, made

    with torch.inference_mode():
        (texts, made), seconds = timed(run)
    return texts, seconds, made


def requests_for(task: Any, demos: int, count: int) -> list:
    from promptlift.types import Request

    positive = [e for e in task.train if e.output == task.choices[0]]
    negative = [e for e in task.train if e.output != task.choices[0]]
    chosen = tuple(e for pair in zip(positive, negative) for e in pair)[:demos]
    candidate = task.seed.with_(demos=chosen)
    scored = [task.render(candidate, e) for e in task.val[:count]]
    assert all(isinstance(r, Request) for r in scored)
    return scored


# --- one cell -----------------------------------------------------------------------------
def score_cell(args: argparse.Namespace, engines: dict, requests: list, flops: Flops) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    prompt_tokens = None
    naive = None
    if "naive" in args.engines:
        few = requests[: args.naive_examples]
        naive, seconds, tokens, used = naive_scores(engines["torch"], few, flops)
        rows["naive"] = {"examples": len(few), "seconds": seconds, "examples_per_s": len(few) / seconds,
                         "tokens_per_s": tokens / seconds, "flops_per_s": used / seconds}
    for name in ("torch", "llamacpp"):
        if name not in args.engines or engines.get(name) is None:
            continue
        backend = engines[name]
        completions, seconds = cold_scoring(backend, requests, args.chunk)
        row = {"examples": len(requests), "seconds": seconds, "examples_per_s": len(requests) / seconds}
        prompt_tokens = sum(c.usage.prompt_tokens for c in completions)
        row["prompt_tokens_per_s"] = prompt_tokens / seconds
        if name == "torch":
            store = backend.store
            mean_prompt = prompt_tokens / len(requests)
            used = flops.sequence(store.prefix_tokens) + store.packed_tokens * (
                flops.body + flops.attention_per_context * mean_prompt) + len(requests) * 2 * flops.head
            row.update(tokens_per_s=(store.prefix_tokens + store.packed_tokens) / seconds, flops_per_s=used / seconds)
            if naive is not None:
                got = [c.choice_logprobs for c in completions[: len(naive)]]
                row["max_abs_diff_vs_naive"] = max(abs(a - b) for x, y in zip(got, naive) for a, b in zip(x, y))
        rows[name] = row
    return rows


def generate_cell(args: argparse.Namespace, engines: dict, requests: list) -> dict[str, Any]:
    gen = [dataclasses.replace(r, choices=(), max_tokens=args.max_tokens) for r in requests[: args.generate_examples]]
    rows: dict[str, Any] = {}
    naive_texts = None
    if "naive" in args.engines:
        few = gen[: args.naive_examples]
        naive_texts, seconds, made = naive_generate(engines["torch"], few, args.max_tokens)
        rows["naive"] = {"examples": len(few), "seconds": seconds, "examples_per_s": len(few) / seconds,
                         "generated_tokens_per_s": made / seconds}
    for name in ("torch", "llamacpp"):
        if name not in args.engines or engines.get(name) is None:
            continue
        completions, seconds = timed(lambda: in_chunks(engines[name], gen, args.chunk))
        made = sum(c.usage.completion_tokens for c in completions)
        row = {"examples": len(gen), "seconds": seconds, "examples_per_s": len(gen) / seconds,
               "generated_tokens_per_s": made / seconds}
        if name == "torch" and naive_texts is not None:
            row["same_text_as_naive"] = sum(c.text == t for c, t in zip(completions, naive_texts)) / len(naive_texts)
        rows[name] = row
    return rows


# --- report -------------------------------------------------------------------------------
def _cell(value: float | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def markdown(report: dict[str, Any]) -> str:
    peak = report["peak"]
    device = report.get("device", "cpu")
    matmul = "bf16" if device.startswith("cuda") else "fp32"
    peaks = (f"Theoretical peak {peak['theoretical'] / 1e9:.0f} GFLOP/s; " if peak["theoretical"] else "") + (
        f"measured {matmul} matmul {peak['measured'] / 1e9:.1f} GFLOP/s.")
    lines = [
        f"# Local inference throughput (sentiment, SmolLM2-135M, {device.upper()})", "",
        f"Machine: {peak['theoretical_how']}; {report['threads']} torch/llama.cpp thread(s). {peaks[0].upper()}{peaks[1:]} "
        f"The machine was shared with other jobs (load average {report['load_start']} at start, "
        f"{report.get('load_end', '?')} at end).", "",
        "## Choice scoring", "",
        "Prompt tokens/s counts every request's prompt; model tokens/s counts the tokens the engine actually "
        "ran through the model (the torch backend computes a shared prefix once).", "",
        "| demos | prompt tokens | engine | examples/s | vs naive | prompt tokens/s | model tokens/s | GFLOP/s "
        "| % measured peak | max abs diff vs naive |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for demos, cell in report["scoring"].items():
        base = cell.get("naive", {}).get("examples_per_s")
        for engine, row in cell.items():
            if engine == "prompt_tokens":
                continue
            flops = row.get("flops_per_s")
            lines.append(
                f"| {demos} | {cell['prompt_tokens']:.0f} | {engine} | {row['examples_per_s']:.3f} | "
                f"{_cell(row['examples_per_s'] / base if base else None, '.1f')}x | "
                f"{cell['prompt_tokens'] * row['examples_per_s']:.0f} | {_cell(row.get('tokens_per_s'), '.0f')} | "
                f"{_cell(flops / 1e9 if flops else None, '.1f')} | "
                f"{_cell(100 * flops / peak['measured'] if flops else None, '.0f')} | "
                f"{_cell(row.get('max_abs_diff_vs_naive'), '.1e')} |")
    lines += ["", "## Generation (greedy)", "",
              "| demos | engine | examples/s | vs naive | generated tokens/s | same text as naive |",
              "|---|---|---|---|---|---|"]
    for demos, cell in report.get("generation", {}).items():
        base = cell.get("naive", {}).get("examples_per_s")
        for engine, row in cell.items():
            lines.append(f"| {demos} | {engine} | {row['examples_per_s']:.3f} | "
                         f"{_cell(row['examples_per_s'] / base if base else None, '.1f')}x | "
                         f"{row['generated_tokens_per_s']:.2f} | {_cell(row.get('same_text_as_naive'), '.2f')} |")
    bound = report["bound"]
    lines += ["", f"FLOP bound: {bound['body_mflop_per_token']:.0f} MFLOP per token without the LM head "
              f"(+{bound['head_mflop_per_token']:.0f} with it), so at most "
              f"{bound['tokens_per_s_measured_peak']:.0f} model tokens/s at the measured peak"
              + (f" ({bound['tokens_per_s_theoretical_peak']:.0f} at the theoretical one)" if peak["theoretical"] else "")
              + ", attention not counted.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.report_only:
        report = json.loads((args.out / "throughput.json").read_text())
        (args.out / "throughput.md").write_text(markdown(report))
        print(markdown(report))
        return 0
    from promptlift.backends.torch import TorchBackend
    from promptlift.tasks.builtin import get_task

    engines: dict[str, Any] = {"torch": TorchBackend.from_spec(
        "smollm2", device=args.device, threads=args.threads, chunk_tokens=args.chunk_tokens)}
    if "llamacpp" in args.engines:
        try:
            from promptlift.backends.llamacpp import LlamaCppBackend

            engines["llamacpp"] = LlamaCppBackend.from_spec("smollm2", n_threads=args.threads)
        except ImportError as exc:
            print(f"llamacpp engine unavailable: {exc}")
    flops = Flops.of(engines["torch"].model.config)
    theory, how = theoretical_peak(args.threads, args.device)
    measured = measured_peak(args.threads, device=args.device)
    report: dict[str, Any] = {
        "device": args.device, "threads": args.threads, "load_start": micro.load(), "args": {k: str(v) for k, v in vars(args).items()},
        "peak": {"theoretical": theory, "theoretical_how": how, "measured": measured},
        "bound": {"body_mflop_per_token": flops.body / 1e6, "head_mflop_per_token": flops.head / 1e6,
                  "tokens_per_s_measured_peak": measured / flops.body, "tokens_per_s_theoretical_peak": theory / flops.body},
        "scoring": {}, "generation": {},
    }
    more = args.examples > 100  # the default split has 100 val examples
    task = get_task("sentiment", **({"sizes": (300, args.examples, 200)} if more else {}))
    for demos in args.demos:
        requests = requests_for(task, demos, args.examples)
        cell = score_cell(args, engines, requests, flops)
        cell["prompt_tokens"] = statistics.mean(len(engines["torch"].encode(r)[0]) for r in requests)
        report["scoring"][str(demos)] = cell
        print(json.dumps({"demos": demos, "scoring": cell}), flush=True)
        if not args.no_generation:
            report["generation"][str(demos)] = generate_cell(args, engines, requests)
            print(json.dumps({"demos": demos, "generation": report["generation"][str(demos)]}), flush=True)
    report["load_end"] = micro.load()
    micro.write(args.out / "throughput", report, markdown(report), indent=2)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
