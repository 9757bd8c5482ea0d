"""``promptlift ladder``: prompting against training on one task (or several), measured side by side.

Every rung (zero-shot, the few-shot family, prompt search, bootstrap, best-of-N, soft prompt,
prefix, linear probe, LoRA, full fine-tuning, rejection-sampling fine-tuning) runs at each
training-set size and seed as a cell of a sweep on one engine; the report says, per task,
from which size a training rung beats the best prompt and by how much (with 95% intervals),
and what each rung costs per query and once. It is a ``promptlift bench`` sweep underneath:
the exact config is written to ``OUTPUT/ladder.yaml``, so it resumes after a Ctrl-C, takes
more workers (``promptlift bench OUTPUT/ladder.yaml --storage ...``) and reports anew.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from promptlift.errors import ConfigError

EXAMPLES = """examples:
  promptlift ladder --task sentiment --train-sizes 16,64 --seeds 0          # a first look (~1 h on 2 cores)
  promptlift ladder --task sentiment --task trec --workers 2                # 16, 64, 256 examples, seeds 0-2
  promptlift ladder --task data.jsonl --rungs fewshot,linear_probe,lora     # your own data, three rungs
  promptlift ladder --config benchmarks/configs/ladder.yaml --report        # (re)write a ladder's report
"""


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    from promptlift.bench.ladder import DEFAULT_SIZES, RUNG_NAMES

    parser.epilog = EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    what = parser.add_argument_group("what to measure")
    what.add_argument("--task", action="append", default=[],
                      help="a built-in task or a .jsonl/.csv file (repeatable, or comma-separated)")
    what.add_argument("--train-sizes", default=",".join(map(str, DEFAULT_SIZES)),
                      help="training-set sizes, comma-separated (nested subsets; default: %(default)s)")
    what.add_argument("--rungs", "--methods", dest="rungs",
                      help=f"rungs to run, comma-separated (default: every one that applies): {', '.join(RUNG_NAMES)}")
    what.add_argument("--seeds", default="0,1,2", help="seeds, comma-separated (default: %(default)s)")
    what.add_argument("--model", default="torch:smollm2", help="the one engine every rung runs on (default: %(default)s)")
    what.add_argument("--val", type=int, default=50, help="validation examples (default: %(default)s)")
    what.add_argument("--test", type=int, default=200, help="test examples (default: %(default)s)")
    what.add_argument("--budget", type=int, default=300, help="metric calls per cell (default: %(default)s)")
    what.add_argument("--config", help="a ladder's sweep YAML instead of the flags above (e.g. benchmarks/configs/ladder.yaml)")
    where = parser.add_argument_group("where and how")
    where.add_argument("--output", help="output folder (default: runs/ladder/NAME)")
    where.add_argument("--storage", help="SQLAlchemy URL of the shared study (default: sqlite:///OUTPUT/sweep.db)")
    where.add_argument("--name", default=None, help="the sweep's name (default: ladder-TASKS)")
    where.add_argument("--workers", type=int, default=1, help="local worker processes (default: 1)")
    where.add_argument("--report", action="store_true", help="run nothing: write the report from the storage")
    where.add_argument("--note", default="", help="a line for the report (e.g. the machine's load)")
    where.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from promptlift.bench import Sweep
    from promptlift.bench.ladder_report import write_ladder_report
    from promptlift.commands.bench import _work

    config = _config(args)
    out = config.output_dir
    out.mkdir(parents=True, exist_ok=True)
    path = _write_config(config, out / "ladder.yaml")
    sweep = Sweep(config, progress=not args.no_progress)
    try:
        failed = 0
        if not args.report:
            work = argparse.Namespace(config=str(path), workers=args.workers, wait=False, max_cells=None, set=[],
                                      no_progress=args.no_progress, verbose=getattr(args, "verbose", 0))
            failed = _work(sweep, work)
        cells = sweep.claims.rows()
        report = write_ladder_report(cells, out, name=config.name, storage=config.storage_url,
                                     description=config.description, note=args.note)
        text = report.read_text(encoding="utf-8")
        print(text.split("## How to read this")[0].rstrip())
        counts = sweep.claims.counts()
        print(f"\nreport: {report}\ncells: {counts['done']} done, {counts['failed']} failed, {counts['pending']} pending",
              file=sys.stderr)
        return 1 if failed else 0
    finally:
        sweep.close()


def _config(args: argparse.Namespace) -> Any:
    from promptlift.bench import load_config
    from promptlift.bench.ladder import ladder_config

    if args.config:
        overrides = {k: v for k, v in (("output", args.output), ("storage", args.storage)) if v}
        return load_config(args.config, overrides)
    tasks = [t.strip() for value in args.task for t in value.split(",") if t.strip()]
    if not tasks:
        raise ConfigError("give --task (a built-in task or a .jsonl/.csv file), or --config")
    name = args.name or "ladder-" + "-".join(Path(t).stem for t in tasks)
    return ladder_config(
        tasks, train_sizes=_ints(args.train_sizes, "--train-sizes"), seeds=_ints(args.seeds, "--seeds"),
        rungs=[r.strip() for r in args.rungs.split(",") if r.strip()] if args.rungs else None, model=args.model,
        val=args.val, test=args.test, budget=args.budget, name=name,
        output=args.output or f"runs/ladder/{name}", storage=args.storage,
    )


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{flag} must be comma-separated integers. Got {text!r}.") from None
    if not values or min(values) < 0:
        raise ConfigError(f"{flag} must be comma-separated non-negative integers. Got {text!r}.")
    return values


def _write_config(config: Any, path: Path) -> Path:
    """The sweep config as YAML (what ``promptlift bench`` and other workers read)."""
    import yaml

    data = config.model_dump(exclude_none=True, exclude_defaults=True)
    data.setdefault("name", config.name)
    path.write_text(yaml.safe_dump(_plain(data), sort_keys=False), encoding="utf-8")
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
