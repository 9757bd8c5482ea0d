"""The helpers the benchmark scripts share (promptlift.bench.micro)."""

import json

from promptlift.bench import micro


def test_mean_std_is_sample_or_population_and_zero_for_one_value():
    assert micro.mean_std([0.5]) == (0.5, 0.0)
    assert micro.mean_std([1.0, 3.0]) == (2.0, 2 ** 0.5)
    assert micro.mean_std([1.0, 3.0], population=True) == (2.0, 1.0)
    assert micro.pm([0.6, 0.6]) == "0.600 ± 0.000"


def test_write_makes_the_folder_and_the_json_and_markdown_pair(tmp_path):
    path = micro.write(tmp_path / "deep" / "table", {"rows": [1]}, "| a |")
    assert path == tmp_path / "deep" / "table.json" and json.loads(path.read_text()) == {"rows": [1]}
    assert (tmp_path / "deep" / "table.md").read_text() == "| a |\n"
    micro.write(tmp_path / "only", {"x": 1})
    assert not (tmp_path / "only.md").exists()


def test_the_parser_describes_a_script_by_its_first_paragraph():
    assert micro.parser("First line.\nstill first.\n\nSecond.").description == "First line.\nstill first."
    assert "Second." in micro.parser("First.\n\nSecond.", whole=True).description
