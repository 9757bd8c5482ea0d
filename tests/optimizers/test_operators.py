"""Unit tests of the model-free genetic operators (pure functions, seeded)."""

import random

import pytest

from promptlift.optimizers import operators as ops
from promptlift.types import Candidate, Example


def ex(i: int, label: str = "positive") -> Example:
    return Example({"review": f"review {i}"}, label, id=f"e{i}")


POOL = tuple(ex(i, "positive" if i % 2 == 0 else "negative") for i in range(20))


# --- instructions ----------------------------------------------------------------------------
def test_split_and_join_sentences_round_trip():
    text = "Read the review.  Decide if it is positive!   Answer with one word?"
    sentences = ops.split_sentences(text)
    assert sentences == ["Read the review.", "Decide if it is positive!", "Answer with one word?"]
    assert ops.join_sentences(sentences) == "Read the review. Decide if it is positive! Answer with one word?"


def test_join_adds_punctuation_and_drops_duplicates():
    assert ops.join_sentences(["Be brief", "be brief", "Answer."]) == "Be brief. Answer."


def test_crossover_keeps_material_from_both_parents():
    a = "A one. A two. A three."
    b = "B one. B two."
    for seed in range(20):
        child = ops.split_sentences(ops.crossover_sentences(a, b, random.Random(seed)))
        assert child[0] == "A one."  # the head always starts with a's first sentence
        assert any(s.startswith("A") for s in child) and any(s.startswith("B") for s in child)
        assert child[-1] == "B two."  # the tail always ends with b's last sentence


def test_crossover_of_one_sentence_parents_concatenates():
    assert ops.crossover_sentences("Classify it.", "Be careful.", random.Random(0)) == "Classify it. Be careful."


def test_crossover_respects_max_sentences_and_empty_parent():
    a = " ".join(f"S{i}." for i in range(10))
    assert len(ops.split_sentences(ops.crossover_sentences(a, a + " T.", random.Random(1), max_sentences=3))) <= 3
    assert ops.crossover_sentences("", "Only b.", random.Random(0)) == "Only b."


def test_crossover_is_deterministic_given_the_rng():
    a, b = "One. Two. Three.", "Four. Five. Six."
    assert ops.crossover_sentences(a, b, random.Random(7)) == ops.crossover_sentences(a, b, random.Random(7))


def test_mutate_sentences_drops_moves_or_inserts_one():
    text = "First. Second. Third."
    outcomes = {ops.mutate_sentences(text, ["Donor here."], random.Random(s)) for s in range(40)}
    lengths = {len(ops.split_sentences(o)) for o in outcomes}
    assert lengths == {2, 3, 4}  # drop, move, insert all happen
    assert any("Donor here." in o for o in outcomes)


def test_mutate_sentences_leaves_a_lone_sentence_without_donors():
    assert ops.mutate_sentences("Only one.", ["Only one."], random.Random(0)) == "Only one."


def test_sentence_difference_and_differential_mutation():
    assert ops.sentence_difference("Keep. Add this.", "keep.") == ["Add this."]
    children = [
        ops.differential_sentences("Keep. Add this.", "Keep.", "Best one.", "Current.", random.Random(seed))
        for seed in range(20)
    ]
    assert all(child.startswith("Best one.") for child in children)
    assert "Best one. Add this." in children  # the mutant itself
    assert any(child.endswith("Current.") for child in children)  # crossed with the current member


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<prompt>Decide the sentiment carefully.</prompt> blah", "Decide the sentiment carefully."),
        ("Label the review. Be brief. Then more. And more.", "Label the review. Be brief."),
        ("ok", "FALLBACK"),
        ("Instruction 1: combine the two now", "FALLBACK"),
    ],
)
def test_tidy_instruction(text, expected):
    assert ops.tidy_instruction(text, "FALLBACK", max_sentences=2) == expected


# --- demos -----------------------------------------------------------------------------------
def test_add_demo_is_new_and_balances_labels():
    demos = (ex(0, "positive"), ex(2, "positive"))
    for seed in range(10):
        out = ops.add_demo(demos, POOL, random.Random(seed), labels=("positive", "negative"))
        assert len(out) == 3 and len({d.id for d in out}) == 3
        assert [d.output for d in out].count("negative") == 1


def test_add_demo_without_fresh_examples_changes_nothing():
    assert ops.add_demo(POOL[:2], POOL[:2], random.Random(0)) == POOL[:2]


def test_drop_demo_removes_exactly_one():
    out = ops.drop_demo(POOL[:4], random.Random(3))
    assert len(out) == 3 and set(out) < set(POOL[:4])
    assert ops.drop_demo((), random.Random(0)) == ()


def test_swap_demo_keeps_size_and_label():
    demos = POOL[:4]
    for seed in range(10):
        out = ops.swap_demo(demos, POOL, random.Random(seed), labels=("positive", "negative"))
        assert len(out) == 4 and len(set(out) - set(demos)) == 1
        assert sorted(d.output for d in out) == sorted(d.output for d in demos)


def test_mutate_demos_respects_max_and_reports_the_move():
    moves = set()
    for seed in range(30):
        out, move = ops.mutate_demos(POOL[:2], POOL, random.Random(seed), max_demos=3)
        moves.add(move)
        assert len(out) == {"swap": 2, "drop": 1, "add": 3}[move]
    assert moves == {"swap", "drop", "add"}
    full, move = ops.mutate_demos(POOL[:3], POOL, random.Random(0), max_demos=3)
    assert move in {"swap", "drop"}
    assert ops.mutate_demos((), (), random.Random(0), max_demos=3) == ((), "none")


