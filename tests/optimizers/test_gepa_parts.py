"""GEPA's parts: the Pareto pool, the reflection prompt and proposal parsing, the merge."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from promptlift import Candidate, Example
from promptlift.optimizers.merge import merge_candidates, merge_text
from promptlift.optimizers.pareto import Pool
from promptlift.optimizers.reflection import (
    DEFAULT_TEMPLATE, Outcome, build_prompt, check_template, format_records, parse_proposal, records,
)
from promptlift.testing.doubles import toy_task

IDS = ("e1", "e2", "e3", "e4")


def pool_of(*rows, parents=None) -> Pool:
    pool = Pool()
    for i, scores in enumerate(rows):
        pool.add(Candidate(instruction=f"c{i}"), trial=10 * i, example_ids=IDS, scores=scores,
                 parents=(parents or {}).get(i, ()))
    return pool


# --- Pareto pool ---------------------------------------------------------------------------
def test_fronts_hold_the_best_entries_per_example_and_skip_unsolved_ones():
    pool = pool_of((1, 0, 0, 0), (0, 1, 0, 0), (1, 1, 0, 0))
    assert pool.fronts() == {"e1": {0, 2}, "e2": {1, 2}}


def test_dominated_entries_are_dropped_from_the_leaders():
    pool = pool_of((1, 0, 0, 0), (0, 1, 0, 0), (1, 1, 0, 0))
    assert pool.leaders() == {2: 2}


def test_each_specialist_leads_its_own_examples():
    pool = pool_of((1, 1, 0, 0), (0, 0, 1, 0), (0.5, 0.5, 0.5, 1))
    assert pool.leaders() == {0: 2, 1: 1, 2: 1}


def test_equal_entries_keep_the_earliest():
    pool = pool_of((1, 0, 1, 0), (1, 0, 1, 0))
    assert pool.leaders() == {0: 2}


def test_parent_is_drawn_in_proportion_to_examples_led():
    pool = pool_of((1, 1, 1, 0), (0, 0, 0, 1))
    rng = random.Random(0)
    counts = Counter(pool.select(rng).index for _ in range(4000))
    assert counts[0] / 4000 == pytest.approx(0.75, abs=0.03)


def test_with_nothing_solved_the_best_mean_is_the_parent():
    pool = pool_of((0, 0, 0, 0), (0, 0, 0, 0))
    assert pool.leaders() == {} and pool.select(random.Random(0)).index == 0


def test_ancestors_follow_every_parent():
    pool = pool_of((0,) * 4, (1, 0, 0, 0), (0, 1, 0, 0), (1, 1, 0, 0), parents={1: (0,), 2: (0,), 3: (1, 2)})
    assert pool.ancestors(3) == {0, 1, 2} and pool.ancestors(0) == set()
    assert pool.by_trial(30).index == 3 and pool.by_trial(5) is None


def test_merge_triplet_pairs_siblings_not_an_entry_and_its_descendant():
    pool = pool_of((0.5, 0, 0, 0), (1, 0, 0, 0), (0, 1, 0, 0), parents={1: (0,), 2: (0,)})
    a, b, ancestor = pool.merge_triplet(random.Random(0), set())
    assert {a.index, b.index} == {1, 2} and ancestor.index == 0
    assert pool.merge_triplet(random.Random(0), {(1, 2, 0)}) is None
    chain = pool_of((0, 0, 0, 0), (1, 0, 0, 0), (0, 1, 0, 1), parents={1: (0,), 2: (1,)})
    assert chain.merge_triplet(random.Random(0), set()) is None


def test_disagreement_takes_examples_each_side_wins_then_ties():
    pool = pool_of((1, 0, 1, 1), (0, 1, 1, 1))
    chosen = pool.disagreement(pool[0], pool[1], 3, random.Random(0))
    assert len(chosen) == 3 and {"e1", "e2"} <= set(chosen)


# --- reflection ------------------------------------------------------------------------------
def outcome() -> Outcome:
    ex = [Example({"review": "a good film number 0"}, "positive"), Example({"review": "a good film number 2"}, "positive"),
          Example({"review": "an awful film"}, "negative")]
    return Outcome(tuple(ex), (1.0, 0.0, 0.5), ("positive", "negative " * 200, "meh"),
                   ("correct", "expected 'positive', got 'negative'", "half"))


def test_records_put_the_worst_first_and_respect_the_limit():
    rows = records(outcome(), 2)
    assert [r.score for r in rows] == [0.0, 0.5]
    assert rows[0].expected == "positive" and rows[0].feedback.startswith("expected")


def test_examples_block_shows_input_answer_expected_and_feedback_cut_short():
    text = format_records(toy_task(), records(outcome(), 3), chars=40)
    first = text.split("\n\n")[0].splitlines()
    assert first[0] == "Review: a good film number 2"
    assert first[1].startswith("Assistant's answer: negative negative") and first[1].endswith("...")
    assert len(first[1]) <= len("Assistant's answer: ") + 40
    assert first[2] == "Correct answer: positive"
    assert first[3] == "Verdict: wrong (expected 'positive', got 'negative')"
    assert "Verdict: right" in text and "partly right (0.50)" in text


def test_prompt_fills_every_placeholder():
    prompt = build_prompt(DEFAULT_TEMPLATE, toy_task(), "Classify.", records(outcome(), 1))
    assert '"Classify."' in prompt and "Correct answer: positive" in prompt and "<" not in prompt
    gepa_style = build_prompt("<curr_param> | <side_info> | <task>", toy_task(), "X y.", records(outcome(), 1))
    assert gepa_style.startswith("X y. | Review: ") and gepa_style.endswith("| toy")


def test_template_check_names_the_missing_placeholder():
    assert check_template(DEFAULT_TEMPLATE) is None
    assert check_template("<instruction> only") == "<examples>"
    assert check_template("<side_info> only") == "<instruction>"


@pytest.mark.parametrize("text,expected", [
    ("```\nClassify each review as positive or negative.\n```", "Classify each review as positive or negative."),
    ("Sure! Here it is.\n\nImproved instruction: Label the review positive or negative, one word.",
     "Label the review positive or negative, one word."),
    ('The revised prompt is "Say whether the critic liked the film: positive or negative."',
     "Say whether the critic liked the film: positive or negative."),
    ("Decide if the review praises or criticises the movie.\n\nThis instruction is better because...",
     "Decide if the review praises or criticises the movie."),
    ("- Read the review.\n- Answer positive or negative.", "Read the review. Answer positive or negative."),
])
def test_parse_keeps_the_instruction_in_chatty_answers(text, expected):
    assert parse_proposal(text, "Classify the review.") == expected


def test_parse_rejects_a_copy_of_the_reflection_prompt():
    echo = 'An assistant was given this instruction: "Classify the review." Here is how it did on some examples:'
    assert parse_proposal(echo, "Classify the review.", template=DEFAULT_TEMPLATE) is None
    assert parse_proposal(echo, "Classify the review.") == echo  # without the template it looks usable
    quoted = 'An assistant was given this instruction: "Say if the critic liked the film."'
    assert parse_proposal(quoted, "Classify the review.", template=DEFAULT_TEMPLATE) == "Say if the critic liked the film."


@pytest.mark.parametrize("text", [
    "",
    "positive",
    "I'm sorry, but I cannot help with that request today.",
    "Classify the review.",
    "Correct answer: positive. Expected: positive for this review.",
    "Review: a good film number 2 that I liked a lot",
    "The film a good film number 2 with many words copied here is great",
    "word " * 200,
])
def test_parse_rejects_unusable_answers(text):
    rows = records(Outcome((Example({"review": "a good film number 2 with many words copied here"}, "positive"),),
                           (0.0,), ("negative",), ("wrong",)), 1)
    assert parse_proposal(text, "Classify the review.", rows) is None


# --- merge -----------------------------------------------------------------------------------
def test_merge_text_keeps_both_sides_edits():
    base = "Classify the review. Be brief."
    left = "Classify the review. Be brief. Sarcasm is negative."
    right = "Classify the review. Mixed reviews lean positive."
    assert merge_text(base, left, right) == "Classify the review. Sarcasm is negative. Mixed reviews lean positive."
    assert merge_text(base, base, right) == right and merge_text(base, left, base) == left


def test_merge_candidates_takes_each_changed_component():
    demo = Example({"review": "fine"}, "positive")
    base = Candidate(instruction="Classify.")
    left = base.with_(instruction="Classify. Watch sarcasm.")
    right = base.with_(demos=(demo,), format="plain")
    merged = merge_candidates(base, left, right)
    assert merged == Candidate(instruction="Classify. Watch sarcasm.", demos=(demo,), format="plain")
    assert merge_candidates(base, left, base) is None  # same as a parent: nothing new
