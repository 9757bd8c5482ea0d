"""Bad input of every kind found by hand ends in one line of error and exit code 2, never a traceback.

Each case was a traceback (or silently accepted nonsense) before; the CLI runs in process on
the ToyEngine test double. ``tests/test_fuzz.py`` searches the same surfaces at random.
"""

from __future__ import annotations

import gzip
import json

import pytest

from promptlift import cli
from promptlift.backends import registry

ROWS = [{"review": f"a {'good' if i % 2 else 'bad'} film {i}", "label": "positive" if i % 2 else "negative"}
        for i in range(40)]


@pytest.fixture(autouse=True)
def toy_engine(monkeypatch):
    monkeypatch.setitem(registry.ENGINES, "toy", "promptlift.testing.doubles:ToyEngine")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def good_jsonl() -> str:
    return "\n".join(json.dumps(r) for r in ROWS) + "\n"


def jsonl(rows) -> str:
    return "\n".join(json.dumps(r) for r in rows) + "\n"


# name -> (file name, file bytes or None, extra flags, expected fragment of the error)
DATA_FILES = {
    "latin-1": ("a.jsonl", '{"review": "caf\xe9", "label": "x"}\n'.encode("latin-1"), "not UTF-8 text (byte 0xe9)"),
    "utf-16": ("a.jsonl", good_jsonl().encode("utf-16"), "UTF-16 text; save it as UTF-8"),
    "gzip": ("a.jsonl", gzip.compress(good_jsonl().encode()), "a compressed file; decompress it first"),
    "deep JSON": ("a.jsonl", ('{"review": ' + "[" * 50000 + "]" * 50000 + ', "label": "a"}\n').encode(),
                  "a.jsonl:1: unreadable JSON (nested too deeply)"),
    "huge integer": ("a.jsonl", ('{"review": ' + "9" * 5000 + ', "label": "a"}\n').encode(),
                     "a.jsonl:1: unreadable JSON (Exceeds the limit"),
    "lone surrogate": ("a.jsonl", (jsonl(ROWS[:39]) + '{"review": "\\ud800", "label": "positive"}\n').encode(),
                       "a.jsonl:40: review: invalid text (a lone surrogate)"),
    "CSV field over 128 KiB": ("a.csv", ("review,label\n" + "x" * 200_000 + ",a\n").encode(),
                               "a.csv:1: unreadable CSV (field larger than field limit"),
    "one class": ("a.jsonl", jsonl({"review": f"r{i}", "label": "a"} for i in range(40)).encode(),
                  "every example has the label 'a': any prompt would score 1.0"),
    "list label": ("a.jsonl", jsonl({"review": f"r{i}", "label": [i % 2]} for i in range(40)).encode(),
                   "a.jsonl:1: label must be a non-empty string or number, got [0]"),
    "object label": ("a.jsonl", jsonl({"review": f"r{i}", "label": {"x": 1}} for i in range(40)).encode(),
                     'a.jsonl:1: label must be a non-empty string or number, got {"x": 1}'),
    "empty label": ("a.jsonl", jsonl({"review": f"r{i}", "label": "" if i == 3 else "ab"[i % 2]} for i in range(40)).encode(),
                    "a.jsonl:4: label must be a non-empty string or number"),
    "duplicate CSV header": ("a.csv", ("review,review,label\n" + "".join(f"a{i},b{i},{'pq'[i % 2]}\n" for i in range(40)))
                             .encode(),
                             "a.csv:1: duplicate column name(s) ['review']"),
}

