"""promptlift.demos: the one label-balanced demo draw of the few-shot family."""

import random
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from promptlift.demos import draw_demos, interleave
from promptlift.testing.doubles import toy_task
from promptlift.types import Example

LABELS = ("a", "b", "c")


def examples(outputs):
    return [Example({"text": f"input {i}"}, output, id=f"e{i}") for i, output in enumerate(outputs)]


pools = st.lists(st.sampled_from(LABELS + ("other",)), max_size=30).map(examples)
ks = st.integers(min_value=0, max_value=40)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


@given(pools, ks, seeds)
def test_draws_min_k_pool_distinct_demos_from_the_pool(pool, k, seed):
    demos = draw_demos(pool, k, random.Random(seed), LABELS)
    assert len(demos) == min(k, len(pool))
    assert len({d.id for d in demos}) == len(demos)
    assert set(demos) <= set(pool)


@given(pools, ks, seeds)
def test_label_counts_differ_by_at_most_one_unless_a_label_ran_out(pool, k, seed):
    demos = draw_demos(pool, k, random.Random(seed), LABELS)
    drawn, available = Counter(d.output for d in demos), Counter(e.output for e in pool)
    for label in available:
        for other in available:
            if drawn[label] > drawn[other] + 1:
                assert drawn[other] == available[other], (drawn, available)


@given(pools, ks, seeds, st.booleans())
def test_the_same_seed_draws_the_same_demos(pool, k, seed, balanced):
    first = draw_demos(pool, k, random.Random(seed), LABELS, balanced=balanced)
    assert first == draw_demos(pool, k, random.Random(seed), LABELS, balanced=balanced)


@given(pools, seeds)
def test_k_larger_than_the_pool_takes_the_whole_pool(pool, seed):
    assert sorted(d.id for d in draw_demos(pool, len(pool) + 5, random.Random(seed), LABELS)) == sorted(
        e.id for e in pool)


@given(pools, ks, seeds)
def test_unbalanced_or_without_labels_is_a_plain_seeded_sample(pool, k, seed):
    expected = random.Random(seed).sample(pool, min(k, len(pool))) if k and pool else []
    assert draw_demos(pool, k, random.Random(seed), LABELS, balanced=False) == expected
    assert draw_demos(pool, k, random.Random(seed)) == expected


def test_a_lopsided_pool_gives_what_each_label_has():
    task = toy_task()
    pool = [e for e in task.train if e.output == "negative"][:5] + [e for e in task.train if e.output == "positive"][:1]
    demos = draw_demos(pool, 4, random.Random(0), task.choices)
    assert sorted(d.output for d in demos) == ["negative"] * 3 + ["positive"]
    assert len(draw_demos(pool[:2], 4, random.Random(0), task.choices)) == 2


def test_the_draw_is_the_one_the_optimizers_made_before_it_was_shared():
    """Ids recorded with the draws FewShot and BootstrapFewShot had before (same seed, same
    demos): a change here changes every few-shot run of a given seed."""
    task = toy_task()
    rng = random.Random(0)
    assert [d.id for d in draw_demos(task.train, 4, rng, task.choices)] == ["toy2", "toy19", "toy25", "toy16"]
    assert [d.id for d in draw_demos(task.train, 3, rng, task.choices)] == ["toy35", "toy8", "toy6"]
    assert [d.id for d in draw_demos(task.train, 3, rng, task.choices, balanced=False)] == ["toy21", "toy30", "toy35"]
    three = [Example({"q": str(i)}, "abc"[i % 3] if i < 12 else "a", id=f"e{i}") for i in range(20)]
    assert [d.id for d in draw_demos(three, 7, random.Random(5), LABELS)] == ["e11", "e7", "e14", "e1", "e9", "e8",
                                                                              "e10"]


def test_interleave_takes_each_label_in_turn_in_the_order_given():
    ranked = examples(["a", "a", "b", "a", "c", "b"])
    assert [e.id for e in interleave(ranked, 4)] == ["e0", "e2", "e4", "e1"]
    assert [e.id for e in interleave(ranked, 10)] == ["e0", "e2", "e4", "e1", "e5", "e3"]
    assert interleave(ranked, 0) == []
