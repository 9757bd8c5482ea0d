"""The core value types: what a person reads of a candidate."""

from promptlift.types import Candidate, Example, Retrieval


def test_a_candidate_describes_the_components_it_sets_on_one_line():
    demo = Example({"review": "fine"}, "positive")
    assert Candidate("Say  it.\n").describe() == 'chat format, 0 demos; instruction "Say it."'
    full = Candidate("x" * 100, demos=(demo,), format="plain", verbalizer=("good", "bad"), calibration=(0.5, -0.5),
                     retrieval=Retrieval(pool=(demo,), k=2))
    assert full.describe(width=10) == ('plain format, 1 demo, 2 retrieved demos (minilm), label words good/bad, '
                                       'calibrated; instruction "xxxxxxxxx…"')