FLAGS = {
    "--sizes superscript": (["--sizes", "²,2,2"], "--sizes '²,2,2' must be three whole numbers"),
    "--param verbalizers=5": (["--optimizer", "fewshot", "--param", "verbalizers=5"],
                               "The 'verbalizers' parameter of FewShot must be"),
    "--param k=true": (["--optimizer", "fewshot", "--param", "k=true"],
                       "The 'k' parameter of FewShot must be a number (int). Got True."),
    "--param verbalizers=5 (auto)": (["--param", "verbalizers=5"], "The 'verbalizers' parameter of Auto must be"),
    "IPv6 URL": (["--model", "openai:m@http://[::1"], "'http://[::1' is not a valid URL (Invalid IPv6 URL)"),
    "port 99999": (["--model", "openai:m@http://127.0.0.1:99999/v1"], "is not a valid URL (Port out of range"),
    "typed option": (["--model", "openai:m@http://127.0.0.1:9/v1", "--model-option", 'deadline="x"'],
                     "The 'deadline' parameter of RetryPolicy must be a number > 0. Got 'x'."),
    "max_context=-5": (["--model", "openai:m@http://127.0.0.1:9/v1", "--model-option", "max_context=-5"],
                       "'max_context' parameter of an API backend must be None or an int >= 1. Got -5."),
    "max_concurrency=100000": (["--model", "openai:m@http://127.0.0.1:9/v1", "--model-option", "max_concurrency=100000"],
                               "'max_concurrency' parameter of an API backend must be an int in [1, 512]"),
    "--input-fields with the label": (["--input-fields", "review,label"],
                                      "the output field 'label' cannot also be an input field"),
    "--choices ''": (["--choices", ""], "--choices '' must be two or more distinct, non-empty labels"),
    "--choices repeated": (["--choices", "positive,positive"], "must be two or more distinct, non-empty labels"),
    "--max-seconds nan": (["--max-seconds", "nan"], "argument --max-seconds: must be a number of seconds > 0"),
    "--budget huge": (["--budget", "99999999999999999999"], "argument --budget: must be a whole number in [1, 1e+09]"),
    "--model-option api_key": (["--model-option", "api_key=sk-secret-123456"], "--model-option api_key=... would be written"),
    "password in the URL": (["--model", "openai:m@http://u:sk-secret-123456@127.0.0.1:9/v1"], "the URL carries credentials"),
    "key in the URL query": (["--model", "openai:m@http://127.0.0.1:9/v1?key=sk-secret-123456"], "the URL carries credentials"),
}


def run_cli(argv, capsys) -> tuple[int, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    # warnings, the default optimizer's line saying what it chose and the run's plan line are not errors
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith(("WARNING", "auto: ", "plan: "))]
    return code, "\n".join(err)


def assert_one_line(code, err, fragment):
    assert code == 2, err
    assert len(err.splitlines()) == 1 and fragment in err and "Traceback" not in err, err


@pytest.mark.parametrize("name", DATA_FILES)
def test_a_bad_data_file_is_one_line(name, tmp_path, capsys):
    file_name, data, fragment = DATA_FILES[name]
    path = tmp_path / file_name
    path.write_bytes(data)
    code, err = run_cli(["optimize", "--task", str(path), "--model", "toy:x", "--no-progress",
                         "--run-dir", str(tmp_path / "run")], capsys)
    assert_one_line(code, err, fragment)


@pytest.mark.parametrize("name", FLAGS)
def test_a_bad_flag_is_one_line(name, tmp_path, capsys):
    data = tmp_path / "reviews.jsonl"
    data.write_text(good_jsonl())
    flags, fragment = FLAGS[name]
    argv = ["optimize", "--task", str(data), "--model", "toy:x", "--no-progress", "--run-dir", str(tmp_path / "run"), *flags]
    code, err = run_cli(argv, capsys)
    assert_one_line(code, err, fragment)
    assert "sk-secret-123456" not in err and not (tmp_path / "run" / "cli.json").exists()


@pytest.mark.parametrize("where, fragment", [("file", "File exists"), ("under a file", "Not a directory"),
                                             ("long name", "File name too long")])
def test_a_run_dir_that_cannot_be_made_is_one_line(where, fragment, tmp_path, capsys):
    data = tmp_path / "reviews.jsonl"
    data.write_text(good_jsonl())
    run_dir = {"file": data, "under a file": data / "x", "long name": tmp_path / ("x" * 300)}[where]
    code, err = run_cli(["optimize", "--task", str(data), "--model", "toy:x", "--no-progress", "--run-dir", str(run_dir)], capsys)
    assert_one_line(code, err, fragment)


def test_a_cache_path_that_is_a_file_is_one_line(tmp_path, capsys, monkeypatch):
    data = tmp_path / "reviews.jsonl"
    data.write_text(good_jsonl())
    monkeypatch.setenv("PROMPTLIFT_CACHE", str(data))
    code, err = run_cli(["optimize", "--task", str(data), "--model", "toy:x", "--no-progress",
                         "--run-dir", str(tmp_path / "run")], capsys)
    assert_one_line(code, err, "reviews.jsonl")


def test_fewshot_runs_when_a_label_runs_out_of_training_examples(capsys, tmp_path):
    rows = [{"review": f"r{i}", "label": "positive" if i < 4 else "negative"} for i in range(40)]
    data = tmp_path / "skewed.jsonl"
    data.write_text(jsonl(rows))  # a split column puts 1 positive and 7 negatives in train
    for i, row in enumerate(rows):
        row["split"] = "train" if i in (0, *range(4, 11)) else ("val" if i % 2 else "test")
    data.write_text(jsonl(rows))
    code, err = run_cli(["optimize", "--task", str(data), "--model", "toy:x", "--optimizer", "fewshot", "--no-progress",
                         "--param", "k=8",
                         "--budget", "40", "--run-dir", str(tmp_path / "run")], capsys)
    assert code == 0, err
    trials = [json.loads(line) for line in (tmp_path / "run" / "trials.jsonl").read_text().splitlines()]
    assert any(len(t["candidate"].get("demos", [])) == 8 for t in trials)


