"""GeneticSearch: EvoPrompt's GA and DE over instructions and demo sets, with successive halving.

The population starts from the seed candidate plus proposer paraphrases of its instruction
(each with a random demo set). Every generation makes ``population_size`` children:

- ``mode="ga"`` (EvoPrompt-GA): two parents chosen by roulette or tournament; the proposer
  model crosses over and mutates their instructions; survival keeps the best
  ``population_size`` of parents and children (elitist).
- ``mode="de"`` (EvoPrompt-DE): for each individual, the proposer takes what differs between
  two donors, applies it to the best individual, and crosses the result with the individual;
  the child replaces the individual if it scores at least as well on validation.

With probability ``1 - proposer_rate`` (and whenever the proposer's answer is unusable) the
model-free operators in ``operators.py`` do the same job on sentences, and demo sets are
always crossed over and mutated (swap, add, drop) without a model: a 135M proposer writes
poor text, and the search must stay useful then.

Children are scored by successive halving: all on a small train minibatch, the best
``1/eta`` on ``eta`` times more examples, ..., and only the finalists on the full
validation split (the scores survival and ``Result.best`` use). Trials carry
``info={"generation", "rung", "operator", ...}`` and their parents' validation trials.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from promptlift import calibration, verbalizers
from promptlift.checks import is_number
from promptlift.demos import draw_demos
from promptlift.optimizers import operators as ops
from promptlift.optimizers.base import Optimizer
from promptlift.optimizers.operators import Individual
from promptlift.optimizers.options import Calibrate, Formats, PromptOptions, Verbalizers
from promptlift.optimizers.propose import credit, drafts, extract_instruction, rejected
from promptlift.optimizers.renames import renamed
from promptlift.result import Result, Trial
from promptlift.run import Run
from promptlift.types import Candidate, Completion, Example

if TYPE_CHECKING:
    from promptlift.backends.base import Backend
    from promptlift.budget import Budget
    from promptlift.optimizers.plan import Calls
    from promptlift.tasks.base import Task

log = logging.getLogger(__name__)

MODES = ("ga", "de")
SELECTIONS = ("tournament", "roulette")

PARAPHRASE = "Rewrite this instruction in other words. Keep its meaning.\nInstruction: {a}\nNew instruction:"
GA_TEMPLATE = (
    "Instruction 1: {a}\nInstruction 2: {b}\n"
    "Combine the two instructions into one new instruction, then change a few words. "
    "Reply with the new instruction only."
)
DE_TEMPLATE = (
    "Instruction 1: {a}\nInstruction 2: {b}\nInstruction 3: {best}\nInstruction 4: {current}\n"
    "Take what Instruction 1 says that Instruction 2 does not, add it to Instruction 3, "
    "then mix in Instruction 4. Reply with the new instruction only."
)


@dataclass(frozen=True)
class Child:
    """A proposed candidate waiting to be scored, with its lineage."""

    candidate: Candidate
    parents: tuple[int, ...]
    operator: str
    slot: int = 0


@dataclass
class _State:
    """What one search keeps between generations (lives in ``_search``, never on the optimizer)."""

    demo_pool: tuple[Example, ...]
    batch_pool: tuple[Example, ...]
    labels: tuple[str, ...]
    seen: set[Candidate]
    formats: tuple[str, ...] = ()
    verbalizers: tuple[tuple[str, ...], ...] = ()


@renamed(minibatch="minibatch_size", max_demos="k")
@dataclasses.dataclass(frozen=True, kw_only=True)
class GeneticSearch(PromptOptions, Optimizer):
    """Evolutionary search (EvoPrompt GA or DE) over instructions and demos.

    mode: "ga" or "de". population_size: individuals kept (and children per generation).
    generations: at most this many generations after the initial population.
    selection, tournament_size: GA parent selection ("tournament" or "roulette").
    minibatch_size, rungs, eta: successive halving; rung r scores ``minibatch_size * eta**r``
    train examples and keeps the best ``1/eta``; the survivors of the last rung are validated.
    k: demos per candidate at most (0 searches instructions only).
    proposer_rate: chance a child's instruction is written by the proposer model.
    mutation_rate: chance of an extra model-free mutation of the child's demos / sentences.
    max_sentences: longest instruction kept, in sentences.
    proposal_tokens: most tokens the proposer may write per proposal.
    formats, verbalizers, calibrate: the prompt options (see :mod:`promptlift.optimizers.options`);
    searched formats and verbalizers are genes (inherited from a parent, sometimes redrawn);
    every child is calibrated before scoring. ``minibatch`` and ``max_demos`` are the old names
    of ``minibatch_size`` and ``k`` (accepted with a DeprecationWarning until the next release).
    """

    name = "genetic"
    mode: str = "ga"
    population_size: int = 6
    generations: int = 10
    selection: str = "tournament"
    tournament_size: int = 2
    minibatch_size: int = 8
    rungs: int = 2
    eta: int = 2
    k: int = 4
    proposer_rate: float = 0.5
    mutation_rate: float = 0.5
    max_sentences: int = 6
    proposal_tokens: int = 64
    formats: Formats = ()
    verbalizers: Verbalizers = ()
    calibrate: Calibrate = None

    def _check(self) -> None:
        self.require("mode", self.mode in MODES, f"one of {MODES}")
        self.require_int("population_size", 3 if self.mode == "de" else 2)
        self.require_int("generations", 0)
        if self.generations == 0:
            log.warning("GeneticSearch with generations=0 scores the initial population only: no search")
        self.require("selection", self.selection in SELECTIONS, f"one of {SELECTIONS}")
        self.require_int("tournament_size", 1)
        self.require_int("minibatch_size", 1)
        self.require_int("rungs", 0)
        self.require_int("eta", 2)
        self.require_int("k", 0)
        self.require("proposer_rate", _rate(self.proposer_rate), "a float in [0, 1]")
        self.require("mutation_rate", _rate(self.mutation_rate), "a float in [0, 1]")
        self.require_int("max_sentences", 1)
        self.require_int("proposal_tokens", 1)

    def save_plots(self, result: Result, directory: Path) -> None:
        """``generations.png``: best and mean population score per generation."""
        from promptlift.optimizers.genetic_plots import plot_generations

        plot_generations(result, Path(directory) / "generations.png")

    # --- the loop ---------------------------------------------------------------------------
    def _calls(self, task: Task, backend: Backend, budget: Budget) -> Calls:
        """The plan's call pattern (``Optimizer.plan``): :func:`promptlift.optimizers.patterns.genetic`."""
        from promptlift.optimizers import patterns

        instruction = task.seed.instruction
        prompt = (GA_TEMPLATE.format(a=instruction, b=instruction) if self.mode == "ga"
                  else PARAPHRASE.format(a=instruction))
        return patterns.genetic(self, task, backend, budget, proposer_prompt=prompt)

    def _search(self, run: Run) -> None:
        state = self._state(run)
        seed = run.val_trials()[0]
        state.seen.add(seed.candidate)
        population = [Individual(seed.candidate, seed.number, seed.mean)]
        for generation in range(self.generations + 1):
            wanted = self.population_size - 1 if generation == 0 else self.population_size
            n = self._affordable(run, state, wanted)
            if n == 0:
                log.info("genetic: the budget left cannot score another generation")
                return
            make = self._initial if generation == 0 else self._offspring
            children = make(run, state, population, n)
            finalists = self._halve(run, children, state.batch_pool, generation)
            population = self._survive(population, finalists)
            fitness = [i.fitness for i in population]
            log.info("genetic: generation %d best %.4f mean %.4f (%d individuals)", generation,
                     max(fitness), _mean(fitness), len(population))

    def _state(self, run: Run) -> _State:
        train = run.sample(run.task.train, len(run.task.train))  # a seeded shuffle
        if self.k and len(train) >= 2:
            demo_pool, batch_pool = train[: len(train) // 2], train[len(train) // 2 :]
        else:
            demo_pool, batch_pool = ([], train)
        fmts, words = self.search_formats(run), self.search_verbalizers(run)
        return _State(tuple(demo_pool), tuple(batch_pool or run.task.val), tuple(run.task.choices), set(),
                      fmts, words)

    def _affordable(self, run: Run, state: _State, wanted: int) -> int:
        """How many children (at most ``wanted``) the metric-call budget left can score in full."""
        left = run.remaining_metric_calls()
        if left is None:
            return wanted
        sizes = (len(state.batch_pool), len(run.task.val))
        return next((n for n in range(wanted, 0, -1) if self.generation_cost(n, *sizes) <= left), 0)

    def generation_cost(self, children: int, pool: int, val: int) -> int:
        """Metric calls that successive halving spends on ``children`` (``pool`` minibatch examples)."""
        alive, cost, start = children, 0, 0
        for rung in range(self.rungs):
            end = min(self.minibatch_size * self.eta**rung, pool)
            cost += alive * (end - start)
            start = end
            alive = max(1, math.ceil(alive / self.eta))
        return cost + alive * val

    def _survive(self, population: list[Individual], finalists: list[tuple[Child, Trial]]) -> list[Individual]:
        children = [(c.slot, Individual(c.candidate, t.number, t.mean)) for c, t in finalists]
        if self.mode == "ga":
            every = {i.trial: i for i in population} | {i.trial: i for _, i in children}
            return ops.ga_survivors(list(every.values()), self.population_size)
        for slot, child in children:
            population = ops.de_replace(population, child, slot)
        return population

    # --- successive halving -----------------------------------------------------------------
    def _halve(self, run: Run, children: list[Child], pool: Sequence[Example], generation: int
               ) -> list[tuple[Child, Trial]]:
        """Score children on growing minibatches; validate the survivors of the last rung."""
        if not children:
            return []
        batch = run.sample(pool, self.minibatch_size * self.eta ** (self.rungs - 1)) if self.rungs else []
        scores: dict[int, list[float]] = {i: [] for i in range(len(children))}
        alive, start = list(range(len(children))), 0
        for rung in range(self.rungs):
            end = min(self.minibatch_size * self.eta**rung, len(batch))
            for i in (alive if end > start else ()):
                child = children[i]
                evaluation = run.evaluate(child.candidate, batch[start:end], parents=child.parents,
                                          info=self._info(child, generation, rung))
                scores[i].extend(evaluation.trial.scores)
            start = end
            keep = max(1, math.ceil(len(alive) / self.eta))
            alive = sorted(alive, key=lambda i: (-_mean(scores[i]), i))[:keep]
        return [
            (children[i], run.validate(children[i].candidate, parents=children[i].parents,
                                       info=self._info(children[i], generation, self.rungs)).trial)
            for i in sorted(alive)
        ]

    def _info(self, child: Child, generation: int, rung: int) -> dict[str, Any]:
        info: dict[str, Any] = {"generation": generation, "rung": rung, "operator": child.operator,
                                "mode": self.mode}
        if self.mode == "de":
            info["slot"] = child.slot
        return info

    # --- making children --------------------------------------------------------------------
    def _initial(self, run: Run, state: _State, population: list[Individual], n: int) -> list[Child]:
        """``n`` proposer paraphrases of the seed instruction, each with a random demo set."""
        seed = population[0]
        (answers,) = drafts(run, [PARAPHRASE.format(a=seed.candidate.instruction)], n=n,
                            max_tokens=self.proposal_tokens)
        children = []
        for slot, answer in enumerate(answers, start=1):
            instruction = self._tidy(answer.text, seed.candidate.instruction, [seed.candidate.instruction],
                                     PARAPHRASE, run.task.choices)
            operator = "paraphrase" if instruction != seed.candidate.instruction else "seed"
            if operator == "paraphrase":
                credit(run, instruction, answer)
            k = self._demo_count(run, state)
            demos = tuple(draw_demos(state.demo_pool, k, run.rng, state.labels)) if k else seed.candidate.demos
            candidate = self._dress(run, state, seed.candidate.with_(instruction=instruction, demos=demos),
                                    (seed.candidate,), redraw=True)
            child = self._novel(run, state, Child(candidate, (seed.trial,), operator, slot), population)
            if child is not None:
                children.append(child)
        return children

    def _offspring(self, run: Run, state: _State, population: list[Individual], n: int) -> list[Child]:
        children = []
        for slot in range(n):
            child = self._ga_child(run, state, population) if self.mode == "ga" else \
                self._de_child(run, state, population, slot)
            novel = self._novel(run, state, child, population)
            if novel is not None:
                children.append(novel)
        return children

    def _select(self, run: Run, population: list[Individual]) -> Individual:
        fitness = [i.fitness for i in population]
        if self.selection == "roulette":
            return population[ops.roulette(fitness, run.rng)]
        return population[ops.tournament(fitness, run.rng, self.tournament_size)]

    def _ga_child(self, run: Run, state: _State, population: list[Individual]) -> Child:
        a = self._select(run, population)
        b = self._select(run, [m for m in population if m is not a] or population)
        first, second = a.candidate, b.candidate
        instruction, operator = "", "sentence"
        if run.rng.random() < self.proposer_rate:
            prompt = GA_TEMPLATE.format(a=first.instruction, b=second.instruction)
            answer = self._ask(run, prompt)
            instruction = credit(run, self._tidy(answer.text, "", [first.instruction, second.instruction],
                                                 GA_TEMPLATE, run.task.choices), answer)
            operator = "lm"
        if not instruction:
            instruction, operator = ops.crossover_sentences(first.instruction, second.instruction, run.rng,
                                                            self.max_sentences), "sentence"
            if run.rng.random() < self.mutation_rate:
                instruction = self._mutate_text(run, instruction, population)
        demos = ops.crossover_demos(first.demos, second.demos, run.rng, self.k) if self.k \
            else first.demos
        demos = self._maybe_mutate_demos(run, state, demos)
        parents = tuple(dict.fromkeys((a.trial, b.trial)))
        candidate = self._dress(run, state, first.with_(instruction=instruction, demos=demos), (first, second))
        return Child(candidate, parents, operator)

    def _de_child(self, run: Run, state: _State, population: list[Individual], slot: int) -> Child:
        current = population[slot] if slot < len(population) else run.rng.choice(population)
        others = [m for m in population if m is not current] or population
        a, b = run.sample(others, 2) if len(others) >= 2 else (others[0], current)
        best = max(population, key=lambda i: (i.fitness, -i.trial))
        names = {"a": a.candidate.instruction, "b": b.candidate.instruction,
                 "best": best.candidate.instruction, "current": current.candidate.instruction}
        instruction, operator = "", "sentence"
        if run.rng.random() < self.proposer_rate:
            answer = self._ask(run, DE_TEMPLATE.format(**names))
            instruction = self._tidy(answer.text, "", list(names.values()), DE_TEMPLATE, run.task.choices)
            instruction, operator = credit(run, instruction, answer), "lm"
        if not instruction:
            instruction = ops.differential_sentences(names["a"], names["b"], names["best"], names["current"],
                                                     run.rng, self.max_sentences)
            operator = "sentence"
        demos = current.candidate.demos
        if self.k:
            demos = ops.differential_demos(a.candidate.demos, b.candidate.demos, best.candidate.demos,
                                           current.candidate.demos, run.rng, self.k)
        demos = self._maybe_mutate_demos(run, state, demos)
        parents = tuple(dict.fromkeys((a.trial, b.trial, best.trial, current.trial)))
        candidate = self._dress(run, state, current.candidate.with_(instruction=instruction, demos=demos),
                                (current.candidate, best.candidate))
        return Child(candidate, parents, operator, slot)

    def _novel(self, run: Run, state: _State, child: Child, population: list[Individual]) -> Child | None:
        """The child if unseen, else up to three model-free mutations of it; None if all were seen."""
        for _ in range(3):
            if child.candidate not in state.seen:
                state.seen.add(child.candidate)
                if self.calibrate:  # the bias is measured after the novelty check, on the final prompt
                    calibrated = calibration.calibrate(run, child.candidate, self.calibration_method(run))
                    child = dataclasses.replace(child, candidate=calibrated)
                return child
            candidate = child.candidate
            if self.k and state.demo_pool and run.rng.random() < 0.7:
                demos, _ = ops.mutate_demos(candidate.demos, state.demo_pool, run.rng, self.k, state.labels)
                candidate = candidate.with_(demos=demos)
            else:
                candidate = candidate.with_(instruction=self._mutate_text(run, candidate.instruction, population))
            child = dataclasses.replace(child, candidate=candidate, operator=child.operator + "+mutation")
        return None

    def _dress(self, run: Run, state: _State, candidate: Candidate, parents: Sequence[Candidate],
               redraw: bool = False) -> Candidate:
        """Format and verbalizer (when searched) from a parent, or redrawn; calibration cleared."""
        if state.formats:
            new = redraw or run.rng.random() < self.mutation_rate / 2
            fmt = run.rng.choice(state.formats) if new else run.rng.choice([p.format for p in parents])
            candidate = candidate.with_(format=fmt)
        if state.verbalizers:
            if redraw or run.rng.random() < self.mutation_rate / 2:
                candidate = verbalizers.apply(run.task, candidate, run.rng.choice(state.verbalizers))
            else:
                candidate = candidate.with_(verbalizer=run.rng.choice([p.verbalizer for p in parents]))
        return candidate.with_(calibration=())

    def _maybe_mutate_demos(self, run: Run, state: _State, demos: tuple[Example, ...]) -> tuple[Example, ...]:
        if self.k and state.demo_pool and run.rng.random() < self.mutation_rate:
            demos, _ = ops.mutate_demos(demos, state.demo_pool, run.rng, self.k, state.labels)
        return demos

    def _mutate_text(self, run: Run, text: str, population: list[Individual]) -> str:
        donors = [i.candidate.instruction for i in population]
        return ops.mutate_sentences(text, donors, run.rng, self.max_sentences) or text

    def _ask(self, run: Run, prompt: str) -> Completion:
        return drafts(run, [prompt], max_tokens=self.proposal_tokens)[0][0]

    def _tidy(self, text: str, fallback: str, parents: Sequence[str], template: str,
              labels: Sequence[str] = ()) -> str:
        tidy = ops.tidy_instruction(extract_instruction(text, ""), fallback, self.max_sentences,
                                    parents=parents, template=template)
        why = rejected(tidy, labels)
        if why:
            log.info("proposal rejected (%s): %r", why, tidy[:80])
            return fallback
        return tidy

    def _demo_count(self, run: Run, state: _State) -> int:
        """A random demo count for an initial individual, rounded up to a multiple of the labels
        (a small model copies the label mix of its demos)."""
        if not (self.k and state.demo_pool):
            return 0
        k, labels = run.rng.randint(1, self.k), len(state.labels)
        return min(self.k, math.ceil(k / labels) * labels) if 0 < labels <= self.k else k


def _rate(value: Any) -> bool:
    return is_number(value) and 0.0 <= value <= 1.0


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
