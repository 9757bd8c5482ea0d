"""Soft-prompt and prefix tuning: promptlift's SoftPromptTuning vs HF PEFT, plus the
prompting-versus-training table (zero-shot seed, best FewShot candidate, linear probe).

    .venv/bin/python benchmarks/soft_prompt_vs_peft.py                    # the table (slow on CPU)
    .venv/bin/python benchmarks/soft_prompt_vs_peft.py --sizes 16 8 8 --steps 2 --seeds 0   # smoke test

Same model object (``torch:smollm2``, the embedded SmolLM2-135M-Instruct converted for
transformers), same splits, same tokenisation (the backend's ``encode``: chat template + the
seed instruction), same number of virtual tokens, init, learning rate, AdamW settings, batch
size, steps and seeds for both implementations. Runs are interleaved (promptlift, then PEFT,
per seed and mode), so machine load falls on both alike.

What differs is each library's own recipe: promptlift's loss is the cross-entropy over the
choices (the summed log-probs it scores), PEFT's the usual causal-LM loss on the label
tokens (cross-entropy over the whole vocabulary). Test accuracy of both is measured the same
way: the choice with the higher log-probability. For promptlift it is measured through
``TorchBackend`` with the saved soft-prompt file (the path every promptlift evaluation takes);
for PEFT with the PEFT-wrapped model. Seconds per step are the median wall time of one
optimizer step (forward, backward, clipping, AdamW), measured the same way for both.

The PEFT side is the sweep's PEFT peer (``promptlift.bench.peers.peft``).

Writes ``<out>.json`` (every run) and ``<out>.md`` (the table).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from promptlift import Budget, get_task, load_backend  # noqa: E402
from promptlift.answers import score_outside  # noqa: E402
from promptlift.bench import micro  # noqa: E402
from promptlift.bench.peers import peft as peer  # noqa: E402
from promptlift.optimizers.fewshot import FewShot  # noqa: E402
from promptlift.optimizers.soft_prompt import SoftPromptTuning  # noqa: E402

log = logging.getLogger("soft_prompt_vs_peft")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = micro.parser(__doc__)
    p.add_argument("--model", default="torch:smollm2")
    p.add_argument("--task", default="sentiment")
    p.add_argument("--sizes", type=int, nargs=3, default=(64, 32, 100), metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--n-tokens", type=int, default=8)
    p.add_argument("--init", default="text", choices=("text", "vocab", "random"))
    p.add_argument("--lr", type=float, default=0.03)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seeds", type=int, nargs="+", default=(0, 1, 2))
    p.add_argument("--modes", nargs="+", default=("prompt", "prefix"), choices=("prompt", "prefix"))
    p.add_argument("--prefix-init", default="random", choices=("text", "vocab", "random"),
                   help="promptlift's prefix init (PEFT's PrefixTuning has only random init)")
    p.add_argument("--loss", default="choices", choices=("choices", "likelihood"),
                   help="promptlift's training loss (PEFT's is the likelihood of the label tokens)")
    p.add_argument("--impls", nargs="+", default=("promptlift", "peft"), choices=("promptlift", "peft"))
    p.add_argument("--no-baselines", action="store_true", help="skip the zero-shot, FewShot and linear-probe rows")
    p.add_argument("--fewshot-budget", type=int, default=9, help="FewShot candidates per seed incl. the seed")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--out", default="benchmarks/results/soft_prompt_vs_peft")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    if args.threads:
        torch.set_num_threads(args.threads)
    backend = load_backend(args.model)
    task = get_task(args.task, sizes=tuple(args.sizes))
    rows: list[dict[str, Any]] = []
    if not args.no_baselines:
        rows += [zero_shot(task, backend), linear_probe(task, backend), *fewshot(task, backend, args)]
    for seed in args.seeds:
        for mode in args.modes:
            if "promptlift" in args.impls:
                rows.append(promptlift_run(task, backend, args, mode, seed))
            if "peft" in args.impls:
                rows.append(peer.run(task, backend, args, mode, seed))
    write(rows, args, backend, task)
    return 0


# --- prompting rows ------------------------------------------------------------------------
def accuracy(task: Any, backend: Any, candidate: Any, examples: Any) -> float:
    values, _ = score_outside(task, candidate, backend, examples)
    return sum(values) / len(values)


def zero_shot(task: Any, backend: Any) -> dict[str, Any]:
    started = time.perf_counter()
    row = {"method": "zero-shot seed prompt", "family": "prompting", "seed": None,
           "val": accuracy(task, backend, task.seed, task.val), "test": accuracy(task, backend, task.seed, task.test)}
    log.info("zero-shot: %s", row)
    return {**row, "seconds": time.perf_counter() - started, "trainable": 0}


def fewshot(task: Any, backend: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for seed in args.seeds:
        started = time.perf_counter()
        result = FewShot(k=4).optimize(task, backend, budget=Budget(metric_calls=args.fewshot_budget * len(task.val)),
                                       seed=seed, cache=None)
        rows.append({"method": "FewShot k=4 (best on val)", "family": "prompting", "seed": seed, "val": result.best.mean,
                     "test": result.best_test, "seconds": time.perf_counter() - started, "trainable": 0})
        log.info("fewshot: %s", rows[-1])
    return rows


def linear_probe(task: Any, backend: Any) -> dict[str, Any]:
    """Logistic regression on the final hidden state at the answer position (seed prompt), L2 chosen on val."""
    import torch

    started = time.perf_counter()
    feats = {name: hidden_features(task, backend, split) for name, split in task.splits().items()}
    labels = {name: torch.tensor([task.choices.index(e.output) for e in split]) for name, split in task.splits().items()}
    mean, std = feats["train"].mean(0), feats["train"].std(0) + 1e-6
    norm = {k: (v - mean) / std for k, v in feats.items()}
    best = None
    for l2 in (1e-4, 1e-3, 1e-2, 1e-1, 1.0):
        weight = fit_logistic(norm["train"], labels["train"], len(task.choices), l2)
        val = float(((norm["val"] @ weight[:-1] + weight[-1]).argmax(1) == labels["val"]).float().mean())
        if best is None or val > best[0]:
            best = (val, l2, weight)
    val, l2, weight = best
    test = float(((norm["test"] @ weight[:-1] + weight[-1]).argmax(1) == labels["test"]).float().mean())
    row = {"method": f"linear probe (logistic regression, L2={l2:g})", "family": "training", "seed": None,
           "val": val, "test": test, "seconds": time.perf_counter() - started,
           "trainable": int(weight.numel())}
    log.info("probe: %s", row)
    return row


def hidden_features(task: Any, backend: Any, examples: Any) -> Any:
    import torch

    decoder = getattr(backend.model, backend.model.base_model_prefix)
    out = []
    with torch.inference_mode():
        for example in examples:
            prompt, _ = backend.encode(task.render(task.seed, example))
            ids = torch.tensor([prompt], device=backend.device)
            out.append(decoder(input_ids=ids).last_hidden_state[0, -1].float().cpu())
    return torch.stack(out)


def fit_logistic(x: Any, y: Any, classes: int, l2: float) -> Any:
    import torch

    weight = torch.zeros(x.shape[1] + 1, classes, requires_grad=True)
    opt = torch.optim.LBFGS([weight], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> Any:
        opt.zero_grad()
        logits = x @ weight[:-1] + weight[-1]
        loss = torch.nn.functional.cross_entropy(logits, y) + l2 * weight[:-1].pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return weight.detach()


def device_name(backend: Any) -> str:
    """The device the torch backend runs on, in words (a GPU's name and dtype, or CPU threads)."""
    import torch

    if backend.device.type == "cuda":
        return f"{torch.cuda.get_device_name(backend.device)} ({str(backend.dtype).removeprefix('torch.')})"
    return f"CPU x{torch.get_num_threads()} threads"


# --- promptlift ----------------------------------------------------------------------------
def promptlift_run(task: Any, backend: Any, args: argparse.Namespace, mode: str, seed: int) -> dict[str, Any]:
    init = args.init if mode == "prompt" else args.prefix_init
    spec = SoftPromptTuning(kind=mode, n_tokens=args.n_tokens, init=init, lr=args.lr, steps=args.steps,
                            batch_size=args.batch_size, eval_every=args.steps, patience=None, weight_decay=0.0,
                            grad_clip=1.0, loss=args.loss)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        result = spec.optimize(task, backend, budget=Budget(metric_calls=10**6), seed=seed, cache=None,
                               run_dir=run_dir, evaluate_test=False)
        trained = result.trials[-1]
        test = accuracy(task, backend, trained.candidate, task.test)
    loss = "" if args.loss == "choices" else f", loss={args.loss}"
    row = {"method": f"promptlift SoftPromptTuning ({mode}, init={init}{loss})", "family": "training", "seed": seed,
           "mode": mode, "impl": "promptlift", "val": trained.mean, "test": test,
           "seconds_per_step": trained.info["seconds_per_step"], "seconds": time.perf_counter() - started,
           "trainable": trained.info["trainable_parameters"], "train_loss": trained.info["train_loss"],
           "nearest": trained.info["nearest"]}
    log.info("promptlift: %s", row)
    return row


# --- the table -----------------------------------------------------------------------------
def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["method"], []).append(row)
    out = []
    for method, runs in groups.items():
        test_mean, test_std = micro.mean_std(r["test"] for r in runs)
        steps = [r["seconds_per_step"] for r in runs if "seconds_per_step" in r]
        out.append({
            "method": method, "family": runs[0]["family"], "runs": len(runs),
            "test_mean": test_mean, "test_std": test_std,
            "val_mean": statistics.mean(r["val"] for r in runs),
            "seconds_per_step": statistics.median(steps) if steps else None, "trainable": runs[0]["trainable"],
        })
    return out


