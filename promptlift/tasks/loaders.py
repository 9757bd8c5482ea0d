"""User data: JSONL, CSV and pandas DataFrames turned into a Task.

Rows become Examples: the output field is named (default: the first of ``output``,
``answer``, ``label`` present) and the input fields are the rest (or named). A ``split``
column with train/val/test is respected; otherwise the rows are split with a seed. A
malformed file raises ``DataError("path:line: what is wrong")``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from promptlift.errors import DataError
from promptlift.tasks.base import Task, default_metric, split_examples
from promptlift.tasks.metrics import Metric
from promptlift.types import Candidate, Example

OUTPUT_NAMES = ("output", "answer", "label")
RESERVED = ("id", "split")
SPLITS = ("train", "val", "test")
log = logging.getLogger(__name__)
MAX_AUTO_CHOICES = 12
DEFAULT_FRACTIONS = (0.6, 0.2, 0.2)  # train, val, test of a file without a split column


def read_rows(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) pairs from a .jsonl or .csv file (UTF-8, a byte-order mark allowed)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".json", ".csv", ".tsv"):
        raise DataError(f"{path}: unknown data format {path.suffix!r}; use .jsonl or .csv")
    text = read_text(path)
    if suffix in (".jsonl", ".json"):
        return list(_jsonl_rows(path, text))
    return list(_csv_rows(path, text, "\t" if suffix == ".tsv" else ","))


def read_text(path: Path) -> str:
    """The file as text: UTF-8 with or without a BOM; compressed or UTF-16 files are named as such."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b" or data[:3] == b"BZh" or data[:4] == b"PK\x03\x04":
        raise DataError(f"{path}: a compressed file; decompress it first")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DataError(f"{path}: UTF-16 text; save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (byte {data[exc.start]:#04x}); save it as UTF-8") from None


