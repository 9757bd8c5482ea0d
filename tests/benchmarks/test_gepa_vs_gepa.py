"""benchmarks/gepa_vs_gepa.py: combining result files (made-up rows; no model runs)."""

import json

from tests.benchmarks import script


def rows(framework: str, walls: list[float], tests: list[float]) -> list[dict]:
    return [{"task": "toy", "framework": framework, "seed": i, "test": t, "val": t, "metric_calls": 100,
             "proposer_calls": 5, "wall_seconds": w, "baseline_test": 0.5} for i, (w, t) in enumerate(zip(walls, tests))]


def write(path, runs, **args):
    settings = {"model": "m", "tasks": "toy", "seeds": "0,1", "train": 10, "val": 5, "test": 5, "budget": 100,
                "minibatch": 3, "temperature": 0.7, "proposal_tokens": 50, "no_merge": False, **args}
    path.write_text(json.dumps({"args": settings, "runs": runs}))
    return str(path)


def test_combined_table_gives_wall_ratios_only_between_rows_of_the_same_runs(tmp_path):
    bench = script("gepa_vs_gepa")
    same = write(tmp_path / "same.json", rows("gepa", [30, 30], [0.6, 0.6]) + rows("promptlift", [10, 20], [0.5, 0.7]))
    later = write(tmp_path / "later.json", rows("promptlift+cal", [5, 5], [0.9, 0.9]), budget=120)
    out = tmp_path / "all"
    assert bench.main(["--combine", same, later, "--out", str(out)]) == 0
    table = out.with_suffix(".md").read_text()
    assert "| toy | gepa | 0.600 ± 0.000 |" in table
    assert "| toy | promptlift+cal | 0.900 ± 0.000 |" in table
    assert "| toy | wall ratio gepa / promptlift | 2.00x |" in table  # 30 / mean(10, 20), from the same file
    assert "gepa / promptlift+cal" not in table  # another file: another time, another machine load
    assert "budget 120 metric calls" in table  # each source's settings are listed
    combined = json.loads(out.with_suffix(".json").read_text())
    assert {r["source"] for r in combined["runs"]} == {"same.json", "later.json"}


def test_row_names_say_which_variant_ran():
    bench = script("gepa_vs_gepa")
    args = bench.parse(["--calibrate", "contextual"])
    assert bench.row_name("gepa", args) == "gepa"
    assert bench.row_name("promptlift", args) == "promptlift+cal"
    assert bench.row_name("promptlift", bench.parse(["--label", "promptlift@235"])) == "promptlift@235"
    assert bench.row_name("promptlift", bench.parse([])) == "promptlift"
