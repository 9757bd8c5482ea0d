"""The prompt options (formats, verbalizers, calibrate): the same values and messages in every
optimizer that offers them (promptlift.optimizers.options)."""

import dataclasses

import pytest

from promptlift import Budget, Run
from promptlift.errors import ConfigError
from promptlift.optimizers import options
from promptlift.optimizers.registry import OPTIMIZERS, optimizer_class
from promptlift.testing.doubles import scripted, toy_task

ACCEPTED = {
    "formats": [("auto", "auto"), (["chat", "plain"], ("chat", "plain")), ("plain", ("plain",)), ((), ())],
    "verbalizers": [("auto", "auto"), ([["good", "bad"]], (("good", "bad"),)), ((), ())],
    "calibrate": [(None, None), ("auto", "auto"), ("contextual", "contextual"), ("batch", "batch")],
}
REFUSED = {
    "formats": (["html"], "The 'formats' parameter of {} must be 'auto' or a list of ['chat', 'plain']. Got ('html',)."),
    "verbalizers": (["good", "bad"], "The 'verbalizers' parameter of {} must be 'auto' or a list of word lists."),
    "calibrate": ("sometimes", "The 'calibrate' parameter of {} must be None, 'auto' or one of ['contextual', 'batch']."),
}


def offering(option):
    """Every registered optimizer class that declares ``option`` as a field."""
    classes = (optimizer_class(name) for name in OPTIMIZERS)
    return [cls for cls in classes if option in {f.name for f in dataclasses.fields(cls)}]


def test_the_few_shot_family_offers_the_options():
    names = {option: {cls.name for cls in offering(option)} for option in options.NAMES}
    assert names["formats"] >= {"fewshot", "bootstrap", "similarity", "mipro", "genetic", "auto"}
    assert names["verbalizers"] >= {"fewshot", "genetic", "auto"}
    assert names["calibrate"] >= names["formats"] | {"gepa"}


@pytest.mark.parametrize("option", options.NAMES)
def test_every_optimizer_offering_an_option_accepts_the_same_values(option):
    for cls in offering(option):
        for given, stored in ACCEPTED[option]:
            assert getattr(cls(**{option: given}), option) == stored, (cls.__name__, given)


@pytest.mark.parametrize("option", options.NAMES)
def test_every_optimizer_offering_an_option_refuses_with_the_same_message(option):
    value, message = REFUSED[option]
    for cls in offering(option):
        with pytest.raises(ConfigError) as caught:
            cls(**{option: value})
        assert str(caught.value).startswith(message.format(cls.__name__)), str(caught.value)


def test_fewshot_takes_calibrate_auto_as_bootstrap_does():
    from promptlift.optimizers.bootstrap import BootstrapFewShot
    from promptlift.optimizers.fewshot import FewShot

    assert FewShot(calibrate="auto").calibrate == BootstrapFewShot(calibrate="auto").calibrate == "auto"


def test_the_options_resolve_the_same_for_every_optimizer():
    run = Run(toy_task(), scripted(), budget=Budget(metric_calls=10))
    resolved = {(cls(formats="auto").search_formats(run), cls(calibrate="auto").calibration_method(run))
                for cls in offering("formats")}
    assert resolved == {(("chat", "plain"), "contextual")}
    assert {cls().search_formats(run) for cls in offering("formats") if cls.name != "mipro" and cls.name != "auto"} == {()}


def test_calibrate_with_reasoning_is_refused():
    from promptlift.optimizers.bootstrap import BootstrapFewShot

    with pytest.raises(ConfigError, match="None when reasoning=True"):
        BootstrapFewShot(reasoning=True, calibrate="auto")