def test_crossover_demos_draws_from_both_parents():
    a, b = POOL[:2], POOL[10:14]
    sizes = set()
    for seed in range(30):
        out = ops.crossover_demos(a, b, random.Random(seed), max_demos=4)
        sizes.add(len(out))
        assert set(out) <= set(a) | set(b) and len(set(out)) == len(out)
    assert sizes == {2, 3, 4}
    assert len(ops.crossover_demos(POOL[:4], POOL[4:8], random.Random(0), max_demos=2)) <= 2


def test_differential_demos_adds_the_donor_difference_to_best():
    a, b, best = (ex(1), ex(2)), (ex(2),), (ex(5),)
    for seed in range(10):
        out = ops.differential_demos(a, b, best, (), random.Random(seed), max_demos=4)
        assert set(out) <= {ex(1), ex(5)}
    mutants = [ops.differential_demos(a, b, best, (ex(9),), random.Random(s), 4) for s in range(20)]
    assert (ex(5), ex(1)) in mutants  # the pure mutant: best plus what a has and b lacks


# --- selection and survival ------------------------------------------------------------------
def test_roulette_follows_fitness():
    rng = random.Random(0)
    picks = [ops.roulette([0.0, 1.0, 3.0], rng) for _ in range(2000)]
    assert picks.count(0) == 0
    assert 0.65 < picks.count(2) / len(picks) < 0.85
    assert {ops.roulette([0.0, 0.0], random.Random(s)) for s in range(20)} == {0, 1}


def test_tournament_picks_the_fittest_entrant():
    assert ops.tournament([0.1, 0.9, 0.5], random.Random(0), size=3) == 1
    picks = {ops.tournament([0.1, 0.9, 0.5], random.Random(s), size=2) for s in range(30)}
    assert 0 not in picks  # the weakest can never win a 2-way tournament


def individual(trial: int, fitness: float) -> ops.Individual:
    return ops.Individual(Candidate(instruction=f"instruction {trial}"), trial, fitness)


def test_ga_survivors_keep_the_best_earliest_first():
    population = [individual(0, 0.5), individual(1, 0.9), individual(2, 0.9), individual(3, 0.1)]
    assert ops.ga_survivors(population[::-1], 2) == [individual(1, 0.9), individual(2, 0.9)]


def test_de_replace_fills_then_replaces_only_if_not_worse():
    slots = ops.de_replace([individual(0, 0.5)], individual(1, 0.2), slot=3)
    assert slots == [individual(0, 0.5), individual(1, 0.2)]
    assert ops.de_replace(slots, individual(2, 0.1), slot=1) == slots
    assert ops.de_replace(slots, individual(2, 0.5), slot=0) == [individual(2, 0.5), individual(1, 0.2)]


def test_echoes_template_catches_a_proposer_repeating_the_request():
    template = "Instruction 1: {a}\nInstruction 2: {b}\nCombine the two instructions into one new instruction."
    parents = ["Classify the review.", "Answer positive or negative."]
    junk = 'In this instruction, I will use the phrase "Combine the two" to provide a new instruction.'
    assert ops.echoes_template(junk, template, parents)
    assert not ops.echoes_template("Classify the review as positive or negative.", template, parents)
    # a phrase the parents share with the template is not an echo
    assert not ops.echoes_template("Combine the two clues.", template, ["Combine the two clues."])


def test_on_topic_needs_a_content_word_of_the_parents():
    parents = ["Classify the sentiment of the movie review as positive or negative."]
    assert ops.on_topic("The movie review I am looking for is a positive sentiment.", parents)
    assert not ops.on_topic("I'm not sure how to put this suggestion into words.", parents)
    assert not ops.on_topic("This is a cross-platform code.", parents)
    assert ops.on_topic("Anything at all.", [])


def test_tidy_instruction_applies_the_echo_and_topic_filters():
    parents = ["Classify the sentiment of the review."]
    template = "Rewrite this instruction in other words. Keep its meaning.\nInstruction: {a}\nNew instruction:"
    assert ops.tidy_instruction("Say what the review feels.", "F", parents=parents, template=template) == \
        "Say what the review feels."
    assert ops.tidy_instruction("Rewrite this instruction about the review.", "F", parents=parents,
                                template=template) == "F"
    assert ops.tidy_instruction("Here is a recipe for bread.", "F", parents=parents, template=template) == "F"


def test_proposals_about_proposing_or_hard_coding_one_label_are_rejected():
    from promptlift.optimizers.propose import rejected

    labels = ("positive", "negative")
    assert "about proposing" in rejected("Reply with the new instruction only.", labels)
    assert "about proposing" in rejected("Here is the improved prompt for you.")
    assert rejected("Always answer positive.", labels) == "it hard-codes the label 'positive'"
    assert rejected("The sentiment is negative.", labels) == "it hard-codes the label 'negative'"
    assert rejected("Answer positive if the critic liked the film, negative otherwise.", labels) is None
    assert rejected("Read the review carefully and classify its sentiment.", labels) is None
    assert rejected("Answer positive.", ("positive",)) is None  # one label: nothing to hard-code against
