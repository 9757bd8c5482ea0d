"""TorchBackend: a transformers causal LM in process (CPU float32, or CUDA bf16).

Model strings: ``torch:smollm2`` (the embedded GGUF, converted once into the cache directory
by :mod:`promptlift.backends.convert`) and ``torch:/path/to/hf_dir`` (any transformers model
directory with a tokenizer).

The contract is the llama.cpp backend's, so both engines rank choices the same way: chat
requests are rendered with the tokenizer's chat template, raw ``prompt`` requests are used
as is; the prompt is tokenized with the model's normal special-token handling, each choice
separately without special tokens, and a choice's score is the sum of its tokens'
log-probabilities given the prompt. Scoring and generation compute a group's shared prefix
once (:mod:`~promptlift.backends.torch_prefix`), and apply ``Request.soft_prompt`` and
``Request.weights`` (a LoRA adapter, a fine-tuned model or a linear probe:
:mod:`~promptlift.backends.torch_weights`; the most recent one is kept loaded).

For soft-prompt training (the GradientBackend side) the backend exposes ``model``,
``tokenizer``, ``device``, ``dtype`` and :meth:`TorchBackend.encode`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from promptlift.backends.base import Capabilities
from promptlift.backends.convert import ensure_converted, require_packages
from promptlift.backends.models import EMBEDDED, weights_hash
from promptlift.backends.torch_scoring import masked_attention
from promptlift.errors import BackendError, CapabilityError, ConfigError
from promptlift.types import Completion, Request, Usage, digest

log = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16")


class TorchBackend:
    """A transformers model in process; see the module docstring.

    ``device``: "cpu", "cuda", "cuda:1"... (default: CUDA when available). ``dtype``: one of
    ``DTYPES`` (default: bfloat16 on CUDA, float32 on CPU). ``chunk_tokens`` bounds the packed
    tokens of one scoring forward; ``batch_size`` the rows of one generation batch;
    ``prefixes`` how many computed prefixes are kept between calls. ``threads`` sets torch's
    intra-op threads (process-wide; default ``$PROMPTLIFT_THREADS``, else torch's choice): on
    a machine shared with other busy processes fewer threads than cores is often faster.
    OpenMP threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE`` unless set) when
    torch is first imported here, as in the llama.cpp backend.
    """

    def __init__(self, path: str | Path, *, name: str | None = None, device: str | None = None,
                 dtype: str | None = None, chunk_tokens: int | None = None, batch_size: int | None = None,
                 prefixes: int = 4, threads: int | None = None) -> None:
        require_packages("torch", "transformers", "safetensors")
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # only matters before torch's first import
        import torch

        threads = threads or int(os.environ.get("PROMPTLIFT_THREADS", 0)) or None
        if threads is not None:
            torch.set_num_threads(threads)
        from promptlift.backends.torch_prefix import PrefixStore

        self.path = Path(path)
        if not (self.path / "config.json").is_file():
            raise ConfigError(f"no transformers model directory at {self.path} (config.json missing)")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = _dtype(dtype, self.device)
        self.model, self.tokenizer = _load(self.path, self.device, self.dtype)
        cuda = self.device.type == "cuda"
        self.chunk_tokens = chunk_tokens or (4096 if cuda else 512)
        self.batch_size = batch_size or (64 if cuda else 8)
        self.store = PrefixStore(self.model, capacity=prefixes)
        self._soft: dict[str, Any] = {}
        self._weights: dict[str, Any] = {}
        self._choices: dict[str, tuple[int, ...]] = {}
        self._lock = threading.Lock()
        self.id = f"torch:{name or self.path.name}:{weights_hash(self.path)}"
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        self.capabilities = Capabilities(
            chat=has_template, choice_scoring=True, raw_prompt=True, soft_prompts=True, gradients=True,
            weights=True, max_context=int(getattr(self.model.config, "max_position_embeddings", 2048)),
        )
        self.end_ids = _end_ids(self.tokenizer, self.model)

    @classmethod
    def from_spec(cls, model: str, **options: Any) -> TorchBackend:
        """``smollm2`` (the embedded model, converted once) or a transformers directory."""
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before a conversion imports torch
        if model in EMBEDDED:
            return cls(ensure_converted(model), name=model, **options)
        path = Path(model).expanduser()
        if not path.is_dir():
            raise ConfigError(f"no transformers model directory at {path}; use an embedded name "
                              f"({', '.join(EMBEDDED)}) or a directory with config.json")
        return cls(path, **options)

    def __repr__(self) -> str:
        return f"TorchBackend({self.id!r}, device={str(self.device)!r}, dtype={self.dtype})"

    # --- rendering -----------------------------------------------------------------------
    def text(self, request: Request) -> str:
        """The exact prompt text the model sees."""
        if request.prompt is not None:
            return request.prompt
        if not self.capabilities.chat:
            raise CapabilityError("this tokenizer has no chat template; use plain-format candidates", backend=self.id)
        messages = [m.to_dict() for m in request.messages]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def encode(self, request: Request) -> tuple[list[int], list[list[int]]]:
        """``(prompt_ids, choice_ids)`` exactly as scoring uses them (soft prompt not included)."""
        prompt = list(self.tokenizer(self.text(request)).input_ids)
        return prompt, [list(self._choice_ids(c)) for c in request.choices]

    def count_tokens(self, requests: Sequence[Request]) -> list[int]:
        """Each request's prompt tokens as ``complete`` reports them (a soft prompt's virtual tokens
        included), without running the model."""
        with self._lock:
            virtual = {path: self._soft_prompt(path).n_tokens for path in {r.soft_prompt for r in requests} if path}
        return [len(self.encode(r)[0]) + virtual.get(r.soft_prompt or "", 0) for r in requests]

    def _choice_ids(self, choice: str) -> tuple[int, ...]:
        """A choice's token ids, tokenized once: every request of a task repeats the same choices."""
        if choice not in self._choices:
            self._choices[choice] = tuple(self.tokenizer(choice, add_special_tokens=False).input_ids)
        return self._choices[choice]

    # --- the one call --------------------------------------------------------------------
    def complete(self, requests: Sequence[Request]) -> list[Completion]:
        import torch

        out: list[Completion | None] = [None] * len(requests)
        with self._lock, torch.inference_mode(), masked_attention(self.device):
            groups: dict[tuple, list[int]] = defaultdict(list)
            for i, request in enumerate(requests):
                groups[(bool(request.choices), request.soft_prompt or "", request.weights or "")].append(i)
            for (scoring, soft_path, weights_path), indices in groups.items():
                batch = [requests[i] for i in indices]
                for i, completion in zip(indices, self._run(batch, scoring, soft_path, weights_path)):
                    out[i] = completion
        return out  # type: ignore[return-value]

    def _run(self, batch: Sequence[Request], scoring: bool, soft_path: str, weights_path: str) -> list[Completion]:
        """One group: the same kind of call, soft prompt and weights."""
        soft = self._soft_prompt(soft_path)
        weights = self._weighted(weights_path)
        if isinstance(weights, _Probed):
            if not scoring or soft is not None:
                raise CapabilityError("a linear probe scores choices only, without a soft prompt", backend=self.id)
            return self._probe(batch, weights.probe)
        model, store = weights if weights is not None else (self.model, self.store)
        return (self._score if scoring else self._generate)(batch, soft, model, store)

    # --- choice scoring ------------------------------------------------------------------
    def _score(self, requests: Sequence[Request], soft: Any, model: Any, store: Any) -> list[Completion]:
        from promptlift.backends.torch_scoring import Item, score_group

        started = time.perf_counter()
        encoded = [self._checked(r) for r in requests]
        results: list[list[float]] = [[] for _ in requests]
        for root, members, prompts in self._groups(encoded, soft, store):
            items = [Item(p, tuple(map(tuple, encoded[i][1]))) for i, p in zip(members, prompts)]
            scores = score_group(model, store, root, items, chunk_tokens=self.chunk_tokens)
            for i, value in zip(members, scores):
                results[i] = value
        return _choice_completions(requests, encoded, results, started, virtual=soft.n_tokens if soft else 0)

    def _probe(self, requests: Sequence[Request], probe: Any) -> list[Completion]:
        """Choices ranked by a linear probe on the prompt's hidden state (the probe's classes, in order)."""
        from promptlift.backends.torch_probe import choice_logprobs

        started = time.perf_counter()
        encoded = [self._checked(r) for r in requests]
        for request in requests:
            if tuple(c.strip() for c in request.choices) != probe.classes:
                raise BackendError(f"the probe's classes {list(probe.classes)} are not the request's choices "
                                   f"{list(request.choices)}", backend=self.id)
        results = choice_logprobs(self.model, probe, [e[0] for e in encoded], pad_id=self.tokenizer.pad_token_id or 0)
        return _choice_completions(requests, encoded, results, started)

    def _groups(self, encoded: Sequence[tuple[list[int], Any]], soft: Any,
                store: Any) -> list[tuple[Any, list[int], list[tuple[int, ...]]]]:
        """(root, request indices, prompt tokens after the root's head) per group sharing a prefix."""
        from promptlift.backends.torch_prefix import cluster

        out = []
        for head, members in _by_head(self.tokenizer, encoded, soft).items():
            root = store.root(soft, head)
            prompts = [tuple(encoded[i][0][len(head):]) for i in members]
            for group in cluster(prompts):
                out.append((root, [members[k] for k in group], [prompts[k] for k in group]))
        return out

    def _checked(self, request: Request) -> tuple[list[int], list[list[int]]]:
        prompt, choices = self.encode(request)
        if not prompt:
            raise BackendError("the prompt is empty after tokenization", backend=self.id)
        if choices and not all(choices):
            raise BackendError("a choice is empty after tokenization", backend=self.id)
        longest = max((len(c) for c in choices), default=request.max_tokens)
        if len(prompt) + longest > self.capabilities.max_context:
            raise BackendError(f"prompt of {len(prompt)} tokens exceeds the context of "
                               f"{self.capabilities.max_context}", backend=self.id)
        return prompt, choices

    # --- generation ----------------------------------------------------------------------
    def _generate(self, requests: Sequence[Request], soft: Any, model: Any, store: Any) -> list[Completion]:
        from promptlift.backends.torch_generate import generate_batch
        from promptlift.backends.torch_scoring import Item, shared_length

        started = time.perf_counter()
        encoded = [self._checked(r) for r in requests]
        outputs: list[Any] = [None] * len(requests)
        for root, members, prompts in self._groups(encoded, soft, store):
            shared = shared_length([Item(p, ()) for p in prompts])
            prefix = store.prefix(root, prompts[0][:shared])
            order = sorted(range(len(members)), key=lambda k: len(prompts[k]))
            for start in range(0, len(order), self.batch_size):
                part = order[start : start + self.batch_size]
                jobs = [_job(requests[members[k]], prompts[k][shared:]) for k in part]
                for k, output in zip(part, generate_batch(model, self.tokenizer, prefix, jobs, self.end_ids)):
                    outputs[members[k]] = output
        seconds = (time.perf_counter() - started) / len(requests)
        return [
            Completion(text=o.text, usage=Usage(calls=1, prompt_tokens=len(e[0]) + (soft.n_tokens if soft else 0),
                                                completion_tokens=o.tokens,
                                                dollars=0.0, seconds=seconds))
            for o, e in zip(outputs, encoded)
        ]

    # --- soft prompts --------------------------------------------------------------------
    def _soft_prompt(self, path: str) -> Any:
        """The loaded soft prompt at ``path`` (memoised by path, size and mtime), or None."""
        if not path:
            return None
        from promptlift.backends.torch_prefix import SoftPrompt
        from promptlift.softprompt.apply import ModelDims
        from promptlift.softprompt.io import TENSOR_NAME, check_shape, load_soft_prompt

        file = Path(path)
        stat = file.stat() if file.is_file() else None
        key = f"{file.resolve()}:{stat.st_size}:{stat.st_mtime_ns}" if stat else str(file)
        if key not in self._soft:
            tensors, metadata = load_soft_prompt(file, model_id=self.id)
            dims = ModelDims.of(self.model)
            check_shape(metadata, tensors, hidden=dims.hidden, layers=dims.layers, n_kv_heads=dims.n_kv_heads,
                        head_dim=dims.head_dim, path=file)
            tensor = tensors[TENSOR_NAME[metadata["kind"]]].to(self.device, self.dtype)
            self._soft = {key: SoftPrompt(key=key, kind=metadata["kind"], tensor=tensor)}
        return self._soft[key]

    # --- trained weights -----------------------------------------------------------------
    def _weighted(self, path: str) -> Any:
        """(model, prefix store) for a ``lora``/``finetune`` directory, a ``_Probed`` for a probe, or None.

        The most recent one stays loaded (keyed by path and its metadata file's mtime)."""
        if not path:
            return None
        from promptlift.backends import torch_weights
        from promptlift.backends.torch_prefix import PrefixStore

        metadata = torch_weights.read_metadata(path, model_id=self.id)
        key = f"{Path(path).resolve()}:{(Path(path) / torch_weights.METADATA).stat().st_mtime_ns}"
        if key not in self._weights:
            kind = metadata["kind"]
            if kind == "probe":
                loaded: Any = _Probed(torch_weights.load_probe(path, metadata, device=self.device))
            else:
                model = torch_weights.load_model(self.model, path, kind, device=self.device, dtype=self.dtype)
                loaded = (model, PrefixStore(model, capacity=self.store.capacity))
            self._weights = {key: loaded}
        return self._weights[key]