def _jsonl_rows(path: Path, text: str) -> Iterable[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        except (ValueError, RecursionError) as exc:  # an integer past the digit limit, nesting too deep
            what = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
            raise DataError(f"{path}:{number}: unreadable JSON ({what})") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
        yield number, row


def _csv_rows(path: Path, text: str, delimiter: str) -> Iterable[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        names = reader.fieldnames or []
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise DataError(f"{path}:1: duplicate column name(s) {duplicates}; each column needs its own name")
        for row in reader:
            if None in row or any(v is None for v in row.values()):
                raise DataError(f"{path}:{reader.line_num}: expected {len(names)} columns")
            yield reader.line_num, row
    except csv.Error as exc:  # a field past csv's size limit, a NUL byte ...
        raise DataError(f"{path}:{reader.line_num}: unreadable CSV ({exc})") from None


def rows_to_examples(
    rows: Sequence[tuple[int, Mapping[str, Any]]],
    *,
    source: str,
    input_fields: Sequence[str] | None = None,
    output_field: str | None = None,
) -> tuple[list[tuple[str | None, Example]], tuple[str, ...], str]:
    """Examples (with their split, if given) plus the resolved input and output fields."""
    if not rows:
        raise DataError(f"{source}: no rows")
    first = rows[0][1]
    output_field = output_field or next((n for n in OUTPUT_NAMES if n in first), None)
    if output_field is None:
        raise DataError(f"{source}:{rows[0][0]}: no output field; name one of {list(first)} with --output-field "
                        "(output_field=) or add 'output'")
    fields = tuple(input_fields or [k for k in first if k not in RESERVED and k != output_field])
    if output_field in fields:
        raise DataError(f"{source}: the output field {output_field!r} cannot also be an input field (the answer "
                        "would be in the prompt)")
    out = []
    for number, row in rows:
        missing = [n for n in (*fields, output_field) if n not in row or row[n] is None]
        if missing:
            raise DataError(f"{source}:{number}: missing field(s) {missing}")
        split = row.get("split")
        if split is not None and split not in SPLITS:
            raise DataError(f"{source}:{number}: split must be one of {SPLITS}, got {split!r}")
        where = f"{source}:{number}"
        inputs = {n: _text(row[n], f"{where}: {n}") for n in fields}
        output = _text(row[output_field], f"{where}: {output_field}", label=True)
        out.append((split, Example(inputs, output, id=_text(row.get("id") or "", f"{where}: id"))))
    return out, fields, output_field


def _text(value: Any, where: str, *, label: bool = False) -> str:
    """A field value as text; an output must be a non-empty string or number, and all text valid Unicode."""
    if label and (isinstance(value, (dict, list)) or not str(value).strip()):
        raise DataError(f"{where} must be a non-empty string or number, got {json.dumps(value)[:60]}")
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise DataError(f"{where}: invalid text (a lone surrogate)") from None
    return text


def infer_choices(examples: Sequence[Example]) -> tuple[str, ...]:
    """Labels, if the outputs look like a classification (few distinct values, each repeated)."""
    labels = sorted({e.output for e in examples})
    if len(labels) <= MAX_AUTO_CHOICES and len(examples) >= 4 * len(labels):
        return tuple(labels)
    return ()


def task_from_rows(
    rows: Sequence[tuple[int, Mapping[str, Any]]],
    *,
    name: str,
    source: str,
    input_fields: Sequence[str] | None = None,
    output_field: str | None = None,
    metric: Metric | str | None = None,
    choices: Sequence[str] | str | None = "auto",
    instruction: str = "",
    sizes: tuple[float, float, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> Task:
    tagged, fields, output_field = rows_to_examples(
        rows, source=source, input_fields=input_fields, output_field=output_field
    )
    examples = [e for _, e in tagged]
    if any(split for split, _ in tagged):
        if sizes != DEFAULT_FRACTIONS:
            raise DataError(f"{source}: has a 'split' column, so sizes {tuple(sizes)} cannot apply; drop one of them")
        parts = [tuple(e for s, e in tagged if s == name_) for name_ in SPLITS]
    else:
        counts = [int(round(f * len(examples))) if f < 1 else int(f) for f in sizes]
        parts = split_examples(examples, counts, seed)
    labels = infer_choices(examples) if choices == "auto" else tuple(choices or ())
    _check_choices(labels, source)
    _check_labels(tagged, rows, labels, output_field, source)
    _warn_small(parts, source)
    return Task(
        name=name,
        input_fields=fields,
        output_field=output_field,
        train=parts[0],
        val=parts[1],
        test=parts[2],
        metric=metric or default_metric(labels),
        choices=labels,
        seed=Candidate(instruction=instruction or _default_instruction(fields, output_field, labels)),
    )


def _check_choices(labels: Sequence[str], source: str) -> None:
    if len(labels) == 1:
        raise DataError(f"{source}: every example has the label {labels[0]!r}: any prompt would score 1.0; a "
                        "classification needs two labels or more (--choices none for free text)")
    if len(set(labels)) != len(labels) or not all(str(c).strip() for c in labels):
        raise DataError(f"{source}: choices {list(labels)} must be distinct, non-empty labels")


def _warn_small(parts: Sequence[Sequence[Example]], source: str) -> None:
    for name, part in zip(SPLITS, parts):
        if len(part) == 1 or (name == "val" and 0 < len(part) < 5):
            log.warning("%s: the %s split has only %d example(s): its scores say little", source, name, len(part))


def _check_labels(tagged: Sequence[tuple[str | None, Example]], rows: Sequence[tuple[int, Any]],
                  labels: Sequence[str], output_field: str, source: str) -> None:
    """With choices, every output must be one of them: a label outside scores 0 whatever the prompt."""
    if not labels:
        return
    for (number, _), (_, example) in zip(rows, tagged):
        if example.output not in labels:
            raise DataError(f"{source}:{number}: {output_field} {example.output!r} is not one of the choices "
                            f"{list(labels)} (--choices, or 'none' for free text)")


def _default_instruction(fields: Sequence[str], output_field: str, choices: Sequence[str]) -> str:
    given = ", ".join(fields)
    if choices:
        return f"Given the {given}, answer with the {output_field}: one of {', '.join(choices)}."
    return f"Given the {given}, answer with the {output_field}."


def load_task(path: str | Path, **kwargs: Any) -> Task:
    """A Task from a .jsonl or .csv file (see the module docstring for the conventions)."""
    path = Path(path)
    return task_from_rows(read_rows(path), name=path.stem, source=str(path), **kwargs)


def task_from_dataframe(frame: Any, *, name: str = "dataframe", **kwargs: Any) -> Task:
    """A Task from a pandas DataFrame (one row per example; row numbers count from 1)."""
    rows = [(i + 1, row) for i, row in enumerate(frame.to_dict(orient="records"))]
    return task_from_rows(rows, name=name, source=name, **kwargs)