def test_a_byte_order_mark_is_dropped_in_jsonl_and_csv(tmp_path):
    from promptlift.tasks.loaders import read_rows

    (tmp_path / "a.jsonl").write_text("\ufeff" + good_jsonl(), encoding="utf-8")
    (tmp_path / "a.csv").write_text("\ufeffreview,label\n" + "".join(f"r{i},{'ab'[i % 2]}\n" for i in range(4)), encoding="utf-8")
    assert read_rows(tmp_path / "a.jsonl")[0][1] == ROWS[0]
    assert list(read_rows(tmp_path / "a.csv")[0][1]) == ["review", "label"]


def test_tiny_splits_are_warned_about(tmp_path, caplog):
    from promptlift.tasks.loaders import load_task

    (tmp_path / "a.jsonl").write_text(good_jsonl())
    load_task(tmp_path / "a.jsonl", sizes=(10, 1, 2))
    assert "the val split has only 1 example(s)" in caplog.text


def test_evaluate_limit_must_be_positive(tmp_path, capsys):
    data = tmp_path / "reviews.jsonl"
    data.write_text(good_jsonl())
    code, err = run_cli(["evaluate", "--task", str(data), "--model", "toy:x", "--limit", "-1"], capsys)
    assert_one_line(code, err, "--limit must be a whole number >= 1, got -1")


@pytest.mark.parametrize("content, fragment", [
    ('{"instruction": 5}', "not a usable candidate"),
    ('{"demos": [{"inputs": 3}]}', "not a usable candidate"),
    ('{"candidate": {"calibration": "abc"}, "choices": ["negative", "positive"]}', "not a usable candidate"),
    ('{"candidate": {}, "choices": "xy"}', "written for task"),
    ("[" * 10000, "cannot read a candidate"),
])
def test_a_malformed_candidate_file_is_one_line(content, fragment, tmp_path, capsys):
    data = tmp_path / "reviews.jsonl"
    data.write_text(good_jsonl())
    path = tmp_path / "candidate.json"
    path.write_text(content)
    code, err = run_cli(["evaluate", "--task", str(data), "--model", "toy:x", "--candidate", str(path)], capsys)
    assert_one_line(code, err, fragment)


@pytest.mark.parametrize("content, flags, fragment", [
    (b"name: x\na: " + b"[" * 5000 + b"]" * 5000 + b"\n", [], "cannot read the sweep config: nested too deeply"),
    (b"name: caf\xe9\n", [], "cannot read the sweep config"),
    (None, ["--storage", "nosuchdialect://x/y"], "storage nosuchdialect://x/y"),
    (None, ["--output", "/proc/none/x"], "/proc/none"),
])
def test_a_bad_sweep_config_is_one_line(content, flags, fragment, tmp_path, capsys):
    config = tmp_path / "sweep.yaml"
    good = (b"name: fuzz\ntasks: [{name: sentiment, sizes: [8, 8, 8]}]\nmodels: [{spec: 'toy:x'}]\n"
            b"optimizers: [{name: fewshot}]\nbudgets: [8]\nseeds: [0]\n")
    config.write_bytes(content if content is not None else good)
    out = ["--output", str(tmp_path / "out")] if "--output" not in flags else []
    code, err = run_cli(["bench", str(config), "--status", *out, *flags], capsys)
    assert_one_line(code, err, fragment)


def test_a_bench_optimizer_that_is_not_an_optimizer_is_refused(tmp_path):
    from promptlift.bench.runner import build_optimizer
    from promptlift.errors import ConfigError

    with pytest.raises(ConfigError, match="'collections:OrderedDict' is not an optimizer"):
        build_optimizer("collections:OrderedDict", {})
    with pytest.raises(ConfigError, match="must be a registry name or module:Class"):
        build_optimizer("os; import x:Y", {})


def test_a_corrupt_optuna_study_is_one_line(tmp_path, capsys):
    data = tmp_path / "reviews.jsonl"
    data.write_text(good_jsonl())
    run_dir = tmp_path / "run"
    argv = ["optimize", "--task", str(data), "--model", "toy:x", "--no-progress", "--optimizer", "mipro",
            "--param", "n_instructions=1", "--budget", "60", "--run-dir", str(run_dir)]  # 48 pays one trial
    assert run_cli(argv, capsys)[0] == 0
    (run_dir / "optuna.sqlite3").write_bytes(b"SQLite format 3\x00" + b"\x13" * 4000)
    code, err = run_cli(["optimize", "--resume", str(run_dir), "--no-progress"], capsys)
    assert_one_line(code, err, "cannot open the Optuna study")
