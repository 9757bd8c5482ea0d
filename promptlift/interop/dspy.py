"""DSPy interop: any promptlift backend as a DSPy LM, and candidates to and from DSPy programs.

    from promptlift.interop import dspy as pl_dspy
    lm = pl_dspy.lm(backend)                       # a dspy.LM; every call goes to backend.complete
    program = pl_dspy.to_dspy(candidate, task)     # dspy.Predict (ChainOfThought with reasoning)
    candidate = pl_dspy.from_dspy(program, task)   # back: instruction, demos, reasoning

dspy is imported on first use, never when promptlift is imported. The LM is a ``dspy.LM``
(a ``dspy.BaseLM``) built on DSPy 3.4's engine interface (``complete(lm15.Request) ->
lm15.Response``), not the deprecated ``forward()`` override, so DSPy's adapters, history,
callbacks and optimizers work unchanged. Calls are serialised (local engines are not
thread-safe) and counted (``engine.calls``). DSPy's own response cache is off by default:
wrap the backend in ``promptlift.cache.CachedBackend`` to cache.

What crosses to DSPy: the instruction, the demos (with their rationale) and the reasoning
flag. DSPy programs have no prompt format, verbalizer, calibration, soft prompt or
retrieval: those components are dropped with a warning (``from_dspy`` takes them back from
``base``).
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from typing import Any, Literal, Sequence

from promptlift.backends.base import Backend
from promptlift.errors import ConfigError
from promptlift.tasks.base import Task
from promptlift.types import Candidate, Completion, Example, Message, Request

log = logging.getLogger(__name__)

ID_KEY = "_id"  # the promptlift example id, carried in a dspy.Example (never shown to the model)
DEFAULT_MAX_TOKENS = 256


class BackendEngine:
    """A DSPy engine that answers ``lm15.Request``s with a promptlift backend."""

    def __init__(self, backend: Backend, *, max_tokens: int = DEFAULT_MAX_TOKENS) -> None:
        self.backend = backend
        self.max_tokens = max_tokens
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._samples = 0
        self._lock = threading.Lock()

    def complete(self, request: Any) -> Any:
        from dspy.lm15 import Message as DMessage
        from dspy.lm15 import Response, TextPart, Usage

        with self._lock:
            ours = self.request(request)
            completion = self.backend.complete([ours])[0]
            self.calls += 1
            self.prompt_tokens += completion.usage.prompt_tokens
            self.completion_tokens += completion.usage.completion_tokens
        usage = Usage(input_tokens=completion.usage.prompt_tokens, output_tokens=completion.usage.completion_tokens)
        return Response(id=None, model=self.backend.id, message=DMessage.assistant((TextPart(completion.text),)),
                        finish_reason="stop", usage=usage)

    def request(self, request: Any) -> Request:
        """The promptlift Request for a DSPy ``lm15.Request`` (chat messages, config)."""
        messages = []
        if request.system is not None:
            system = request.system if isinstance(request.system, str) else "".join(p.text for p in request.system)
            messages.append(Message("system", system))
        messages += [Message(str(m.role).lower(), m.text or "") for m in request.messages]
        config = request.config
        temperature = float(config.temperature or 0.0)
        sample = 0
        if temperature > 0:  # distinct draws must not share one cache entry
            self._samples += 1
            sample = self._samples
        return Request(messages=tuple(messages), max_tokens=config.max_tokens or self.max_tokens,
                       temperature=temperature, stop=tuple(config.stop or ()), sample=sample)

    def stream(self, request: Any) -> Any:
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))

    def close(self) -> None:
        pass


class AsyncBackendEngine:
    """The async counterpart DSPy asks for; it runs the sync engine."""

    def __init__(self, sync: BackendEngine) -> None:
        self.sync = sync

    async def complete(self, request: Any) -> Any:
        return self.sync.complete(request)

    async def stream(self, request: Any) -> Any:
        for event in self.sync.stream(request):
            yield event

    async def aclose(self) -> None:
        pass


@lru_cache(maxsize=1)
def _lm_class() -> type:
    import dspy

    class PromptliftLM(dspy.LM):
        """A ``dspy.LM`` whose calls go to a promptlift backend (see ``promptlift.interop.dspy``)."""

        def __init__(self, backend: Backend, *, temperature: float = 0.0, max_tokens: int = DEFAULT_MAX_TOKENS,
                     cache: bool = False, **kwargs: Any) -> None:
            engine = BackendEngine(backend, max_tokens=max_tokens)
            super().__init__(f"promptlift/{backend.id}", engine=engine, async_engine=AsyncBackendEngine(engine),
                             temperature=temperature, max_tokens=max_tokens, cache=cache, **kwargs)
            self.backend = backend
            self.backend_engine = engine

    return PromptliftLM


def lm(backend: Backend, *, temperature: float = 0.0, max_tokens: int = DEFAULT_MAX_TOKENS, cache: bool = False,
       **kwargs: Any) -> Any:
    """A ``dspy.LM`` that routes every call through ``backend.complete``."""
    return _lm_class()(backend, temperature=temperature, max_tokens=max_tokens, cache=cache, **kwargs)


def __getattr__(name: str) -> Any:  # PromptliftLM, built when first asked for
    if name == "PromptliftLM":
        return _lm_class()
    raise AttributeError(name)


# --- candidates <-> programs -------------------------------------------------------------
def signature(task: Task, instruction: str = "") -> Any:
    """The DSPy signature of ``task``: its input fields -> its output field (a Literal of choices)."""
    import dspy

    fields: dict[str, Any] = {name: (str, dspy.InputField()) for name in task.input_fields}
    output = Literal[tuple(task.choices)] if task.choices else str  # type: ignore[valid-type]
    fields[task.output_field] = (output, dspy.OutputField())
    return dspy.Signature(fields, instruction)


def to_dspy_example(task: Task, example: Example) -> Any:
    """A ``dspy.Example`` with the task's inputs marked, the output, a rationale if any, and the id."""
    import dspy

    data = dict(example.inputs) | {task.output_field: example.output, ID_KEY: example.id}
    if example.reasoning:
        data["reasoning"] = example.reasoning
    return dspy.Example(**data).with_inputs(*task.input_fields)


