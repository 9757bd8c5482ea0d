"""Callbacks are subclasses of promptlift.Callback: unknown hooks fail when the class is made, and a
run refuses an object that is not a Callback (a duck-typed object's misspelt hook would be silent)."""

import pytest

from promptlift import Callback, FewShot
from promptlift.errors import ConfigError
from promptlift.testing.doubles import scripted, toy_task


class Recorder(Callback):
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_start(self, run):
        self.events.append("start")

    def on_trial(self, run, trial):
        self.events.append(f"trial:{trial.role}")

    def on_end(self, run, result):
        self.events.append("end")


def test_a_subclass_overrides_only_the_hooks_it_needs_and_sees_the_run_in_order(tmp_path):
    recorder = Recorder()
    FewShot(k=2, max_candidates=2).optimize(toy_task(), scripted(), budget=60, cache=None,
                                                 run_dir=tmp_path / "run", callbacks=[recorder])
    assert recorder.events[0] == "start" and recorder.events[-1] == "end"
    assert "trial:val" in recorder.events


def test_a_misspelt_hook_fails_when_the_class_is_made():
    with pytest.raises(TypeError, match="on_trail"):
        class Misspelt(Callback):  # noqa: F841
            def on_trail(self, run, trial):
                pass


def test_an_object_that_is_not_a_callback_is_refused_with_the_fix():
    class Duck:
        def on_trial(self, run, trial):
            pass

    with pytest.raises(ConfigError, match="subclass promptlift.Callback"):
        FewShot(k=2, max_candidates=2).optimize(toy_task(), scripted(), budget=60, cache=None, callbacks=[Duck()])
