"""Benchmark: a soft-prompt training step's wall time, over batches that change shape.

Trains 8 virtual tokens (prompt and prefix mode, text init, bf16 autocast on CUDA) on
sentiment train examples, a new batch of 8 every step (as in training: every batch packs to
another length), and reports the median, min and max step time after two warm-up steps;
plus choice-scoring examples/s of the same backend (seed prompt, chunks of 1024).

    python benchmarks/train_step.py --device cuda                      # the real model
    python benchmarks/train_step.py --device cuda --model /tmp/rmodel  # any transformers dir
                                                                       # (random weights time the same)

This is how the cuDNN-attention slowdown was found (benchmarks/results/h100.md): a fixed
batch hides it, since cuDNN plans once per shape.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import cold_scoring, requests_for  # noqa: E402

from promptlift.backends.torch import TorchBackend  # noqa: E402
from promptlift.bench import micro  # noqa: E402
from promptlift.softprompt.apply import ModelDims, insert_position  # noqa: E402
from promptlift.tasks.builtin import get_task  # noqa: E402
from promptlift.training.packed import Trainer, encode_examples, frozen  # noqa: E402
from promptlift.training.soft_params import SoftParameters, init_token_ids  # noqa: E402


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = micro.parser(__doc__, whole=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--model", default="smollm2", help="an embedded name or a transformers directory")
    p.add_argument("--steps", type=int, default=28)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--score-examples", type=int, default=2000)
    p.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    return p.parse_args(argv)


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def step_times(backend: TorchBackend, task: Any, data: list, mode: str, args: argparse.Namespace) -> dict[str, float]:
    import torch

    dims = ModelDims.of(backend.model)
    generator = torch.Generator().manual_seed(0)
    ids = init_token_ids("text", 8, task.seed.instruction, backend.tokenizer, dims.vocab, generator)
    params = SoftParameters(mode, dims, 8, None)
    params.initialise(backend.model, ids, generator)
    params.to(backend.model.get_input_embeddings().weight.device)
    trainer = Trainer(backend.model, params, at=insert_position(backend.tokenizer, data[0].prompt), choice_loss=True,
                      lr=0.03, weight_decay=0.0, grad_clip=1.0, autocast=True)
    size, times = args.batch_size, []
    for step in range(args.steps + 2):
        batch = data[step * size % len(data):][:size]
        sync(args.device)
        started = time.perf_counter()
        trainer.step(batch)
        sync(args.device)
        if step >= 2:
            times.append(time.perf_counter() - started)
    return {"median_ms": 1000 * statistics.median(times), "min_ms": 1000 * min(times), "max_ms": 1000 * max(times)}


def scoring(backend: TorchBackend, task: Any, count: int) -> float:
    requests = requests_for(task, 0, count)
    cold_scoring(backend, requests[:200], 1024)  # warm-up
    _, seconds = cold_scoring(backend, requests, 1024)  # returns Python floats: the GPU is done
    return len(requests) / seconds


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if Path(args.model).is_dir():
        backend = TorchBackend(args.model, device=args.device)
    else:
        backend = TorchBackend.from_spec(args.model, device=args.device)
    task = get_task("sentiment", sizes=(300, max(args.score_examples, 100), 100))
    frozen(backend.model)
    data = encode_examples(backend, task, task.seed, task.train)
    report: dict[str, Any] = {"device": args.device, "model": backend.id, "batch_size": args.batch_size,
                              "scoring_examples_per_s": scoring(backend, task, args.score_examples)}
    for mode in ("prompt", "prefix"):
        report[mode] = step_times(backend, task, data, mode, args)
    print(json.dumps(report, indent=1))
    if args.out:
        micro.write(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