def to_dspy(candidate: Candidate, task: Task) -> Any:
    """A DSPy program with the candidate's instruction and demos (ChainOfThought if it reasons)."""
    import dspy

    dropped = [name for name in ("verbalizer", "calibration", "soft_prompt", "retrieval", "weights", "votes")
               if getattr(candidate, name)]
    if candidate.format != "chat":
        dropped.append("format")
    if dropped:
        log.warning("DSPy programs cannot hold %s; these components are dropped", ", ".join(dropped))
    sig = signature(task, candidate.instruction)
    program = dspy.ChainOfThought(sig) if candidate.reasoning else dspy.Predict(sig)
    _predictor(program).demos = [to_dspy_example(task, d) for d in candidate.demos]
    return program


def from_dspy(program: Any, task: Task, base: Candidate | None = None, *, predictor: str | None = None) -> Candidate:
    """The candidate a single-predictor DSPy program amounts to, other components from ``base``."""
    base = base if base is not None else task.seed
    found = _predictor(program, predictor)
    instruction = found.signature.instructions
    if instruction == signature(task).instructions:  # DSPy's default text for an empty instruction
        instruction = ""
    reasoning = "reasoning" in found.signature.output_fields
    known = {_inputs_key(task, e.inputs): e.id for split in (task.train, task.val, task.test) for e in split}
    demos = []
    for demo in found.demos:  # DSPy's bootstrapped demos carry no id: find it by the inputs
        example = from_dspy_example(task, demo)
        if not (demo.get(ID_KEY) if hasattr(demo, "get") else None):
            example = Example(example.inputs, example.output, id=known.get(_inputs_key(task, example.inputs), ""),
                              reasoning=example.reasoning)
        demos.append(example)
    return base.with_(instruction=instruction, demos=tuple(demos), reasoning=reasoning)


def _inputs_key(task: Task, inputs: Any) -> tuple[str, ...]:
    return tuple(str(inputs.get(name, "")) for name in task.input_fields)


def from_dspy_example(task: Task, demo: Any) -> Example:
    """A promptlift Example from a DSPy demo (a ``dspy.Example`` or a dict)."""
    get = demo.get if hasattr(demo, "get") else demo.__getitem__
    missing = [name for name in (*task.input_fields, task.output_field) if get(name, None) is None]
    if missing:
        raise ConfigError(f"a DSPy demo lacks the field(s) {missing} of task {task.name!r}")
    return Example({name: str(get(name, "")) for name in task.input_fields}, str(get(task.output_field, "")),
                   id=str(get(ID_KEY, "") or ""), reasoning=str(get("reasoning", "") or ""))


def _predictor(program: Any, name: str | None = None) -> Any:
    named = list(program.named_predictors())
    if name is not None:
        for key, found in named:
            if key == name:
                return found
        raise ConfigError(f"The program has no predictor {name!r}. Predictors: {[k for k, _ in named]}.")
    if len(named) != 1:
        raise ConfigError(f"The program has {len(named)} predictors {[k for k, _ in named]}; name one with predictor=.")
    return named[0][1]


# --- data and metric ---------------------------------------------------------------------
def examples(task: Task, items: Sequence[Example]) -> list[Any]:
    """``items`` as ``dspy.Example``s (inputs marked)."""
    return [to_dspy_example(task, e) for e in items]


class Metric:
    """The task's metric as a DSPy metric ``(gold, prediction, trace=None, ...) -> float``; counts calls."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, gold: Any, prediction: Any, trace: Any = None, *args: Any, **kwargs: Any) -> float:
        with self._lock:
            self.calls += 1
        text = getattr(prediction, self.task.output_field, None) if prediction is not None else None
        example = from_dspy_example(self.task, gold)
        return self.task.score(example, Completion(text="" if text is None else str(text))).value