class _Probed:
    """A loaded linear probe standing in for a model (scoring goes through ``TorchBackend._probe``)."""

    def __init__(self, probe: Any) -> None:
        self.probe = probe


def _choice_completions(requests: Sequence[Request], encoded: Sequence[tuple[list[int], Any]],
                        results: Sequence[Sequence[float]], started: float, virtual: int = 0) -> list[Completion]:
    """Choice completions; a prompt's tokens include a soft prompt's ``virtual`` tokens (the model runs them)."""
    seconds = (time.perf_counter() - started) / len(requests)
    return [
        Completion(text=r.choices[max(range(len(lp)), key=lp.__getitem__)], choice_logprobs=tuple(lp),
                   usage=Usage(calls=1, prompt_tokens=len(e[0]) + virtual, dollars=0.0, seconds=seconds))
        for r, e, lp in zip(requests, encoded, results)
    ]


def _by_head(tokenizer: Any, encoded: Sequence[tuple[list[int], Any]], soft: Any) -> dict[tuple[int, ...], list[int]]:
    """Requests grouped by the prompt tokens a ``prompt`` soft prompt goes after (a BOS, if any)."""
    from promptlift.softprompt.apply import insert_position

    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, (prompt, _) in enumerate(encoded):
        at = insert_position(tokenizer, prompt) if soft is not None and soft.kind == "prompt" else 0
        groups[tuple(prompt[:at])].append(i)
    return groups


def _job(request: Request, suffix: Sequence[int]) -> Any:
    from promptlift.backends.torch_generate import Job

    seed = int(digest([request.to_dict(), request.sample], 15), 16)
    return Job(suffix=tuple(suffix), max_tokens=max(1, request.max_tokens), temperature=request.temperature,
               stop=tuple(request.stop), seed=seed)


def _dtype(name: str | None, device: Any) -> Any:
    import torch

    if name is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if name not in DTYPES:
        raise ConfigError(f"The 'dtype' option of TorchBackend must be one of {DTYPES}. Got {name!r}.")
    return getattr(torch, name)


def _load(path: Path, device: Any, dtype: Any) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype, attn_implementation="sdpa")
    model.to(device).eval()
    log.info("loaded %s on %s (%s) in %.1f s", path, device, dtype, time.perf_counter() - started)
    return model, tokenizer


def _end_ids(tokenizer: Any, model: Any) -> set[int]:
    """Token ids that end a generation: the tokenizer's and the generation config's EOS."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    for token in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>"):
        found = tokenizer.convert_tokens_to_ids(token) if token in tokenizer.get_vocab() else None
        ids.add(found)
    return {i for i in ids if isinstance(i, int) and i >= 0}
