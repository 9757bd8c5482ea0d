"""The core value types. All are immutable, hashable and round-trip through JSON."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal, Mapping, Sequence

Format = Literal["chat", "plain"]
FORMATS: tuple[str, ...] = ("chat", "plain")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the form every hash and cache key is taken of."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line (whitespace collapsed), cut to ``limit`` characters with "…"."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def digest(value: Any, length: int = 16) -> str:
    """A short stable hash of a JSON-able value."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:length]


@dataclass(frozen=True)
class Example:
    """One example: named input fields, the expected output, and a stable id.

    ``reasoning`` is the rationale written before the output, set on demos bootstrapped with
    reasoning (shown only when the candidate asks the model to reason first).
    """

    inputs: Mapping[str, str]
    output: str
    id: str = ""
    reasoning: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", MappingProxyType(dict(self.inputs)))
        if not self.id:
            object.__setattr__(self, "id", digest([dict(self.inputs), self.output], 12))

    def __hash__(self) -> int:
        return hash((self.id, tuple(sorted(self.inputs.items())), self.output, self.reasoning))

    def __getitem__(self, name: str) -> str:
        return self.output if name == "output" else self.inputs[name]

    def to_dict(self) -> dict[str, Any]:
        data = {"id": self.id, "inputs": dict(self.inputs), "output": self.output}
        if self.reasoning:
            data["reasoning"] = self.reasoning
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Example:
        return cls(inputs=data["inputs"], output=data["output"], id=data.get("id", ""),
                   reasoning=data.get("reasoning", ""))


@dataclass(frozen=True)
class Retrieval:
    """Demos chosen per input: the ``k`` examples of ``pool`` nearest to the input.

    Nearness is cosine similarity of the inputs' embeddings under ``embedder`` (a name in
    ``promptlift.embeddings``); ``balanced`` takes the nearest of each label in turn. The pool
    is stored inline, so the candidate stays self-contained and re-scorable anywhere.
    Resolved at render time (``promptlift.tasks.retrieval``).
    """

    pool: tuple[Example, ...]
    k: int = 4
    embedder: str = "minilm"
    balanced: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "pool", tuple(self.pool))

    def to_dict(self) -> dict[str, Any]:
        return {"pool": [e.to_dict() for e in self.pool], "k": self.k, "embedder": self.embedder,
                "balanced": self.balanced}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Retrieval:
        return cls(pool=tuple(Example.from_dict(e) for e in data["pool"]), k=data.get("k", 4),
                   embedder=data.get("embedder", "minilm"), balanced=data.get("balanced", False))


@dataclass(frozen=True)
class Candidate:
    """What optimizers search over.

    ``instruction`` and ``demos`` are the hard prompt. ``format`` is the prompt layout ("chat":
    the model's chat template; "plain": ``Field: value`` completion text). ``verbalizer`` holds
    the word each choice is scored by (empty: the choices themselves), ``calibration`` a bias
    per choice subtracted from its log-probability, and ``soft_prompt`` the path of a
    safetensors file with learned virtual tokens (never the tensor itself). ``weights`` is the
    path of trained weights the backend applies (a PEFT LoRA adapter directory, a fine-tuned
    model directory or a linear-probe head: :mod:`promptlift.backends.torch_weights`).
    ``votes`` > 1 samples that many answers per input and keeps the most frequent parsed one
    (self-consistency; generation tasks, :mod:`promptlift.voting`).
    ``reasoning`` asks the model to write a rationale before its answer (generation, then the
    answer is parsed; see ``promptlift.tasks.reasoning``), and ``retrieval`` adds demos chosen
    per input (after the fixed ``demos``).
    """

    instruction: str = ""
    demos: tuple[Example, ...] = ()
    format: Format = "chat"
    verbalizer: tuple[str, ...] = ()
    calibration: tuple[float, ...] = ()
    soft_prompt: str | None = None
    reasoning: bool = False
    retrieval: Retrieval | None = None
    weights: str | None = None
    votes: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "demos", tuple(self.demos))
        object.__setattr__(self, "verbalizer", tuple(self.verbalizer))
        object.__setattr__(self, "calibration", tuple(float(b) for b in self.calibration))
        if self.format not in FORMATS:
            raise ValueError(f"Candidate.format must be one of {FORMATS}. Got {self.format!r}.")

    def with_(self, **changes: Any) -> Candidate:
        """A copy with some components changed."""
        return replace(self, **changes)

    @property
    def key(self) -> str:
        """A stable content hash: equal candidates have equal keys across processes."""
        return digest(self.to_dict())

    def describe(self, width: int = 80) -> str:
        """One line for people: the components that are set, then the instruction cut to ``width``."""
        parts = [f"{self.format} format", f"{len(self.demos)} demo{'' if len(self.demos) == 1 else 's'}"]
        if self.retrieval is not None:
            parts.append(f"{self.retrieval.k} retrieved demos ({self.retrieval.embedder})")
        if self.verbalizer:
            parts.append("label words " + "/".join(self.verbalizer))
        parts += [name for name, on in (("calibrated", self.calibration), ("reasoning", self.reasoning),
                                        ("soft prompt", self.soft_prompt), ("trained weights", self.weights)) if on]
        if self.votes > 1:
            parts.append(f"majority of {self.votes} samples")
        return f'{", ".join(parts)}; instruction "{one_line(self.instruction, width)}"'

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "instruction": self.instruction,
            "demos": [d.to_dict() for d in self.demos],
            "format": self.format,
        }
        if self.verbalizer:
            data["verbalizer"] = list(self.verbalizer)
        if self.calibration:
            data["calibration"] = list(self.calibration)
        if self.soft_prompt:
            data["soft_prompt"] = self.soft_prompt
        if self.reasoning:
            data["reasoning"] = True
        if self.retrieval is not None:
            data["retrieval"] = self.retrieval.to_dict()
        if self.weights:
            data["weights"] = self.weights
        if self.votes:
            data["votes"] = self.votes
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Candidate:
        return cls(
            instruction=data.get("instruction", ""),
            demos=tuple(Example.from_dict(d) for d in data.get("demos", ())),
            format=data.get("format", "chat"),
            verbalizer=tuple(data.get("verbalizer", ())),
            calibration=tuple(data.get("calibration", ())),
            soft_prompt=data.get("soft_prompt"),
            reasoning=bool(data.get("reasoning", False)),
            retrieval=Retrieval.from_dict(data["retrieval"]) if data.get("retrieval") else None,
            weights=data.get("weights"),
            votes=int(data.get("votes", 0)),
        )


