import json

import pandas as pd
import pytest

from promptlift.errors import DataError
from promptlift.tasks import load_task, task_from_dataframe


def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_jsonl_task_infers_fields_choices_and_splits(tmp_path):
    rows = [{"text": f"t{i}", "label": "yes" if i % 2 else "no"} for i in range(50)]
    task = load_task(write_jsonl(tmp_path / "d.jsonl", rows))
    assert task.input_fields == ("text",) and task.output_field == "label"
    assert task.choices == ("no", "yes")
    assert (len(task.train), len(task.val), len(task.test)) == (30, 10, 10)
    ids = [e.id for s in (task.train, task.val, task.test) for e in s]
    assert len(set(ids)) == 50


def test_split_column_is_respected(tmp_path):
    rows = [{"q": str(i), "answer": str(i * 2), "split": ["train", "val", "test"][i % 3]} for i in range(30)]
    task = load_task(write_jsonl(tmp_path / "d.jsonl", rows))
    assert task.choices == ()  # 30 distinct outputs: a generation task
    assert all(int(e.inputs["q"]) % 3 == 1 for e in task.val)
    with pytest.raises(DataError, match="has a 'split' column, so sizes \\(5, 5, 5\\) cannot apply"):
        load_task(tmp_path / "d.jsonl", sizes=(5, 5, 5))


def test_sizes_are_example_counts_for_a_file_without_splits(tmp_path):
    rows = [{"q": str(i), "answer": str(i * 2)} for i in range(30)]
    task = load_task(write_jsonl(tmp_path / "d.jsonl", rows), sizes=(10, 5, 3))
    assert (len(task.train), len(task.val), len(task.test)) == (10, 5, 3)


def test_choices_that_are_not_the_labels_name_the_first_row_outside(tmp_path):
    rows = [{"review": f"r{i}", "label": "positive" if i % 2 else "negative"} for i in range(8)]
    with pytest.raises(DataError, match=r"d.jsonl:1: label 'negative' is not one of the choices \['pos', 'neg'\]"):
        load_task(write_jsonl(tmp_path / "d.jsonl", rows), choices=["pos", "neg"])


def test_csv_and_dataframe_give_the_same_examples(tmp_path):
    frame = pd.DataFrame({"review": [f"r{i}" for i in range(20)], "output": ["a", "b"] * 10})
    frame.to_csv(tmp_path / "d.csv", index=False)
    from_csv, from_frame = load_task(tmp_path / "d.csv"), task_from_dataframe(frame)
    assert from_csv.train == from_frame.train


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"text": "a", "label": "x"}\n{"text": "b", "label": \n', r"d.jsonl:2: invalid JSON"),
        ('{"text": "a", "label": "x"}\n[1, 2]\n', r"d.jsonl:2: expected a JSON object, got list"),
        ('{"text": "a", "label": "x"}\n{"text": "b"}\n', r"d.jsonl:2: missing field\(s\) \['label'\]"),
        ('{"text": "a"}\n', r"d.jsonl:1: no output field"),
    ],
)
def test_malformed_jsonl_names_path_and_line(tmp_path, content, message):
    (tmp_path / "d.jsonl").write_text(content)
    with pytest.raises(DataError, match=message):
        load_task(tmp_path / "d.jsonl")


def test_malformed_csv_names_the_line(tmp_path):
    (tmp_path / "d.csv").write_text("text,label\na,x\nb,y,extra\n")
    with pytest.raises(DataError, match=r"d.csv:3: expected 2 columns"):
        load_task(tmp_path / "d.csv")


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(DataError, match="unknown data format"):
        (tmp_path / "d.xml").write_text("<a/>")
        load_task(tmp_path / "d.xml")
    with pytest.raises(DataError, match="no such file"):
        load_task(tmp_path / "none.jsonl")
