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

Writes ``<out>.json`` (every run) and ``<out>.md`` (the table).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from promptlift import Budget, get_task, load_backend  # noqa: E402
from promptlift.optimizers.fewshot import FewShot  # noqa: E402
from promptlift.optimizers.soft_prompt import SoftPromptTuning  # noqa: E402
from promptlift.training.packed import Encoded, encode_examples  # noqa: E402

log = logging.getLogger("soft_prompt_vs_peft")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
                rows.append(peft_run(task, backend, args, mode, seed))
    write(rows, args, backend, task)
    return 0


# --- prompting rows ------------------------------------------------------------------------
def accuracy(task: Any, backend: Any, candidate: Any, examples: Any) -> float:
    completions = backend.complete([task.render(candidate, e) for e in examples])
    right = [task.resolve(candidate, c).text == e.output for e, c in zip(examples, completions)]
    return sum(right) / len(right)


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
    spec = SoftPromptTuning(mode=mode, n_tokens=args.n_tokens, init=init, lr=args.lr, steps=args.steps,
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


# --- HF PEFT -------------------------------------------------------------------------------
def peft_model(backend: Any, task: Any, args: argparse.Namespace, mode: str, seed: int) -> Any:
    import torch
    from peft import PrefixTuningConfig, PromptTuningConfig, PromptTuningInit, get_peft_model

    torch.manual_seed(seed)
    if mode == "prompt":
        init = {"text": PromptTuningInit.TEXT, "vocab": PromptTuningInit.SAMPLE_VOCAB, "random": PromptTuningInit.RANDOM}
        config = PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=args.n_tokens,
                                    prompt_tuning_init=init[args.init], prompt_tuning_init_text=task.seed.instruction,
                                    tokenizer_name_or_path=str(backend.path))
    else:
        config = PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=args.n_tokens, prefix_projection=False)
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(backend.path), dtype=backend.dtype, attn_implementation="sdpa")
    return get_peft_model(base.to(backend.device), config)  # a fresh copy: PEFT patches the model it wraps


def peft_batch(batch: list[Encoded], pad: int, device: Any = "cpu") -> dict[str, Any]:
    """Right-padded prompt + label tokens on ``device``; the loss is on the label tokens only (-100 elsewhere)."""
    import torch

    seqs = [list(e.prompt) + list(e.choices[e.label]) for e in batch]
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), pad)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for row, (e, seq) in enumerate(zip(batch, seqs)):
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
        labels[row, len(e.prompt) : len(seq)] = torch.tensor(e.choices[e.label])
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


def peft_run(task: Any, backend: Any, args: argparse.Namespace, mode: str, seed: int) -> dict[str, Any]:
    import torch

    started = time.perf_counter()
    data = encode_examples(backend, task, task.seed, task.train)
    model = peft_model(backend, task, args, mode, seed)
    params = [p for p in model.parameters() if p.requires_grad]
    times, loss = plain_training(model, params, data, backend, args, seed)
    val, test = peft_accuracy(model, backend, task, task.val), peft_accuracy(model, backend, task, task.test)
    trainable = sum(p.numel() for p in params)
    init = args.init if mode == "prompt" else "random"
    row = {"method": f"HF PEFT {'PromptTuning' if mode == 'prompt' else 'PrefixTuning'} (init={init})",
           "family": "training", "seed": seed, "mode": mode, "impl": "peft", "val": val, "test": test,
           "seconds_per_step": statistics.median(times), "seconds": time.perf_counter() - started,
           "trainable": trainable, "train_loss": loss}
    log.info("peft: %s", row)
    return row


def plain_training(model: Any, params: list, data: list[Encoded], backend: Any, args: argparse.Namespace,
                   seed: int) -> tuple[list[float], float]:
    """The loop a PEFT user writes: shuffled padded batches, the model's own loss, AdamW, clipping.
    Returns each step's seconds (forward, backward, clipping, AdamW) and the last loss."""
    import torch

    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    pad = backend.tokenizer.pad_token_id if backend.tokenizer.pad_token_id is not None else 0
    rng, order, times, loss = random.Random(seed), [], [], float("nan")
    model.train()  # PEFT's usual setting; SmolLM2 has no dropout, so train() and eval() compute the same
    for _ in range(args.steps):
        if len(order) < args.batch_size:
            order += rng.sample(range(len(data)), len(data))
        batch, order = [data[i] for i in order[: args.batch_size]], order[args.batch_size :]
        inputs = peft_batch(batch, pad, backend.device)
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = model(**inputs)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        times.append(time.perf_counter() - t)
        loss = float(out.loss.detach())
    model.eval()
    return times, loss


def peft_accuracy(model: Any, backend: Any, task: Any, examples: Any, batch_size: int = 16) -> float:
    """Accuracy of the PEFT model: the choice with the higher log-probability (single-token choices)."""
    import torch

    encoded = encode_examples(backend, task, task.seed, examples)
    if any(len(c) != 1 for e in encoded for c in e.choices):
        raise SystemExit("this benchmark scores PEFT models on single-token choices only")
    pad = backend.tokenizer.pad_token_id if backend.tokenizer.pad_token_id is not None else 0
    right = 0
    with torch.inference_mode():
        for start in range(0, len(encoded), batch_size):
            part = encoded[start : start + batch_size]
            width = max(len(e.prompt) for e in part)
            ids = torch.full((len(part), width), pad)
            mask = torch.zeros_like(ids)
            for row, e in enumerate(part):
                ids[row, : len(e.prompt)] = torch.tensor(e.prompt)
                mask[row, : len(e.prompt)] = 1
            logits = model(input_ids=ids.to(backend.device), attention_mask=mask.to(backend.device)).logits[:, -width:]  # drop virtual-token positions
            for row, e in enumerate(part):
                last = logits[row, len(e.prompt) - 1]
                best = max(range(len(e.choices)), key=lambda j: float(last[e.choices[j][0]]))
                right += best == e.label
    return right / len(encoded)


# --- the table -----------------------------------------------------------------------------
def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["method"], []).append(row)
    out = []
    for method, runs in groups.items():
        tests = [r["test"] for r in runs]
        steps = [r["seconds_per_step"] for r in runs if "seconds_per_step" in r]
        out.append({
            "method": method, "family": runs[0]["family"], "runs": len(runs),
            "test_mean": statistics.mean(tests), "test_std": statistics.stdev(tests) if len(tests) > 1 else 0.0,
            "val_mean": statistics.mean(r["val"] for r in runs),
            "seconds_per_step": statistics.median(steps) if steps else None, "trainable": runs[0]["trainable"],
        })
    return out


def write(rows: list[dict[str, Any]], args: argparse.Namespace, backend: Any, task: Any) -> None:
    import peft
    import torch

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"model": backend.id, "task": task.name, "sizes": list(args.sizes), "n_tokens": args.n_tokens, "init": args.init,
            "prefix_init": args.prefix_init,
            "lr": args.lr, "steps": args.steps, "batch_size": args.batch_size, "seeds": list(args.seeds),
            "peft": peft.__version__, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "device": device_name(backend)}
    summary = summarise(rows)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "summary": summary, "runs": rows}, indent=2))
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
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))  # noqa: T201 - a benchmark script reports on stdout


if __name__ == "__main__":
    sys.exit(main())
