"""Property-based fuzzing of every input surface: data files, CLI flags, candidate files,
cli.json under --resume and sweep YAML. The property: the command succeeds (exit 0) or says
what is wrong in one line with exit code 2; it never ends in a traceback.

The CLI runs in process (``cli.main``) on the ToyEngine test double, so a case costs
milliseconds. Examples are derandomized (the same cases on every run, so CI cannot flake);
``PROMPTLIFT_FUZZ_EXAMPLES=N`` runs N fresh random cases per surface instead (a longer local search).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptlift import cli
from promptlift.backends import registry

EXAMPLES = int(os.environ.get("PROMPTLIFT_FUZZ_EXAMPLES", "40"))
FRESH = "PROMPTLIFT_FUZZ_EXAMPLES" in os.environ  # a longer local search draws new cases each time
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not FRESH, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TALLY = {"cases": 0, "tracebacks": 0}

ROWS = [{"review": f"a {'good' if i % 2 else 'bad'} film {i}", "label": "positive" if i % 2 else "negative"}
        for i in range(40)]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
TEXT = st.text(st.characters(codec="utf-8") | st.sampled_from(",=:@/.[]{}\"'\n\x00\ufeff"), max_size=24)


@pytest.fixture(autouse=True)
def toy_engine(monkeypatch):
    monkeypatch.setitem(registry.ENGINES, "toy", "promptlift.testing.doubles:ToyEngine")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    real = socket.getaddrinfo

    def loopback_only(host, *args, **kwargs):  # a fuzzed model URL must not reach the network (or wait on DNS)
        if str(host) not in ("127.0.0.1", "localhost", "::1"):
            raise socket.gaierror(socket.EAI_NONAME, "fuzz: no network")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    print(f"\nfuzz: {TALLY['cases']} cases, {TALLY['tracebacks']} tracebacks")


def outcome(argv: list[str]) -> None:
    """Run the CLI; assert exit 0, or exit 2 with exactly one error line; never an exception."""
    TALLY["cases"] += 1
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = cli.main(argv)
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code
    except BaseException:
        TALLY["tracebacks"] += 1
        raise
    info = ("WARNING", "INFO", "note: ", "warning: ", "auto: ", "plan: ")  # lines that say what a run does, not errors
    lines = [line for line in err.getvalue().splitlines() if line and not line.startswith(info)]
    assert code in (0, 2), (code, err.getvalue())
    if code == 2:
        assert len(lines) == 1 and ": error: " in lines[0], err.getvalue()
    assert "Traceback" not in err.getvalue()


def data_file(directory: Path, name: str = "reviews.jsonl") -> Path:
    path = directory / name
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    return path


def optimize(directory: Path, data: Path, *flags: str) -> list[str]:
    return ["optimize", "--task", str(data), "--model", "toy:x", "--no-progress", "--budget", "16",
            "--run-dir", str(directory / "run"), *flags]


@st.composite
def data_files(draw) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from([".jsonl", ".csv"]))
    kind = draw(st.sampled_from(["rows", "bytes", "mutated"]))
    if kind == "bytes":
        return suffix, draw(st.binary(max_size=300))
    if kind == "rows":
        rows = draw(st.lists(st.dictionaries(st.sampled_from(["review", "label", "split", "id", "x"]), JSON,
                                             min_size=1, max_size=4), min_size=1, max_size=30))
        if suffix == ".jsonl":
            return suffix, "\n".join(json.dumps(r) for r in rows).encode("utf-8", "surrogatepass")
        header = sorted({k for r in rows for k in r})
        lines = [",".join(header)] + [",".join(str(r.get(k, "")) for k in header) for r in rows]
        return suffix, "\n".join(lines).encode("utf-8", "surrogatepass")
    text = "\n".join(json.dumps(r) for r in ROWS)
    at = draw(st.integers(0, len(text)))
    return ".jsonl", (text[:at] + draw(TEXT) + text[at + draw(st.integers(0, 8)):]).encode("utf-8", "surrogatepass")


@FUZZ
@given(data_files())
def test_data_files(case):
    suffix, content = case
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"data{suffix}"
        path.write_bytes(content)
        outcome(optimize(Path(directory), path))


FLAGS = ["--sizes", "--choices", "--input-fields", "--output-field", "--metric", "--param", "--model-option",
         "--budget", "--max-seconds", "--max-tokens", "--seed", "--optimizer", "--proposer", "--model"]
PARAMS = ["k", "balanced", "max_candidates", "formats", "verbalizers", "calibrate", "zero_shot"]
OPTIONS = ["max_concurrency", "deadline", "n_ctx", "max_context", "api_key", "base_url", "top_logprobs"]


@st.composite
def flag_values(draw) -> list[str]:
    flag = draw(st.sampled_from(FLAGS))
    if flag == "--param":
        value = f"{draw(st.sampled_from(PARAMS))}={draw(st.one_of(TEXT, JSON.map(json.dumps)))}"
    elif flag == "--model-option":
        value = f"{draw(st.sampled_from(OPTIONS))}={draw(st.one_of(TEXT, JSON.map(json.dumps)))}"
    elif flag in ("--model", "--proposer"):
        value = draw(st.sampled_from(["toy:", "openai:m@http://", "litellm:", "llamacpp:", ""])) + draw(TEXT)
    else:
        value = draw(st.one_of(TEXT, st.integers().map(str), st.floats().map(str)))
    return [flag, value]


@FUZZ
@given(st.lists(flag_values(), min_size=1, max_size=3))
def test_cli_flags(flags):
    with tempfile.TemporaryDirectory() as directory:
        argv = optimize(Path(directory), data_file(Path(directory)), *[part for pair in flags for part in pair])
        if any("openai:" in part or "litellm:" in part for part in argv):
            argv += ["--model-option", "deadline=0.5", "--model-option", "max_retries=0"]
        outcome(argv)


CANDIDATE_KEYS = ["instruction", "demos", "format", "verbalizer", "calibration", "soft_prompt", "reasoning",
                  "retrieval", "candidate", "choices", "task"]


@FUZZ
@given(st.one_of(st.dictionaries(st.sampled_from(CANDIDATE_KEYS), JSON, max_size=4), JSON))
def test_candidate_files(content):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "candidate.json"
        path.write_text(json.dumps(content))
        outcome(["evaluate", "--task", str(data_file(Path(directory))), "--model", "toy:x", "--candidate", str(path)])


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("resume")
    registry.ENGINES["toy"] = "promptlift.testing.doubles:ToyEngine"
    try:
        assert cli.main(optimize(directory, data_file(directory))) == 0
    finally:
        registry.ENGINES.pop("toy", None)
    return json.loads((directory / "run" / "cli.json").read_text()), directory


@FUZZ
@given(st.dictionaries(st.sampled_from(["task", "model", "model_option", "param", "budget", "seed", "sizes",
                                        "choices", "optimizer", "no_cache", "max_seconds", "proposer"]),
                       JSON, max_size=3),
       st.lists(st.sampled_from(["task", "model", "budget", "param"]), max_size=2))
def test_cli_json_under_resume(finished_run, changes, dropped):
    saved, directory = finished_run
    with tempfile.TemporaryDirectory() as scratch:
        run_dir = Path(scratch) / "run"
        run_dir.mkdir()
        edited = {k: v for k, v in {**saved, **changes}.items() if k not in dropped}
        (run_dir / "cli.json").write_text(json.dumps(edited))
        outcome(["optimize", "--resume", str(run_dir), "--no-progress"])


SWEEP_KEYS = ["name", "tasks", "models", "optimizers", "budgets", "seeds", "storage", "output", "search", "proposer"]


@FUZZ
@given(st.one_of(st.dictionaries(st.sampled_from(SWEEP_KEYS), JSON, max_size=5).map(json.dumps), TEXT,
                 st.binary(max_size=60).map(lambda b: b.decode("latin-1"))))
def test_sweep_yaml(text):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "sweep.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        outcome(["bench", str(path), "--status", "--output", str(Path(directory) / "out")])
