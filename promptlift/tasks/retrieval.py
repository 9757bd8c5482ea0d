"""Per-input demos: resolve a candidate's ``Retrieval`` component into fixed demos for one input.

A candidate with ``retrieval`` set carries a demo pool and ``k``; at render time the ``k``
pool examples nearest to the input (cosine similarity of their embeddings) are appended to the
candidate's fixed demos, the most similar one last, next to the input. The input itself is
never its own demo (pool examples with the input's id or the same inputs are skipped), so
scoring on the pool's own split stays honest. ``balanced`` takes the nearest example of each
label in turn (for choice tasks; :func:`promptlift.demos.interleave`), so the demos do not all
carry one label.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Sequence

from promptlift.demos import interleave
from promptlift.embeddings import get_embedder
from promptlift.types import Candidate, Example, Retrieval

if TYPE_CHECKING:
    import numpy

    from promptlift.tasks.base import Task


def query_text(task: Task, example: Example) -> str:
    """The text an example is embedded by: its input fields, one per line."""
    return "\n".join(str(example.inputs.get(name, "")) for name in task.input_fields)


def resolve(task: Task, candidate: Candidate, example: Example) -> Candidate:
    """``candidate`` with its retrieved demos made fixed for ``example`` (no retrieval left)."""
    spec = candidate.retrieval
    if spec is None:
        return candidate
    chosen = nearest(task, spec, example)
    return candidate.with_(demos=candidate.demos + tuple(chosen), retrieval=None)


def nearest(task: Task, spec: Retrieval, example: Example) -> list[Example]:
    """The ``spec.k`` pool examples nearest to ``example``, least similar first."""
    text = query_text(task, example)
    allowed = [i for i, e in enumerate(spec.pool) if e.id != example.id and e.inputs != example.inputs]
    if not allowed or spec.k <= 0:
        return []
    sims = similarities(spec.embedder, tuple(query_text(task, e) for e in spec.pool), text)
    ranked = [spec.pool[i] for i in sorted(allowed, key=lambda i: (-sims[i], i))]
    picked = interleave(ranked, spec.k) if spec.balanced and task.choices else ranked[: spec.k]
    return picked[::-1]


def warm(task: Task, spec: Retrieval, examples: Sequence[Example]) -> None:
    """Embed the pool and ``examples`` in batches now (rendering then only looks vectors up)."""
    embedder = get_embedder(spec.embedder)
    embedder.embed([query_text(task, e) for e in spec.pool] + [query_text(task, e) for e in examples])


def similarities(embedder_name: str, pool_texts: tuple[str, ...], text: str) -> list[float]:
    """Cosine similarity of ``text`` to each pool text."""
    matrix = _pool_matrix(embedder_name, pool_texts)
    import numpy as np

    query = np.asarray(get_embedder(embedder_name).embed([text])[0], dtype=np.float32)
    return (matrix @ query).tolist()


@lru_cache(maxsize=16)
def _pool_matrix(embedder_name: str, pool_texts: tuple[str, ...]) -> numpy.ndarray:
    import numpy as np

    return np.asarray(get_embedder(embedder_name).embed(list(pool_texts)), dtype=np.float32)

