"""LoRA: promptlift's ``lora`` rung against a plain HF PEFT + transformers training loop.

    .venv/bin/python benchmarks/lora_vs_peft.py                                   # the table
    .venv/bin/python benchmarks/lora_vs_peft.py --sizes 16 8 20 --steps 2 --seeds 0   # smoke test

Same model (``torch:smollm2``), same splits, same tokenisation (the backend's ``encode``: chat
template + the seed instruction), same LoraConfig (rank, alpha, dropout, target modules), same
AdamW settings, batch size, number of steps and seeds. Runs are interleaved per seed
(promptlift, then the plain loop), so machine load falls on both alike.

Each side trains with its own recipe: the plain loop is PEFT's usual causal-LM loss on the
label tokens over right-padded batches; promptlift's rung packs the batch into one sequence
under a tree mask and, by default, takes the cross-entropy over the choices (``--loss
likelihood`` gives it PEFT's objective too). Test accuracy is measured the same way for both:
the trained adapter saved in PEFT's format, applied by promptlift's ``TorchBackend`` (merged into
the model), choices ranked by log-probability. Seconds per step are the median wall time of
one optimizer step (forward, backward, clipping, AdamW), measured the same way for both.

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

from benchmarks.soft_prompt_vs_peft import accuracy, device_name  # noqa: E402
from promptlift import Budget, Candidate, get_task, load_backend  # noqa: E402
from promptlift.backends import torch_weights  # noqa: E402
from promptlift.bench import micro  # noqa: E402
from promptlift.bench.peers.peft import plain_training  # noqa: E402
from promptlift.optimizers.finetune import LoRA  # noqa: E402
from promptlift.training.packed import encode_examples  # noqa: E402
from promptlift.training.weights import LLAMA_TARGETS, save_lora  # noqa: E402

log = logging.getLogger("lora_vs_peft")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = micro.parser(__doc__)
    p.add_argument("--model", default="torch:smollm2")
    p.add_argument("--task", default="sentiment")
    p.add_argument("--sizes", type=int, nargs=3, default=(64, 32, 200), metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seeds", type=int, nargs="+", default=(0, 1, 2))
    p.add_argument("--losses", nargs="+", default=("choices", "likelihood"), choices=("choices", "likelihood"),
                   help="promptlift's training losses to run (the plain loop's is the likelihood of the label tokens)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--out", default="benchmarks/results/lora_vs_peft")
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
    with tempfile.TemporaryDirectory() as scratch:
        for seed in args.seeds:
            for loss in args.losses:
                rows.append(promptlift_run(task, backend, args, seed, loss, Path(scratch)))
            rows.append(plain_run(task, backend, args, seed, Path(scratch)))
    write(rows, args, backend, task)
    return 0


def promptlift_run(task: Any, backend: Any, args: argparse.Namespace, seed: int, loss: str, scratch: Path) -> dict[str, Any]:
    spec = LoRA(rank=args.rank, alpha=args.alpha, lr=args.lr, steps=args.steps, eval_every=args.steps,
                batch_size=args.batch_size, patience=None, loss=loss)
    started = time.perf_counter()
    result = spec.optimize(task, backend, budget=Budget(metric_calls=10**6), seed=seed, cache=None,
                           run_dir=scratch / f"promptlift-{loss}-{seed}", evaluate_test=False)
    trained = result.trials[-1]
    row = {"method": f"promptlift LoRA (loss={loss})", "impl": "promptlift", "seed": seed, "val": trained.mean,
           "test": accuracy(task, backend, trained.candidate, task.test),
           "seconds_per_step": trained.info["seconds_per_step"], "seconds": time.perf_counter() - started,
           "trainable": trained.info["trainable_parameters"], "train_loss": trained.info["train_loss"]}
    log.info("promptlift: %s", row)
    return row


def plain_run(task: Any, backend: Any, args: argparse.Namespace, seed: int, scratch: Path) -> dict[str, Any]:
    """The loop a PEFT user writes: get_peft_model, padded batches, the model's own loss, AdamW."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    started = time.perf_counter()
    data = encode_examples(backend, task, task.seed, task.train)
    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(str(backend.path), dtype=backend.dtype, attn_implementation="sdpa")
    config = LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=0.0, target_modules=list(LLAMA_TARGETS),
                        bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(base.to(backend.device), config)
    params = [p for p in model.parameters() if p.requires_grad]
    times, loss = plain_training(model, params, data, backend, args, seed)
    path = torch_weights.save(scratch / f"plain-{seed}", "lora", backend.id, lambda d: save_lora(model, d))
    candidate = Candidate(instruction=task.seed.instruction, weights=str(path))
    row = {"method": "plain PEFT + transformers loop", "impl": "peft", "seed": seed,
           "val": accuracy(task, backend, candidate, task.val), "test": accuracy(task, backend, candidate, task.test),
           "seconds_per_step": statistics.median(times), "seconds": time.perf_counter() - started,
           "trainable": sum(p.numel() for p in params), "train_loss": loss}
    log.info("plain: %s", row)
    return row


def write(rows: list[dict[str, Any]], args: argparse.Namespace, backend: Any, task: Any) -> None:
    import peft
    import torch

    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["method"], []).append(row)
    summary = [{"method": m, "runs": len(r), **dict(zip(("test_mean", "test_std"), micro.mean_std(x["test"] for x in r))),
                "val_mean": statistics.mean(x["val"] for x in r),
                "seconds_per_step": statistics.median(x["seconds_per_step"] for x in r), "trainable": r[0]["trainable"]}
               for m, r in groups.items()]
    meta = {"model": backend.id, "task": task.name, "sizes": list(args.sizes), "rank": args.rank, "alpha": args.alpha,
            "lr": args.lr, "steps": args.steps, "batch_size": args.batch_size, "seeds": list(args.seeds),
            "peft": peft.__version__, "torch": torch.__version__, "device": device_name(backend)}
    lines = [f"model {backend.id}, task {task.name} (train/val/test {'/'.join(map(str, args.sizes))}), LoRA rank "
             f"{args.rank} alpha {args.alpha:g} on {', '.join(LLAMA_TARGETS)}, lr {args.lr}, {args.steps} steps of "
             f"{args.batch_size}, seeds {list(args.seeds)}, peft {peft.__version__}, torch {torch.__version__}, "
             f"{meta['device']}", "",
             "| method | runs | test acc (mean ± std) | val acc | s/step (median) | trainable params |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {s['method']} | {s['runs']} | {s['test_mean']:.3f} ± {s['test_std']:.3f} | {s['val_mean']:.3f} | "
              f"{s['seconds_per_step']:.3f} | {s['trainable']:,} |" for s in summary]
    micro.write(args.out, {"meta": meta, "summary": summary, "runs": rows}, "\n".join(lines), indent=2)
    print("\n".join(lines))  # noqa: T201 - a benchmark script reports on stdout


if __name__ == "__main__":
    sys.exit(main())