def write(rows: list[dict[str, Any]], args: argparse.Namespace, backend: Any, task: Any) -> None:
    import peft
    import torch

    meta = {"model": backend.id, "task": task.name, "sizes": list(args.sizes), "n_tokens": args.n_tokens, "init": args.init,
            "prefix_init": args.prefix_init,
            "lr": args.lr, "steps": args.steps, "batch_size": args.batch_size, "seeds": list(args.seeds),
            "peft": peft.__version__, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "device": device_name(backend)}
    summary = summarise(rows)
    lines = [
        f"model {backend.id}, task {task.name} (train/val/test {'/'.join(map(str, args.sizes))}), "
        f"{args.n_tokens} virtual tokens, lr {args.lr}, {args.steps} steps of {args.batch_size}, seeds {list(args.seeds)}, "
        f"peft {peft.__version__}, torch {torch.__version__}, {meta['device']}",
        "",
        "| method | family | runs | test acc (mean ± std) | val acc | s/step (median) | trainable params |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        step = f"{s['seconds_per_step']:.2f}" if s["seconds_per_step"] is not None else "–"
        lines.append(f"| {s['method']} | {s['family']} | {s['runs']} | {s['test_mean']:.3f} ± {s['test_std']:.3f} | "
                     f"{s['val_mean']:.3f} | {step} | {s['trainable']:,} |")
    micro.write(args.out, {"meta": meta, "summary": summary, "runs": rows}, "\n".join(lines), indent=2)
    print("\n".join(lines))  # noqa: T201 - a benchmark script reports on stdout


if __name__ == "__main__":
    sys.exit(main())
