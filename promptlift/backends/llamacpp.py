"""LlamaCppBackend: a GGUF model through llama-cpp-python, in process.

Chat requests are rendered with the model's own chat template (from the GGUF metadata);
raw ``prompt`` requests are used as is. Choice requests go to the batched
:class:`~promptlift.backends.llamacpp_scoring.ChoiceScorer` (shared-prefix KV reuse);
generation requests are sorted so consecutive ones share their prefix, which llama.cpp
reuses from its KV cache.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from promptlift.backends.base import Capabilities
from promptlift.backends.models import resolve_gguf, weights_hash
from promptlift.errors import BackendError, CapabilityError, MissingDependency
from promptlift.types import Completion, Request, Usage

log = logging.getLogger(__name__)

INSTALL = "pip install 'llama-cpp-python>=0.3.7' (or: make setup)"


class LlamaCppBackend:
    """A GGUF model in process. ``model`` is ``smollm2`` (embedded) or a .gguf path."""

    def __init__(self, path: str | Path, *, n_ctx: int = 8192, n_threads: int | None = None) -> None:
        # OpenMP threads that sleep instead of spinning: on a busy 2-core machine spinning
        # threads starve each other (measured here: 2.5x faster prompt processing under load)
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            from llama_cpp import Llama
        except ImportError:
            raise MissingDependency(f"the llamacpp engine needs llama-cpp-python; run: {INSTALL}") from None
        from promptlift.backends.llamacpp_cpu import safe_model_params
        from promptlift.backends.llamacpp_scoring import ChoiceScorer

        self.path = Path(path)
        threads = n_threads or int(os.environ.get("PROMPTLIFT_THREADS", 0)) or len(os.sched_getaffinity(0))
        with safe_model_params():  # no AMX buffers where they crash (see llamacpp_cpu)
            self._llm = Llama(model_path=str(self.path), n_ctx=min(n_ctx, 4096), n_threads=threads,
                              n_threads_batch=threads, n_batch=512, verbose=False, logits_all=False)
        self._scorer = ChoiceScorer(self._llm, n_ctx=n_ctx, n_threads=threads)
        self._template = _chat_formatter(self._llm)
        self._lock = threading.Lock()  # llama.cpp contexts are not thread-safe
        self.id = f"llamacpp:{self.path.stem}:{weights_hash(self.path)}"
        self.capabilities = Capabilities(chat=True, choice_scoring=True, raw_prompt=True,
                                         max_context=self._llm.n_ctx())

    @classmethod
    def from_spec(cls, model: str, **options: Any) -> LlamaCppBackend:
        return cls(resolve_gguf(model), **options)

    def __repr__(self) -> str:
        return f"LlamaCppBackend({self.id!r})"

    # --- the one call --------------------------------------------------------------------
    def complete(self, requests: Sequence[Request]) -> list[Completion]:
        for request in requests:
            if request.soft_prompt or request.weights:
                raise CapabilityError("soft prompts and trained weights need the torch engine (torch:MODEL)",
                                      backend=self.id)
        with self._lock:
            out: list[Completion | None] = [None] * len(requests)
            scoring = [i for i, r in enumerate(requests) if r.choices]
            for i, completion in zip(scoring, self._score([requests[i] for i in scoring])):
                out[i] = completion
            generating = sorted((i for i, r in enumerate(requests) if not r.choices), key=lambda i: self.text(requests[i]))
            for i in generating:
                out[i] = self._generate(requests[i])
        return out  # type: ignore[return-value]

    # --- rendering -----------------------------------------------------------------------
    def text(self, request: Request) -> str:
        """The exact prompt text the model sees."""
        if request.prompt is not None:
            return request.prompt
        return self._template(messages=[m.to_dict() for m in request.messages]).prompt

    def count_tokens(self, requests: Sequence[Request]) -> list[int]:
        """Each request's prompt tokens as ``complete`` reports them, without running the model."""
        return [len(self.tokens(self.text(r))) for r in requests]

    def tokens(self, text: str, *, special: bool = True) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=special, special=special)

    # --- choice scoring ------------------------------------------------------------------
    def _score(self, requests: Sequence[Request]) -> list[Completion]:
        if not requests:
            return []
        started = time.perf_counter()
        items = [self._item(r) for r in requests]
        scores = self._scorer.score(items)
        seconds = (time.perf_counter() - started) / len(requests)
        return [
            Completion(
                text=r.choices[max(range(len(lp)), key=lp.__getitem__)],
                choice_logprobs=tuple(lp),
                usage=Usage(calls=1, prompt_tokens=len(it.prompt), dollars=0.0, seconds=seconds),
            )
            for r, it, lp in zip(requests, items, scores)
        ]

    def _item(self, request: Request):  # -> ScoringItem
        from promptlift.backends.llamacpp_scoring import ScoringItem

        prompt = tuple(self.tokens(self.text(request)))
        choices = tuple(tuple(self.tokens(c, special=False)) for c in request.choices)
        longest = max(len(c) for c in choices) if choices else 0
        if not all(choices):
            raise BackendError("a choice is empty after tokenization", backend=self.id)
        if len(prompt) + longest >= self._scorer.n_ctx:
            raise BackendError(f"prompt of {len(prompt)} tokens exceeds the context of {self._scorer.n_ctx}", backend=self.id)
        return ScoringItem(prompt=prompt, choices=choices)

    # --- generation ----------------------------------------------------------------------
    def _generate(self, request: Request) -> Completion:
        started = time.perf_counter()
        prompt = self.tokens(self.text(request))
        if len(prompt) + request.max_tokens > self._llm.n_ctx():
            raise BackendError(f"prompt of {len(prompt)} tokens + {request.max_tokens} exceeds the context", backend=self.id)
        answer: Any = self._llm.create_completion(  # a dict: stream=False
            prompt, max_tokens=request.max_tokens, temperature=request.temperature,
            stop=list(request.stop) or None, seed=request.sample if request.temperature > 0 else 0,
            top_p=1.0, top_k=0 if request.temperature > 0 else 1, repeat_penalty=1.0,
        )
        usage = answer.get("usage", {})
        return Completion(
            text=answer["choices"][0]["text"].strip(),
            usage=Usage(calls=1, prompt_tokens=usage.get("prompt_tokens", len(prompt)),
                        completion_tokens=usage.get("completion_tokens", 0), dollars=0.0,
                        seconds=time.perf_counter() - started),
        )


def _chat_formatter(llm: Any):
    """The model's chat template as a callable (llama-cpp-python's Jinja2 formatter)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise CapabilityError("this GGUF has no chat template; use plain-format candidates", backend="llamacpp")
    vocab = llm._model
    eos = vocab.token_get_text(llm.token_eos()) if llm.token_eos() >= 0 else ""
    bos = vocab.token_get_text(llm.token_bos()) if llm.token_bos() >= 0 else ""
    return Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos, add_generation_prompt=True)