@dataclass(frozen=True)
class Message:
    role: str
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Request:
    """One model call. Either chat ``messages`` or a raw completion ``prompt``.

    With ``choices`` the backend returns each choice's log-probability as the continuation
    (multi-token choices summed) instead of generating. ``sample`` separates cache entries of
    repeated draws when ``temperature > 0``. ``soft_prompt`` and ``weights`` are paths of trained
    parameters the backend applies (the candidate's).
    """

    messages: tuple[Message, ...] = ()
    prompt: str | None = None
    choices: tuple[str, ...] = ()
    max_tokens: int = 64
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    soft_prompt: str | None = None
    sample: int = 0
    weights: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", tuple(self.messages))
        object.__setattr__(self, "choices", tuple(self.choices))
        object.__setattr__(self, "stop", tuple(self.stop))
        if (self.prompt is None) == (not self.messages):
            raise ValueError("A Request needs exactly one of 'messages' or 'prompt'.")

    @property
    def is_chat(self) -> bool:
        return self.prompt is None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"max_tokens": self.max_tokens, "temperature": self.temperature}
        if self.messages:
            data["messages"] = [m.to_dict() for m in self.messages]
        else:
            data["prompt"] = self.prompt
        for name in ("choices", "stop"):
            if getattr(self, name):
                data[name] = list(getattr(self, name))
        if self.soft_prompt:
            data["soft_prompt"] = self.soft_prompt
        if self.weights:
            data["weights"] = self.weights
        if self.temperature > 0:
            data["sample"] = self.sample
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Request:
        return cls(
            messages=tuple(Message(**m) for m in data.get("messages", ())),
            prompt=data.get("prompt"),
            choices=tuple(data.get("choices", ())),
            max_tokens=data.get("max_tokens", 64),
            temperature=data.get("temperature", 0.0),
            stop=tuple(data.get("stop", ())),
            soft_prompt=data.get("soft_prompt"),
            sample=data.get("sample", 0),
            weights=data.get("weights"),
        )


@dataclass(frozen=True)
class Usage:
    """What model calls cost. ``dollars`` is None when a price is unknown (never guessed as 0)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dollars: float | None = 0.0
    seconds: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        dollars = None if self.dollars is None or other.dollars is None else self.dollars + other.dollars
        return Usage(
            calls=self.calls + other.calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            dollars=dollars,
            seconds=self.seconds + other.seconds,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "dollars": self.dollars,
            "seconds": round(self.seconds, 6),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        return cls(**data)


@dataclass(frozen=True)
class Completion:
    """A backend's answer to one Request.

    For a choice request ``choice_logprobs`` holds each choice's log-probability (same order as
    ``Request.choices``) and ``text`` the most likely choice. ``reasoning`` holds the rationale
    parsed off a reasoning candidate's output (``text`` is then the answer alone).
    """

    text: str
    choice_logprobs: tuple[float, ...] = ()
    usage: Usage = field(default_factory=Usage)
    cached: bool = False
    reasoning: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"text": self.text, "usage": self.usage.to_dict()}
        if self.choice_logprobs:
            data["choice_logprobs"] = list(self.choice_logprobs)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, cached: bool = False) -> Completion:
        return cls(
            text=data["text"],
            choice_logprobs=tuple(data.get("choice_logprobs", ())),
            usage=Usage.from_dict(data.get("usage", {})),
            cached=cached,
        )


@dataclass(frozen=True)
class Score:
    """A metric's verdict: ``value`` in [0, 1] and ``feedback`` saying why (read by reflection)."""

    value: float
    feedback: str = ""


def choice_argmax(logprobs: Sequence[float], bias: Sequence[float] = ()) -> int:
    """Index of the best choice after subtracting an optional per-choice bias."""
    adjusted = [lp - (bias[i] if i < len(bias) else 0.0) for i, lp in enumerate(logprobs)]
    return max(range(len(adjusted)), key=adjusted.__getitem__)
