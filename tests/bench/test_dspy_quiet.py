"""``bench --no-progress`` (TQDM_DISABLE) silences DSPy's own progress bars, which DSPy builds with an
explicit ``disable=`` that overrides tqdm's environment variable."""

import pytest

pytest.importorskip("dspy")

from promptlift.bench.peers.dspy import DSPySettings, run  # noqa: E402
from promptlift.testing.doubles import dspy_double, toy_task  # noqa: E402


def _compile_output(capfd) -> str:
    task = toy_task(40)
    run("dspy/bootstrap_rs", task, dspy_double(), 0, DSPySettings(budget=40, bootstrap_size=4), {})
    captured = capfd.readouterr()
    return captured.out + captured.err


def test_dspy_bars_show_by_default(capfd, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    output = _compile_output(capfd)
    assert "it/s]" in output or "s/it]" in output


def test_no_progress_silences_dspy_bars(capfd, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    output = _compile_output(capfd)
    assert "it/s]" not in output and "s/it]" not in output
