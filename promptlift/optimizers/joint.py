"""JointSearch: instruction candidates x demo sets, searched with Optuna's TPE on minibatches.

The MIPROv2 idea (Opsahl-Ong et al. 2024), on promptlift's Run:

1. Demo sets: the empty set (zero-shot) plus ``n_demo_sets - 1`` sets of ``k`` demos, drawn
   from outputs the task model got right on training examples (bootstrapped, see
   ``bootstrap.py``) or, with ``bootstrap=False`` or nothing accepted, from labeled examples.
2. Instructions: the seed's plus ``n_instructions - 1`` written by the proposer model,
   each grounded in the task description, a few training examples and a different tip.
3. Optuna TPE over (instruction, demo set[, format]): each trial scores its candidate on a
   minibatch of validation examples; every ``full_eval_every`` trials the configuration with
   the best mean minibatch score so far is scored on the full validation split (the trials
   ``Result.best`` chooses from). Leftover budget validates the next-best configurations.

With a run directory the Optuna study lives in ``<run_dir>/optuna.sqlite3`` with the
instructions and demo sets in its user attributes, so an interrupted run resumes: finished
trials are replayed with their stored parameters (answered by the response cache) and TPE
continues from the whole history. Each new trial's sampler is seeded by the run seed and the
trial number, so a resumed run asks what the uninterrupted one would have.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import warnings
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Sequence

from promptlift import calibration, formats, safefile
from promptlift.demos import draw_demos
from promptlift.errors import ConfigError
from promptlift.optimizers.base import Optimizer
from promptlift.optimizers.bootstrap import bootstrap_pool
from promptlift.optimizers.options import Calibrate, Formats, PromptOptions
from promptlift.optimizers.propose import credit, drafts, extract_instruction, rejected
from promptlift.run import Run
from promptlift.tasks.fields import field_lines, label
from promptlift.types import Candidate, Example, digest

if TYPE_CHECKING:
    from promptlift.backends.base import Backend
    from promptlift.budget import Budget
    from promptlift.optimizers.plan import Calls
    from promptlift.tasks.base import Task

log = logging.getLogger(__name__)

STUDY_FILE = "optuna.sqlite3"
TIPS = (
    "Keep it short and direct.",
    "Say exactly which answers are allowed.",
    "Explain what tells the answers apart.",
    "Write it as an expert would brief a colleague.",
    "Mention what to look for in the input.",
    "Use simple words.",
)
Config = tuple[int, int, int]  # (instruction, demo set, format) indices


@dataclasses.dataclass(frozen=True, kw_only=True)
class JointSearch(PromptOptions, Optimizer):
    """Joint instruction x demo-set search with TPE and minibatch evaluation (MIPROv2-style).

    n_instructions / n_demo_sets: candidates per component, the seed instruction and the empty
    demo set included. k: demos per set. bootstrap: demo sets from bootstrapped outputs
    (``bootstrap_size`` training examples answered first) instead of labeled draws.
    minibatch_size: validation examples per trial. full_eval_every: trials between full
    validations. n_startup_trials: random trials before TPE models the history.
    max_trials: minibatch trials at most. grounding: training examples shown to the proposer.
    formats: prompt formats to search as a third component; "auto" (the default): chat and
    plain for a classification task (those the backend can score), the seed's format otherwise.
    calibrate: "contextual", "batch" or None, applied to each candidate; "auto" (the default):
    contextual for a classification task, None otherwise. On a small model the label bias and
    the format move accuracy more than the wording (see benchmarks/calibration.py).
    """

    name = "mipro"
    n_instructions: int = 5
    n_demo_sets: int = 5
    k: int = 4
    bootstrap: bool = True
    bootstrap_size: int = 30
    balanced: bool = True
    minibatch_size: int = 10
    full_eval_every: int = 8
    n_startup_trials: int = 5
    max_trials: int = 200
    grounding: int = 3
    formats: Formats = formats.AUTO
    calibrate: Calibrate = calibration.AUTO

    def _check(self) -> None:
        for name in ("n_instructions", "n_demo_sets", "k", "minibatch_size", "full_eval_every", "max_trials"):
            self.require_int(name, 1)
        for name in ("bootstrap_size", "n_startup_trials", "grounding"):
            self.require_int(name, 0)

    def _calls(self, task: Task, backend: Backend, budget: Budget) -> Calls:
        """The plan's call pattern (``Optimizer.plan``): :func:`promptlift.optimizers.patterns.joint`."""
        from promptlift.optimizers import patterns

        prompt = grounded_prompt(task, task.train[: self.grounding], TIPS[0])
        return patterns.joint(self, task, backend, budget, proposer_prompt=prompt)

    def _search(self, run: Run) -> None:
        space = self.space(run)
        study, stored = open_study(run, self, space)
        if stored is not None:
            space = stored
        board = Board(space, self.calibration_method(run))
        done = [t for t in study.trials if t.state.name == "COMPLETE"]
        minibatch = min(self.minibatch_size, len(run.task.val))
        for number in range(self.max_trials):
            replay = done[number] if number < len(done) else None
            if replay is None and not run.affords_validation(minibatch):
                break
            trial = replay or self.new_trial(study, run, space, number)
            config = tuple(trial.params.get(name, 0) for name in ("instruction", "demos", "format"))
            self.score(run, study, trial, number, replay is not None, board, config)
            if (number + 1) % self.full_eval_every == 0:
                board.validate_next(run)
        while run.affords_validation() and board.validate_next(run):
            pass
        run.require_validation()

    def space(self, run: Run) -> Space:
        """The components: demo sets (bootstrapping first), then proposed instructions."""
        task = run.task
        pool: list[Example] = []
        if self.bootstrap and self.bootstrap_size:
            pool, _ = bootstrap_pool(run, task.seed, k=self.k, rounds=1, size=self.bootstrap_size,
                                     threshold=1.0, balanced=self.balanced)
        sets: list[tuple[Example, ...]] = [()]
        for _ in range(20 * self.n_demo_sets):
            if len(sets) >= self.n_demo_sets:
                break
            demos = tuple(draw_demos(pool if len(pool) >= self.k else task.train, self.k, run.rng, task.choices,
                                     balanced=self.balanced))
            if demos and demos not in sets:
                sets.append(demos)
        instructions = [task.seed.instruction] + propose_instructions(run, self.n_instructions - 1, self.grounding)
        fmts = self.search_formats(run) or (task.seed.format,)
        return Space(tuple(dict.fromkeys(instructions)), tuple(sets), fmts, task.seed)

    def new_trial(self, study: Any, run: Run, space: Space, number: int) -> Any:
        """A new Optuna trial, its sampler seeded by the run seed and the trial number."""
        import optuna

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.sampler = optuna.samplers.TPESampler(
                seed=random.Random(f"{run.seed}:{number}").getrandbits(31),
                n_startup_trials=self.n_startup_trials, multivariate=True)
        return study.ask(space.distributions())

    def score(self, run: Run, study: Any, trial: Any, number: int, replay: bool, board: Board, config: Config) -> None:
        """Score ``config`` on minibatch ``number``; tell Optuna (a new trial) and the board."""
        examples = random.Random(f"minibatch:{run.seed}:{number}").sample(
            list(run.task.val), min(self.minibatch_size, len(run.task.val)))
        try:
            candidate = board.candidate(run, config)
            evaluation = run.evaluate(candidate, examples, role="minibatch",
                                      info={"optuna_trial": trial.number, "minibatch": number, "config": list(config)})
        except BaseException:
            if not replay:
                study.tell(trial, state=_trial_state("FAIL"))
            raise
        if not replay:
            study.tell(trial, evaluation.mean)
        board.add(config, evaluation.mean)


