"""The call patterns of the optimizers, for their plans (``Optimizer._calls`` -> :class:`Calls`).

Each function mirrors its optimizer's ``_search`` at the level of counts: how many metric
calls the budget buys, how many task-model and proposer requests that takes, which
requests repeat one the same run made before (the response cache answers those), and the
smallest budget that validates one new candidate after the seed. Where a search depends on
what the model answers (GEPA accepts some children, a proposer writes unusable text) the
expected value is planned with the assumption stated in the plan's notes.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from promptlift import calibration, formats, verbalizers
from promptlift.budget import Budget
from promptlift.optimizers.plan import Calls
from promptlift.tasks.base import Task
from promptlift.types import Candidate, Example

if TYPE_CHECKING:
    from promptlift.backends.base import Backend
    from promptlift.optimizers.best_of_n import BestOfN
    from promptlift.optimizers.bootstrap import BootstrapFewShot
    from promptlift.optimizers.fewshot import FewShot
    from promptlift.optimizers.genetic import GeneticSearch
    from promptlift.optimizers.gepa import GEPA
    from promptlift.optimizers.joint import JointSearch
    from promptlift.optimizers.probe import LinearProbe
    from promptlift.optimizers.rft import RejectionSamplingFineTuning
    from promptlift.optimizers.similarity import SimilarityFewShot
    from promptlift.optimizers.training import GradientTraining

# GEPA's plan: the share of children accepted on the minibatch and of proposer draws unusable
# (assumed; SmolLM2 as its own proposer on sentiment accepted 2 children of 8 in the first measured
# run, benchmarks/results/plan_vs_actual.md).
GEPA_ACCEPTED = 0.25
GEPA_UNUSABLE = 0.3
GEPA_PERFECT = 0.1  # parents right on their whole minibatch (no reflection); measured since: 15 of 55 steps
RFT_ACCEPTED = 0.5  # sampled answers the metric accepts (RFT's plan, for an epochs-based training length)
PROBE_LAYERS = 30  # a backend that does not say its layer count (it cannot probe: the plan is a sketch)


def probe_requests(task: Task, method: str | None, demos: int = 0) -> int:
    """Calibration probe requests per candidate (contextual: one per content-free input)."""
    method = calibration.resolve_option(task, method)
    if method == "contextual":
        return len(calibration.CONTENT_FREE)
    if method == "batch":
        return min(calibration.BATCH_SIZE, max(0, len(task.train) - demos))
    return 0


def with_demos(task: Task, k: int, candidate: Candidate | None = None) -> Candidate:
    """``candidate`` (the seed) with ``k`` training demos, label-balanced: a typical searched prompt."""
    candidate = candidate or task.seed
    by_label: dict[str, list[Example]] = defaultdict(list)
    for example in task.train:
        by_label[example.output if task.choices else ""].append(example)
    queues = list(by_label.values())
    demos: list[Example] = []
    while len(demos) < min(k, len(task.train)):
        for queue in queues:
            if queue and len(demos) < k:
                demos.append(queue.pop(0))
    return candidate.with_(demos=tuple(demos))


def validations(task: Task, budget: Budget, *, cap: int | None = None, before: int = 0, probes: int = 0,
                samples: int = 1, typical: Candidate | None = None, first: str = "one candidate",
                notes: tuple[str, ...] = ()) -> Calls:
    """The default pattern: ``before`` metric calls, then candidates validated on the whole
    validation split (``probes`` calibration requests and ``samples`` requests per example each)
    until the budget or ``cap`` ends it."""
    n_val, limit = len(task.val), budget.metric_calls
    afford = (cap or 0) if limit is None else max(0, (limit - n_val - before) // n_val)
    n = afford if cap is None else min(cap, afford)
    metric = n_val + before + n * n_val
    return Calls(metric_calls=metric, task_requests=n_val + before + n * (n_val * samples + probes),
                 seed_requests=n_val, min_budget=2 * n_val + before, first=first, candidates=n, typical=typical,
                 notes=notes)


def fewshot(optimizer: FewShot, task: Task, backend: Backend, budget: Budget) -> Calls:
    """FewShot: calibrated zero-shot candidates first (one per format), then ``k``-demo sets."""
    fmts = formats.resolve_option(backend, task, optimizer.formats) if optimizer.formats else ()
    words = verbalizers.resolve_option(task, optimizer.verbalizers)
    method = calibration.resolve_option(task, optimizer.calibrate)
    zero = [verbalizers.apply(task, c, words[0]) if words else c for c in optimizer._zero_shot(task.seed, fmts, method)]
    if not method:
        zero = [c for c in zero if c != task.seed]  # the seed itself is not tried again
    typical = with_demos(task, optimizer.k)
    calls = validations(task, budget, cap=len(zero) + optimizer.max_candidates, probes=probe_requests(task, method),
                        typical=typical)
    n_zero = min(calls.candidates, len(zero))
    n_val = len(task.val)
    same = any(_same_requests(task, c, task.seed) for c in zero[:n_zero])  # the seed's prompt, calibrated
    return _replace(calls, seed_requests=n_val * (1 + n_zero), repeats=n_val if same else 0)


def bootstrap(optimizer: BootstrapFewShot, task: Task, backend: Backend, budget: Budget) -> Calls:
    """BootstrapFewShot: ``rounds`` teacher passes over training examples, then demo sets."""
    n_val, limit = len(task.val), budget.metric_calls
    taught = 0
    for _ in range(optimizer.rounds):
        room = optimizer.bootstrap_size if limit is None else min(optimizer.bootstrap_size, limit - taught - 2 * n_val)
        taught += max(0, min(room, len(task.train) - taught))
    typical = with_demos(task, optimizer.k + optimizer.labeled)
    calls = validations(task, budget, cap=optimizer.max_candidates, before=taught,
                        probes=probe_requests(task, optimizer.calibrate, optimizer.k), typical=typical)
    return _replace(calls, seed_requests=n_val + taught, min_budget=2 * n_val + 1)


def similarity(optimizer: SimilarityFewShot, task: Task, backend: Backend, budget: Budget) -> Calls:
    """SimilarityFewShot: one validation per point of its (k, balancing, format) grid."""
    balancing = [False, True] if optimizer.balanced is None and task.choices else [bool(optimizer.balanced)]
    fmts = formats.resolve_option(backend, task, optimizer.formats) if optimizer.formats else (None,)
    ks = list(dict.fromkeys(optimizer.ks))
    grid = [(k, b) for b in balancing for _ in fmts for k in ks]  # the order of SimilarityFewShot.grid
    calls = validations(task, budget, cap=len(grid), probes=probe_requests(task, optimizer.calibrate),
                        typical=with_demos(task, sorted(ks)[len(ks) // 2]),
                        notes=("retrieved demos are counted as a fixed set of the median k",))
    # with one demo, balancing the labels retrieves the same nearest example: the same requests again
    same = sum(1 for k, b in grid[: calls.candidates] if k == 1 and b and len(balancing) == 2)
    return _replace(calls, repeats=same * len(task.val))


def best_of_n(optimizer: BestOfN, task: Task, backend: Backend, budget: Budget) -> Calls:
    """BestOfN: the hard candidate validated once per vote count, ``votes`` requests per example."""
    n_val = len(task.val)
    calls = validations(task, budget, cap=len(optimizer.n), samples=1)
    votes = sum(optimizer.n[: calls.candidates])
    return _replace(calls, task_requests=n_val + n_val * votes, seed_requests=n_val + n_val * votes)


def probe(optimizer: LinearProbe, task: Task, backend: Backend, budget: Budget) -> Calls:
    """LinearProbe: one forward pass per training example for the features (charged as LM calls),
    then one validation per layer tried, until the budget ends it."""
    from promptlift.cache import unwrap
    from promptlift.training.probe import auto_layers

    model = getattr(unwrap(backend), "model", None)
    n_layers = int(model.config.num_hidden_layers) if model is not None else PROBE_LAYERS
    layers = auto_layers(n_layers) if optimizer.layers == "auto" else [n for n in optimizer.layers if n <= n_layers]
    calls = validations(task, budget, cap=len(layers), first="one probe")
    features = len(task.train) if calls.candidates else 0
    return _replace(calls, task_requests=calls.task_requests + features,
                    notes=(f"{features:,} of the task-model calls are the probe's features (a forward pass per "
                           "training example), charged as LM calls",))


def rft(optimizer: RejectionSamplingFineTuning, task: Task, backend: Backend, budget: Budget) -> Calls:
    """RejectionSamplingFineTuning: each round samples the training inputs under the best so far
    (a request per input on a classification task, the label drawn from its choice log-probs;
    ``samples`` per input otherwise), then trains LoRA on every answer accepted so far, validating
    as :func:`training` does. A round the budget cannot validate still samples, then ends the run."""
    n_val, limit = len(task.val), budget.metric_calls
    per_input = 1 if task.choices else optimizer.samples
    left = None if limit is None else limit - n_val
    sampled = steps = checks = 0
    for round_ in range(1, optimizer.rounds + 1):
        if left is not None and left < n_val:  # no validation left: a later round samples, then ends
            sampled += 0 if round_ == 1 else len(task.train) * per_input
            break
        sampled += len(task.train) * per_input
        wanted = optimizer.total_steps(_rft_kept(optimizer, task, round_))
        afforded = math.ceil(wanted / optimizer.eval_every)
        afforded = afforded if left is None else min(afforded, left // n_val)
        steps += _trained_steps(wanted, optimizer.eval_every, afforded)
        checks += afforded
        left = None if left is None else left - afforded * n_val
    trained = steps * optimizer.batch_size
    calls = validations(task, budget, cap=checks, first="one trained checkpoint")
    return _replace(calls, task_requests=calls.task_requests + sampled + trained,
                    notes=(f"{sampled:,} sampling requests (each round's under a newly trained candidate) and "
                           f"{trained:,} training examples (steps x batch, charged as LM calls)",
                           f"with epochs, a round trains on the answers accepted so far: {RFT_ACCEPTED:.0%} of "
                           "the samples assumed accepted"))


def _rft_kept(optimizer: RejectionSamplingFineTuning, task: Task, rounds: int) -> int:
    """Expected distinct accepted answers after ``rounds`` rounds (they accumulate; on a
    classification task an input's accepted answer is its label, so it counts once)."""
    draws = optimizer.samples * rounds
    if task.choices:
        return max(1, round(len(task.train) * (1 - (1 - RFT_ACCEPTED) ** draws)))
    return max(1, round(len(task.train) * draws * RFT_ACCEPTED))


def _trained_steps(steps: int, eval_every: int, checks: int) -> int:
    """The steps a training loop takes when the budget pays ``checks`` of its validations (it
    stops after the last one it can pay)."""
    return steps if checks >= math.ceil(steps / eval_every) else checks * eval_every


def training(optimizer: GradientTraining, task: Task, backend: Backend, budget: Budget) -> Calls:
    """The gradient rungs: a validation every ``eval_every`` steps; each training example of a
    step is charged as one LM call (it is no request to a model server)."""
    steps = optimizer.total_steps(len(task.train))
    checks = math.ceil(steps / optimizer.eval_every)
    calls = validations(task, budget, cap=checks, first="one trained checkpoint")
    trained = _trained_steps(steps, optimizer.eval_every, calls.candidates) * optimizer.batch_size
    return _replace(calls, task_requests=calls.task_requests + trained,
                    notes=(f"{trained:,} of the task-model calls are training examples (steps x batch), charged "
                           "as LM calls; early stopping may end sooner",))


def gepa(optimizer: GEPA, task: Task, backend: Backend, budget: Budget) -> Calls:
    """GEPA: per step each parent's minibatch, a reflection per child (``draws`` at most), each
    usable child's minibatch and, if accepted, its validation (when the budget keeps a step and
    one validation in hand), until the budget left pays no more step and a validation
    (``GEPA._affordable``); then the last validation, on the best waiting child. The expected
    counts are exact for that step model under the assumed shares of perfect parents, unusable
    proposals and accepted children (:func:`promptlift.optimizers.gepa_walk.walk`: the search's
    end is a walk over the budget left); merges left out."""
    from promptlift.optimizers.gepa_walk import Shares, walk
    from promptlift.optimizers.reflection import Outcome, build_prompt, records

    n_val, size = len(task.val), min(optimizer.minibatch_size, max(1, len(task.train)))
    method = calibration.resolve_option(task, optimizer.calibrate)
    probes, limit = probe_requests(task, method), budget.metric_calls
    start, requests, repeats, accepted = n_val, n_val, 0, 0
    reserve = (optimizer.parents_per_step + 1) * size  # the smallest step (GEPA._reserve)
    if method and (limit is None or limit - n_val >= n_val + reserve):  # the calibrated seed: the seed's requests again
        start, requests, repeats, accepted = start + n_val, requests + n_val + probes, n_val, 1
    shares = Shares(perfect=GEPA_PERFECT if optimizer.skip_perfect else 0.0, unusable=GEPA_UNUSABLE,
                    accepted=GEPA_ACCEPTED)
    left = None if limit is None else limit - start
    steps = walk(optimizer, shares, n_val=n_val, size=size, probes=probes, left=left)
    batch = task.train[:size]
    outcome = Outcome(tuple(batch), tuple(0.0 for _ in batch), tuple(e.output for e in batch),
                      tuple(f"expected {e.output!r}" for e in batch))
    prompt = build_prompt(optimizer.template, task, task.seed.instruction,
                          records(outcome, optimizer.reflection_examples), optimizer.example_chars)
    spread = () if limit is None else (f"GEPA steps while the budget left pays a step and a validation, then "
                                       f"validates the best waiting child: {start + steps.low:,}-"
                                       f"{start + steps.high:,} metric calls (10th-90th percentile), "
                                       f"{steps.proposer:.0f} proposer requests expected",)
    return Calls(metric_calls=round(start + steps.metric), task_requests=round(requests + steps.requests),
                 seed_requests=round(requests + steps.requests), repeats=repeats,
                 min_budget=2 * n_val + reserve + (n_val if method else 0),
                 first="one reflection",
                 proposer_requests=round(steps.proposer), candidates=round(accepted + steps.validated),
                 proposals=round(steps.proposals), proposer_prompt=prompt, proposal_tokens=optimizer.proposal_tokens,
                 notes=(f"GEPA's plan assumes {GEPA_PERFECT:.0%} of parents perfect on their minibatch, "
                        f"{GEPA_UNUSABLE:.0%} of proposer answers unusable and {GEPA_ACCEPTED:.0%} of children "
                        "accepted (merges left out)", *spread))


def genetic(optimizer: GeneticSearch, task: Task, backend: Backend, budget: Budget, *, proposer_prompt: str) -> Calls:
    """GeneticSearch: generations of children by successive halving, exactly as ``_affordable``
    sizes them; proposer requests: the initial paraphrases, then ``proposer_rate`` per child
    (``proposer_prompt``: a typical one, from genetic.py: this module imports no optimizer)."""
    n_val, limit = len(task.val), budget.metric_calls
    train = len(task.train)
    pool = train - train // 2 if optimizer.k and train >= 2 else train
    pool = pool or n_val
    left = limit - n_val if limit is not None else math.inf
    metric, children, asked, validated = n_val, 0, 0.0, 0
    for generation in range(optimizer.generations + 1):
        wanted = optimizer.population_size - (1 if generation == 0 else 0)
        n = next((k for k in range(wanted, 0, -1) if optimizer.generation_cost(k, pool, n_val) <= left), 0)
        if n == 0:
            break
        cost = optimizer.generation_cost(n, pool, n_val)
        metric, left, children = metric + cost, left - cost, children + n
        asked += n if generation == 0 else n * optimizer.proposer_rate
        validated += _finalists(optimizer, n)
    probes = probe_requests(task, optimizer.calibrate, optimizer.k)
    k = _mean_demos(optimizer, len(task.choices))
    return Calls(metric_calls=metric, task_requests=metric + children * probes, seed_requests=n_val,
                 min_budget=n_val + optimizer.generation_cost(1, pool, n_val), first="one child",
                 proposer_requests=round(asked), candidates=validated,
                 proposals=round(asked), typical=with_demos(task, k),
                 proposer_prompt=proposer_prompt, proposal_tokens=optimizer.proposal_tokens)


def joint(optimizer: JointSearch, task: Task, backend: Backend, budget: Budget, *, proposer_prompt: str) -> Calls:
    """JointSearch: bootstrapping, proposed instructions, then minibatch trials on validation
    examples with a full validation every ``full_eval_every`` trials and with what is left
    (``proposer_prompt``: a typical one, from joint.py)."""
    n_val, limit = len(task.val), budget.metric_calls
    size = min(optimizer.minibatch_size, n_val)
    taught = 0
    if optimizer.bootstrap and optimizer.bootstrap_size:
        taught = optimizer.bootstrap_size if limit is None else max(0, min(optimizer.bootstrap_size,
                                                                           limit - 2 * n_val, len(task.train)))
    left = (limit - n_val - taught) if limit is not None else math.inf
    trials = validated = 0
    while trials < optimizer.max_trials and left >= n_val + size:
        trials, left = trials + 1, left - size
        if trials % optimizer.full_eval_every == 0 and left >= n_val:
            validated, left = validated + 1, left - n_val
    fmts = len(formats.resolve_option(backend, task, optimizer.formats))
    space = optimizer.n_instructions * optimizer.n_demo_sets * fmts
    configs = min(trials, space)
    while left >= n_val and validated < configs:
        validated, left = validated + 1, left - n_val
    metric = n_val + taught + trials * size + validated * n_val
    repeats = validated * size + round(trials * size / space)  # validations repeat their minibatch examples
    probes = probe_requests(task, optimizer.calibrate, optimizer.k)
    ask = optimizer.n_instructions - 1
    return Calls(metric_calls=metric, task_requests=metric + configs * probes, seed_requests=n_val + taught,
                 repeats=repeats, min_budget=2 * n_val + size + taught, first="one minibatch trial and validation",
                 proposer_requests=ask, candidates=validated, proposals=ask,
                 typical=with_demos(task, optimizer.k // 2 if optimizer.n_demo_sets > 1 else 0),
                 proposer_prompt=proposer_prompt,
                 proposal_tokens=256, notes=("JointSearch's plan assumes as many distinct configurations as trials",))


# --- helpers ------------------------------------------------------------------------------
def _finalists(optimizer: GeneticSearch, children: int) -> int:
    alive = children
    for _ in range(optimizer.rungs):
        alive = max(1, math.ceil(alive / optimizer.eta))
    return alive


def _mean_demos(optimizer: GeneticSearch, labels: int) -> int:
    """The mean demo count of an initial member (``GeneticSearch._demo_count``), rounded."""
    top = optimizer.k
    if not top:
        return 0
    counts = [min(top, math.ceil(k / labels) * labels) if 0 < labels <= top else k for k in range(1, top + 1)]
    return round(sum(counts) / len(counts))


def _same_requests(task: Task, a: Candidate, b: Candidate) -> bool:
    example = task.val[0]
    return task.render(a, example) == task.render(b, example)


def _replace(calls: Calls, **changes: Any) -> Calls:
    return dataclasses.replace(calls, **changes)
