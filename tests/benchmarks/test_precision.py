"""benchmarks/precision.py: comparing float32 and bf16 scores (made-up log-probabilities)."""

from promptlift.testing.doubles import toy_task
from tests.benchmarks import script


def test_compare_counts_agreement_accuracy_and_the_largest_difference():
    bench = script("precision")
    task = toy_task()
    examples = task.val[:4]
    gold = [task.choices.index(e.output) for e in examples]
    full = [[0.0, -1.0] if g == 0 else [-1.0, 0.0] for g in gold]  # always right
    half = [list(s) for s in full]
    half[0] = [s - 2.0 if i == gold[0] else s for i, s in enumerate(half[0])]  # flips the first pick
    cell = bench.compare(task, [None] * 4, full, half)
    assert cell["accuracy_float32"] == 1.0 and cell["accuracy_bfloat16"] == 0.75
    assert cell["same_choice"] == 0.75 and cell["max_abs_logprob_diff"] == 2.0 and cell["examples"] == 4
