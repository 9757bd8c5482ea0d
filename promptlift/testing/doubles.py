"""Shipped test doubles for testing optimizers and backends (never report numbers measured with them).

``toy_task`` is a synthetic sentiment task; ``keyword_script`` is a ScriptedBackend script
(a test double, not a model) whose accuracy rises with the number of demos and with
certain instruction words, so optimizers have a signal to find. ``dspy_double`` also answers
DSPy's own format (for the DSPy peer and interop).
"""

from __future__ import annotations

import re

from promptlift import Candidate, Example, Request, ScriptedBackend, Task

WORDS = ["good", "great", "fine", "bad", "awful", "poor"]


def toy_examples(n: int = 80) -> list[Example]:
    out = []
    for i in range(n):
        positive = i % 2 == 0
        word = WORDS[(i // 2) % 3 + (0 if positive else 3)]
        out.append(Example({"review": f"a {word} film number {i}"}, "positive" if positive else "negative", id=f"toy{i}"))
    return out


def toy_task(n: int = 80) -> Task:
    ex = toy_examples(n)
    q = n // 4
    return Task(
        name="toy",
        input_fields=("review",),
        output_field="sentiment",
        train=tuple(ex[: 2 * q]),
        val=tuple(ex[2 * q : 3 * q]),
        test=tuple(ex[3 * q :]),
        metric="accuracy",
        choices=("positive", "negative"),
        seed=Candidate(instruction="Classify the review."),
    )


def keyword_script(request: Request) -> list[float] | str:
    """Right when the prompt has >= 2 demos or says 'sentiment'; else always 'negative'."""
    text = request.prompt if request.prompt is not None else "\n".join(m.content for m in request.messages)
    last = text.rsplit("Review:", 1)[-1]
    demos = text.count("Review:") - 1
    smart = demos >= 2 or "sentiment" in text.lower()
    positive = any(w in last for w in WORDS[:3])
    if not request.choices:
        return ("positive" if positive else "negative") if smart else "negative"
    return [0.0, -1.0] if (smart and positive) else [-1.0, 0.0]


def scripted(name: str = "toy") -> ScriptedBackend:
    return ScriptedBackend(keyword_script, name=name)


class ToyEngine:
    """A model-string engine for CLI tests: ``toy:NAME`` gives the keyword_script double."""

    @classmethod
    def from_spec(cls, model: str, **options) -> ScriptedBackend:
        return scripted(model)


POSITIVE = ("good", "great", "best", "fun", "love", "beautiful", "funny", "charming")


def dspy_script(request: Request) -> list[float] | str:
    """Labels by keywords; answers every output field DSPy's ChatAdapter asks for, in its format."""
    text = request.prompt or request.messages[-1].content
    guess = "positive" if any(w in text.lower() for w in POSITIVE) else "negative"
    if request.choices:
        return [0.0 if c.strip() == guess else -1.0 for c in request.choices]
    system = str(request.messages[0].content)
    if "[[ ##" in system:
        fields = re.findall(r"^\d+\. `(\w+)`", system.split("Your output fields are:")[-1], re.M)
        options = re.findall(r"one of: ([^\n]+)", system)
        labels = [o.strip() for o in options[0].split(";")] if options else []
        label = guess if guess in labels or not labels else labels[0]
        return "".join(f"[[ ## {f} ## ]]\n{label if f in ('sentiment', 'answer_type') else 'Decide the label.'}\n\n"
                       for f in fields) + "[[ ## completed ## ]]"
    return "Decide the label."


def dspy_double(name: str = "benchmark-double") -> ScriptedBackend:
    return ScriptedBackend(dspy_script, name=name)