@dataclasses.dataclass(frozen=True)
class Space:
    """The searched components; a config picks one of each by index."""

    instructions: tuple[str, ...]
    demo_sets: tuple[tuple[Example, ...], ...]
    formats: tuple[str, ...]
    seed: Candidate

    def candidate(self, config: Config) -> Candidate:
        instruction, demos, fmt = config
        return self.seed.with_(instruction=self.instructions[instruction], demos=self.demo_sets[demos],
                               format=self.formats[fmt])

    def distributions(self) -> dict[str, Any]:
        from optuna.distributions import CategoricalDistribution

        dims = {"instruction": len(self.instructions), "demos": len(self.demo_sets), "format": len(self.formats)}
        return {name: CategoricalDistribution(list(range(n))) for name, n in dims.items() if n > 1}

    def to_dict(self) -> dict[str, Any]:
        return {"instructions": list(self.instructions), "formats": list(self.formats),
                "demo_sets": [[d.to_dict() for d in demos] for demos in self.demo_sets]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], seed: Candidate) -> Space:
        sets = tuple(tuple(Example.from_dict(d) for d in demos) for demos in data["demo_sets"])
        return cls(tuple(data["instructions"]), sets, tuple(data["formats"]), seed)


class Board:
    """Minibatch scores per config, the full validations done, and the candidates made."""

    def __init__(self, space: Space, method: str | None) -> None:
        self.space, self.method = space, method  # method: the calibration of every candidate
        self.scores: dict[Config, list[float]] = defaultdict(list)
        self.validated: set[Config] = set()
        self._candidates: dict[Config, Candidate] = {}

    def add(self, config: Config, mean: float) -> None:
        self.scores[config].append(mean)

    def candidate(self, run: Run, config: Config) -> Candidate:
        """The (calibrated, once) candidate of ``config``."""
        if config not in self._candidates:
            self._candidates[config] = calibration.calibrate(run, self.space.candidate(config), self.method)
        return self._candidates[config]

    def validate_next(self, run: Run) -> bool:
        """Validate the best not-yet-validated config by mean minibatch score; False if none is left."""
        pending = [c for c in self.scores if c not in self.validated]
        if not pending:
            return False
        best = max(pending, key=lambda c: (sum(self.scores[c]) / len(self.scores[c]), len(self.scores[c])))
        self.validated.add(best)
        mean = sum(self.scores[best]) / len(self.scores[best])
        run.validate(self.candidate(run, best), parents=(0,),
                     info={"config": list(best), "minibatch_mean": round(mean, 4), "minibatches": len(self.scores[best])})
        return True


