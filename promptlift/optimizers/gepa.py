"""GEPA: reflective instruction evolution over a per-example Pareto pool (Agrawal et al., 2025).

Each iteration:

1. A parent is drawn from the Pareto frontier of the pool on the validation split, weighted
   by how many validation examples it leads (``pareto.Pool.select``); ``parents_per_step``
   parents are drawn, each with its own minibatch.
2. A minibatch of training examples is scored with the parent (scores already known for the
   same candidate and example are reused: the task model is deterministic).
3. The proposer model reads the parent's instruction with the minibatch's inputs, outputs,
   expected outputs, scores, metric feedback and (choice tasks) the model's confidence, and
   writes a new instruction (``reflection``), ``children_per_parent`` times; all the step's
   proposer calls go out as one batch. An unusable answer (chatter, a copied example, the
   same text) is dropped before any metric call and asked again up to ``draws`` times.
4. The children are scored on their parents' minibatches in one batch; a child is kept only
   if it beats its parent there (or ties, with ``acceptance="improvement_or_equal"``); the
   kept ones are scored on the full validation split and join the pool, as many as the
   budget pays while keeping a step and one validation in hand; the others wait.
5. After an accepted child, a merge may be tried: two frontier entries that share an
   ancestor are combined component by component (``merge``), checked on a few validation
   examples where the two disagree, and validated if no worse than both there.

The end of a metric-call budget: the search steps while the budget left pays a step's
minibatches and one validation; when it no longer does, the validation kept in hand goes to
the best child still waiting (accepted ones first, then the largest minibatch gain; trial
stage ``"last"``). So a run spends its budget to within a step's minibatches, whichever
children are accepted, and the plan's call counts hold to a few percent (``gepa_walk``);
the last validation is a whole one, so its child can be the best like any other.

Every score comes from ``Run.evaluate`` (``evaluate_many`` for a batch), so budget, cache, trial log and resume are the
common ones. Lineage goes into ``Trial.parents`` (trial numbers of validation trials); see
``promptlift.lineage.lineage`` for the tree.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from promptlift import calibration
from promptlift.checks import is_number
from promptlift.errors import ConfigError
from promptlift.optimizers import options
from promptlift.optimizers.base import Optimizer
from promptlift.optimizers.merge import merge_candidates
from promptlift.optimizers.pareto import Pool, PoolEntry
from promptlift.optimizers.propose import credit, drafts
from promptlift.optimizers.reflection import (
    DEFAULT_TEMPLATE,
    Outcome,
    build_prompt,
    check_template,
    parse_proposal,
    records,
)
from promptlift.optimizers.reflection import confidence as answer_confidence
from promptlift.run import Job, Run
from promptlift.types import Candidate, Example, Usage

if TYPE_CHECKING:
    from promptlift.backends.base import Backend
    from promptlift.budget import Budget
    from promptlift.optimizers.plan import Calls
    from promptlift.result import Trial
    from promptlift.tasks.base import Task

log = logging.getLogger(__name__)

ACCEPTANCE = ("strict_improvement", "improvement_or_equal")
Memo = dict[tuple[str, str], tuple[float, str, str, float | None]]  # (candidate key, example id) ->
# score, output, feedback, confidence


@dataclasses.dataclass(frozen=True, kw_only=True)
class GEPA(Optimizer):
    """Reflective prompt evolution with a per-example Pareto pool and merges.

    minibatch_size: training examples per reflection (parent and child are compared on them).
    reflection_examples: at most this many minibatch examples are shown to the proposer,
    worst first; example_chars: each shown field is cut to this many characters.
    draws: proposer answers tried per reflection until one is usable.
    temperature, proposal_tokens: sampling settings of the proposer.
    template: the reflection prompt (holds ``<instruction>`` and ``<examples>``, may hold ``<task>``).
    merge, max_merges, merge_examples: merges of frontier entries sharing an ancestor, at
    most ``max_merges`` accepted, each checked on ``merge_examples`` validation examples.
    skip_perfect: no reflection when the parent is perfect on the minibatch.
    reuse_scores: reuse scores already measured for the same candidate and example.
    max_iterations: iterations at most; patience: stop after this many iterations in a row
    that spent no metric call (the proposer keeps writing unusable text).
    calibrate: None, "contextual", "batch" or "auto" (contextual on a classification task):
    the seed is calibrated and validated before the loop, and every child and merge gets its
    own bias measured before it is scored (a bias belongs to one prompt; a parent's is stale).
    parents_per_step, children_per_parent: P parents a step, N children each (gepa's PxN
    sampling, a minibatch per parent): the P*N proposer calls go out as one batch and the
    children are scored on their minibatches in one batch, so a backend that serves requests
    concurrently (torch batches, an API server's slots) does the work at once; 1 and 1 is
    the classic one-child step.
    acceptance: "strict_improvement" (a child must beat its parent's minibatch total) or
    "improvement_or_equal" (a tie is enough); every accepted child is validated.
    confidence: each verdict the proposer reads carries the model's probability of its answer
    ("wrong: 97% sure of 'negative'"); None: on for a choice-scored task.
    """

    name = "gepa"
    minibatch_size: int = 3
    reflection_examples: int = 3
    example_chars: int = 200
    draws: int = 2
    temperature: float = 0.7
    proposal_tokens: int = 120
    template: str = DEFAULT_TEMPLATE
    merge: bool = True
    max_merges: int = 5
    merge_examples: int = 5
    skip_perfect: bool = True
    reuse_scores: bool = True
    max_iterations: int = 500
    patience: int = 20
    calibrate: str | None = None
    parents_per_step: int = 1
    children_per_parent: int = 1
    acceptance: str = "strict_improvement"
    confidence: bool | None = None

    def _check(self) -> None:
        for name, low in (("minibatch_size", 1), ("reflection_examples", 1), ("example_chars", 20), ("draws", 1),
                          ("proposal_tokens", 8), ("max_merges", 0), ("merge_examples", 1),
                          ("max_iterations", 1), ("patience", 1), ("parents_per_step", 1),
                          ("children_per_parent", 1)):
            self.require_int(name, low)
        self.require("temperature", is_number(self.temperature) and 0 <= self.temperature <= 2,
                     "a float in [0, 2]")
        self.require("template", isinstance(self.template, str) and check_template(self.template) is None,
                     "a str holding the placeholders <instruction> and <examples>")
        options.check(self)  # calibrate, as every optimizer that offers it
        for name in ("merge", "skip_perfect", "reuse_scores"):
            self.require(name, isinstance(getattr(self, name), bool), "a bool")
        self.require("acceptance", self.acceptance in ACCEPTANCE, f"one of {list(ACCEPTANCE)}")
        self.require("confidence", self.confidence is None or isinstance(self.confidence, bool), "None or a bool")

    # --- the loop ------------------------------------------------------------------------
    def _calls(self, task: Task, backend: Backend, budget: Budget) -> Calls:
        """The plan's call pattern (``Optimizer.plan``): :func:`promptlift.optimizers.patterns.gepa`."""
        from promptlift.optimizers import patterns

        return patterns.gepa(self, task, backend, budget)

    def _search(self, run: Run) -> None:
        if not run.task.train:
            raise ConfigError(f"GEPA needs training examples for its minibatches; task {run.task.name!r} has none.")
        state = _State(pool=Pool(), minibatches=_Minibatches(run.task.train, self.minibatch_size))
        seed = run.val_trials()[0]
        state.pool.add(seed.candidate, seed.number, seed.example_ids, seed.scores)
        state.seen.add(seed.candidate.key)
        if self.calibrate and self._affordable(run):
            self._add_calibrated_seed(run, state, seed.candidate, seed.number)
        idle = 0
        for iteration in range(self.max_iterations):
            if not self._affordable(run):
                log.info("gepa: the budget left pays one more validation, not another step; stopping")
                break
            spent = run.metric_calls
            if not (state.merges_due and self._merge_affordable(run) and self._merge(run, state, iteration)):
                self._reflect(run, state, iteration)
            idle = 0 if run.metric_calls > spent else idle + 1
            if idle >= self.patience:
                log.info("gepa: %d iterations without a usable proposal; stopping", idle)
                break
        self._validate_last(run, state)

    def _bare(self, candidate: Candidate) -> Candidate:
        """With ``calibrate``, a new prompt's identity without the bias it inherited (novelty
        checks compare prompts; the bias is measured afresh by ``_calibrated``)."""
        return candidate.with_(calibration=()) if self.calibrate else candidate

    def _calibrated(self, run: Run, candidate: Candidate) -> Candidate:
        """``candidate`` with its own bias measured (``calibrate``), or as it is."""
        return calibration.calibrate(run, candidate, self.calibrate) if self.calibrate else candidate

    def _add_calibrated_seed(self, run: Run, state: _State, seed: Candidate, number: int) -> None:
        candidate = self._calibrated(run, seed)
        if candidate == seed:  # e.g. "auto" on a generation task: nothing to calibrate
            return
        val = run.validate(candidate, parents=(number,), info={"stage": "calibrated seed"}).trial
        state.pool.add(candidate, val.number, val.example_ids, val.scores, parents=(0,))

    def _reserve(self, run: Run) -> int:
        """The metric calls of the smallest step: its parents' minibatches and one child's."""
        return (self.parents_per_step + 1) * min(self.minibatch_size, len(run.task.train))

    def _affordable(self, run: Run) -> bool:
        """Whether the budget left pays a step and still one validation after it."""
        return run.affords_validation(self._reserve(run))

    def _merge_affordable(self, run: Run) -> bool:
        """Whether a merge's check and validation leave a step and one validation in hand."""
        return run.affords_validation(self.merge_examples + len(run.task.val) + self._reserve(run))

    # --- reflective mutation ---------------------------------------------------------------
    def _reflect(self, run: Run, state: _State, iteration: int) -> str:
        """One reflective step: P parents, N children each; returns what happened (for logs and tests)."""
        picks = [(state.pool.select(run.rng), state.minibatches.next(run.rng)) for _ in range(self.parents_per_step)]
        info = {"stage": "minibatch", "of": "parent", "iteration": iteration}
        befores = self._outcomes(run, state, [(m.candidate, batch, (m.trial,)) for m, batch in picks], info)
        work = [(m, batch, before) for (m, batch), before in zip(picks, befores)
                if not (self.skip_perfect and all(s >= 1.0 for s in before.scores))]
        if not work:
            return "perfect"
        children = self._propose(run, state, work)
        if not children:
            return "unusable"
        info = {"stage": "minibatch", "of": "child", "iteration": iteration}
        afters = self._outcomes(run, state, [(c.candidate, c.batch, (c.parent.trial,)) for c in children], info)
        accepted = []
        for c, after in zip(children, afters):
            if self._accepts(after.total, c.before.total):
                accepted.append((c, after))
            else:
                log.info("gepa %d: child rejected on the minibatch (%.2f vs %.2f)", iteration, after.total,
                         c.before.total)
                state.waiting.append(_Waiting(c, after, False, iteration))
        if not accepted:
            return "rejected"
        return "accepted" if self._validate_children(run, state, accepted, iteration) else "waiting"

    def _accepts(self, after: float, before: float) -> bool:
        return after > before or (self.acceptance == "improvement_or_equal" and after >= before)

    def _validate_children(self, run: Run, state: _State, accepted: list[tuple[_Child, Outcome]],
                           iteration: int) -> int:
        """Validate the accepted children in one batch (the largest minibatch gains first, as many as
        the budget pays while keeping a step and one validation in hand) and add them to the pool;
        the others wait for the last validation. Returns how many were validated."""
        accepted = sorted(accepted, key=lambda pair: -(pair[1].total - pair[0].before.total))
        n_val, left = len(run.task.val), run.remaining_metric_calls()
        now = len(accepted) if left is None else max(0, min(len(accepted), (left - n_val - self._reserve(run)) // n_val))
        state.waiting.extend(_Waiting(c, after, True, iteration) for c, after in accepted[now:])
        jobs = [Job(c.candidate, run.task.val, "val", (c.parent.trial,),
                    {"stage": "reflection", "iteration": iteration, "minibatch": [c.before.total, after.total]})
                for c, after in accepted[:now]]
        for (c, _), evaluation in zip(accepted, run.evaluate_many(jobs) if jobs else ()):
            self._join(state, c, evaluation.trial)
            log.info("gepa %d: child of trial %d accepted, val %.4f", iteration, c.parent.trial,
                     evaluation.trial.mean)
        return now

    def _join(self, state: _State, child: _Child, val: Trial) -> None:
        """Add a validated child to the pool (and make a merge due)."""
        state.pool.add(child.candidate, val.number, val.example_ids, val.scores, parents=(child.parent.index,))
        if self.merge and state.merges_done + state.merges_due < self.max_merges:
            state.merges_due += 1

    def _validate_last(self, run: Run, state: _State) -> None:
        """Spend the validation kept in hand on the best waiting child: accepted before rejected,
        then the largest gain on its minibatch, then the earliest (a metric-call budget only:
        without one every accepted child was validated at once)."""
        if run.remaining_metric_calls() is None or not state.waiting or not run.affords_validation():
            return
        best = best_waiting(state.waiting)
        c = best.child
        info = {"stage": "last", "iteration": best.iteration, "accepted": best.accepted,
                "minibatch": [c.before.total, best.after.total]}
        val = run.validate(c.candidate, parents=(c.parent.trial,), info=info).trial
        self._join(state, c, val)
        log.info("gepa: the last validation went to a child of trial %d (%s on its minibatch), val %.4f",
                 c.parent.trial, "accepted" if best.accepted else "rejected", val.mean)

    def _propose(self, run: Run, state: _State, work: list[tuple[PoolEntry, list[Example], Outcome]]) -> list[_Child]:
        """New candidates from the proposer's reflections: ``children_per_parent`` per parent, every
        round's proposer calls sent as one batch; a slot whose answer is unusable is asked again, up
        to ``draws`` rounds. Each child's instruction is credited with what its draws cost."""
        slots = [_Slot(m, batch, before, self._reflection(run, m, before))
                 for m, batch, before in work for _ in range(self.children_per_parent)]
        slots = slots[: self._children_affordable(run, len(slots))]
        for _ in range(self.draws):
            open_slots = [slot for slot in slots if slot.child is None]
            if not open_slots:
                break
            answers = drafts(run, [slot.prompt for slot in open_slots], temperature=self.temperature,
                             max_tokens=self.proposal_tokens)
            for slot, (answer,) in zip(open_slots, answers):
                slot.cost = slot.cost + answer.usage
                self._take(state, slot, answer.text)
        children = []
        for slot in slots:
            if slot.child is not None:
                credit(run, slot.child.instruction, slot.cost)
                children.append(_Child(self._calibrated(run, slot.child), slot.parent, slot.batch, slot.before))
        return children

    def _reflection(self, run: Run, parent: PoolEntry, before: Outcome) -> str:
        rows = records(before, self.reflection_examples)
        return build_prompt(self.template, run.task, parent.candidate.instruction, rows, self.example_chars)

    def _take(self, state: _State, slot: _Slot, text: str) -> None:
        """Fill ``slot`` with the child ``text`` proposes, if it is usable and new."""
        instruction = slot.parent.candidate.instruction
        rows = records(slot.before, self.reflection_examples)
        proposal = parse_proposal(text, instruction, rows, template=self.template)
        child = self._bare(slot.parent.candidate.with_(instruction=proposal)) if proposal else None
        if child is not None and child.key not in state.seen:
            state.seen.add(child.key)
            slot.child = child
        else:
            log.debug("gepa: unusable proposal %r", text[:200])

    def _children_affordable(self, run: Run, wanted: int) -> int:
        """How many children the budget can score on their minibatches and still validate one (>= 1)."""
        left = run.remaining_metric_calls()
        if left is None:
            return wanted
        return max(1, min(wanted, (left - len(run.task.val)) // self.minibatch_size))

    def _outcomes(self, run: Run, state: _State, items: list[tuple[Candidate, list[Example], tuple[int, ...]]],
                  info: dict[str, Any]) -> list[Outcome]:
        """Scores of each candidate on its batch: remembered ones reused, the rest evaluated in one batch."""
        jobs: list[Job] = []
        asked: set[tuple[str, str]] = set()
        for candidate, batch, parents in items:
            missing = [e for e in batch if (candidate.key, e.id) not in asked
                       and not (self.reuse_scores and (candidate.key, e.id) in state.memo)]
            asked.update((candidate.key, e.id) for e in missing)
            if missing:
                jobs.append(Job(candidate, tuple(missing), "train", parents, dict(info)))
        sure = self._confident(run)
        for evaluation in run.evaluate_many(jobs) if jobs else ():
            trial, key = evaluation.trial, evaluation.trial.candidate.key
            for i, example_id in enumerate(trial.example_ids):
                level = answer_confidence(trial.candidate, evaluation.completions[i]) if sure else None
                state.memo[(key, example_id)] = (trial.scores[i], trial.predictions[i], trial.feedback[i], level)
        outcomes = []
        for candidate, batch, _ in items:
            rows = [state.memo[(candidate.key, e.id)] for e in batch]
            outcomes.append(Outcome(tuple(batch), *(tuple(column) for column in zip(*rows))))
        return outcomes

    def _confident(self, run: Run) -> bool:
        """Whether verdicts carry the model's confidence (``confidence``; None: on a choice task)."""
        return bool(run.task.choices) if self.confidence is None else self.confidence

    # --- merge -----------------------------------------------------------------------------
    def _merge(self, run: Run, state: _State, iteration: int) -> bool:
        """Try one merge; False when no pair of frontier entries can be merged."""
        triplet = state.pool.merge_triplet(run.rng, state.tried)
        if triplet is None:
            state.merges_due = 0
            return False
        a, b, ancestor = triplet
        state.tried.add((a.index, b.index, ancestor.index))
        better, other = (a, b) if a.mean >= b.mean else (b, a)
        merged = merge_candidates(ancestor.candidate, better.candidate, other.candidate)
        merged = self._bare(merged) if merged is not None else None
        if merged is None or merged.key in state.seen:
            return False
        state.seen.add(merged.key)
        merged = self._calibrated(run, merged)
        ids = state.pool.disagreement(a, b, self.merge_examples, run.rng)
        by_id = {e.id: e for e in run.task.val}
        parents = (a.trial, b.trial)
        info = {"stage": "merge-check", "iteration": iteration, "ancestor": ancestor.trial}
        check = run.evaluate(merged, [by_id[i] for i in ids], role="merge", parents=parents, info=info).trial
        bar = max(sum(a.scores[i] for i in ids), sum(b.scores[i] for i in ids))
        if sum(check.scores) < bar:
            log.info("gepa %d: merge of trials %d and %d rejected (%.2f < %.2f)", iteration, *parents,
                     sum(check.scores), bar)
            return True
        info = {"stage": "merge", "iteration": iteration, "ancestor": ancestor.trial}
        val = run.validate(merged, parents=parents, info=info).trial
        state.pool.add(merged, val.number, val.example_ids, val.scores, parents=(a.index, b.index))
        state.merges_due -= 1
        state.merges_done += 1
        log.info("gepa %d: merge of trials %d and %d accepted, val %.4f", iteration, *parents, val.mean)
        return True


@dataclass
class _Minibatches:
    """Epoch-shuffled minibatches of the training split (seeded by the run)."""

    train: Sequence[Example]
    size: int
    order: list[Example] = field(default_factory=list)
    position: int = 0

    def next(self, rng: Any) -> list[Example]:
        size = min(self.size, len(self.train))
        if self.position + size > len(self.order):
            self.order = list(self.train)
            rng.shuffle(self.order)
            self.position = 0
        batch = self.order[self.position : self.position + size]
        self.position += size
        return batch


@dataclass
class _Slot:
    """One child being asked for: its parent, minibatch, the parent's outcome and the reflection prompt."""

    parent: PoolEntry
    batch: list[Example]
    before: Outcome
    prompt: str
    child: Candidate | None = None
    cost: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class _Child:
    candidate: Candidate
    parent: PoolEntry
    batch: list[Example]
    before: Outcome


@dataclass(frozen=True)
class _Waiting:
    """A child scored on its minibatch and not validated: a candidate for the last validation."""

    child: _Child
    after: Outcome
    accepted: bool
    iteration: int

    @property
    def gain(self) -> float:
        return self.after.total - self.child.before.total


def best_waiting(waiting: Sequence[_Waiting]) -> _Waiting:
    """The waiting child the last validation goes to: accepted before rejected, then the largest
    gain on its minibatch, then the earliest."""
    return max(enumerate(waiting), key=lambda pair: (pair[1].accepted, pair[1].gain, -pair[0]))[1]


@dataclass
class _State:
    """What one GEPA search knows (owned by ``_search``; never stored on the optimizer)."""

    pool: Pool
    minibatches: _Minibatches
    memo: Memo = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    tried: set[tuple[int, int, int]] = field(default_factory=set)
    waiting: list[_Waiting] = field(default_factory=list)
    merges_due: int = 0
    merges_done: int = 0