def propose_instructions(run: Run, n: int, grounding: int) -> list[str]:
    """``n`` instructions from the proposer, grounded in the task and a few training examples."""
    task, out = run.task, []
    for i in range(n):
        examples = run.sample(task.train, grounding)
        answer = drafts(run, [grounded_prompt(task, examples, TIPS[i % len(TIPS)])], temperature=0.7)[0][0]
        instruction = extract_instruction(answer.text)
        why = rejected(instruction, task.choices) if instruction else None
        if why:
            log.info("proposal rejected (%s): %r", why, instruction[:80])
        elif instruction and instruction not in out and instruction != task.seed.instruction:
            out.append(credit(run, instruction, answer))
    log.info("the proposer wrote %d distinct instructions of %d asked", len(out), n)
    return out


def grounded_prompt(task: Any, examples: Sequence[Example], tip: str) -> str:
    """The meta-prompt: what the task is, what its data look like, the current instruction, a tip."""
    answer = label(task.output_field)
    lines = ["Write an instruction that tells a language model how to do this task.",
             f"Task: {task.description or task.name}"]
    if task.choices:
        lines.append(f"The {answer.lower()} is one of: {', '.join(task.choices)}.")
    lines.append("Examples:")
    lines += [f"{field_lines(task, e)}\n{answer}: {e.output}\n" for e in examples]
    lines += [f"Current instruction: {task.seed.instruction}", f"Tip: {tip}",
              "Reply with the new instruction only."]
    return "\n".join(lines)


def open_study(run: Run, optimizer: JointSearch, space: Space) -> tuple[Any, Space | None]:
    """The Optuna study (SQLite in the run directory, else in memory) and its stored space."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is our RunLog's job
    key = digest([run.task.name, run.seed, optimizer.config(), run.backend.id], 12)
    storage = None
    if run.log is not None:
        path = safefile.refuse_link(run.log.dir / STUDY_FILE)
        storage = f"sqlite:///{path}"
    try:  # "mipro-": the study name older run directories resume by
        study = optuna.create_study(storage=storage, study_name=f"mipro-{key}", direction="maximize",
                                    load_if_exists=True)
        stored = study.user_attrs.get("space")
        _fail_orphans(study)
    except Exception as exc:  # a corrupt or foreign file: say which, never a traceback
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ConfigError(f"{storage}: cannot open the Optuna study ({type(exc).__name__}: {first}); "
                          "delete the file to start the search afresh") from None
    if stored is None:
        study.set_user_attr("space", space.to_dict())
        return study, None
    log.info("resuming the study %s: %d finished trials", study.study_name, len(study.trials))
    return study, Space.from_dict(stored, run.task.seed)


def _fail_orphans(study: Any) -> None:
    """Trials left RUNNING by a killed process are marked FAIL, so TPE does not treat them as pending."""
    for trial in study.get_trials(deepcopy=False, states=(_trial_state("RUNNING"),)):
        log.info("marking trial %d of %s, left running by an interrupted run, as failed", trial.number, study.study_name)
        study.tell(trial.number, state=_trial_state("FAIL"))


def _trial_state(name: str) -> Any:
    from optuna.trial import TrialState

    return TrialState[name]
