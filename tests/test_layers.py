"""No module of promptlift imports upward (imports under ``if TYPE_CHECKING:`` aside).

A *unit* is a subpackage (``promptlift.backends``) or a top-level module (``promptlift.run``).
``LAYERS`` is the order the code follows, lowest first; a unit may import units of its own
layer or below, and the units together never import in a circle (importing any module of a
subpackage runs the package's ``__init__``, so a circle between units is a circle at run time
even where no two modules import each other). Lazy imports inside functions count. A new
module must be given a layer here. The graph is read from the source (``test_import_cycles``).
"""

from __future__ import annotations

import graphlib

import pytest

from tests.test_import_cycles import import_graph

LAYERS: tuple[tuple[str, ...], ...] = (
    # the vocabulary and small leaf helpers: import nothing of promptlift above these
    ("types", "errors", "checks", "redaction", "stopping", "safefile", "budget", "callbacks", "voting", "demos", "embeddings",
     "plots"),
    # what a prompt is made of and how a soft prompt enters a model
    ("tasks", "softprompt"),
    # the engines behind Backend.complete
    ("backends",),
    # what one evaluation needs, and what a run writes: the cache, costs and cap, the prompt
    # options, answers, trials and results, the run directory, adapters to other frameworks
    ("cache", "objectives", "admission", "formats", "verbalizers", "calibration", "answers", "result",
     "classification", "lineage", "runlog", "report_html", "tracking", "interop"),
    # the one evaluation surface
    ("run",),
    # training loops every gradient rung shares
    ("training",),
    # the search methods
    ("optimizers",),
    # sweeps, peers, ladder
    ("bench",),
    # entry points: the CLI's commands, the public API, the shipped contract suites
    ("commands", "cli", "promptlift", "testing"),
)
LAYER = {unit: n for n, units in enumerate(LAYERS) for unit in units}


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def unit_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    units: dict[str, set[str]] = {}
    for module, targets in graph.items():
        units.setdefault(unit(module), set()).update(unit(t) for t in targets if unit(t) != unit(module))
    return units


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a unit from a higher layer, as "importer -> imported (layer a < b)"."""
    return sorted(f"{module} -> {target} (layer {LAYER[unit(module)]} imports layer {LAYER[unit(target)]})"
                  for module, targets in graph.items() for target in targets
                  if LAYER[unit(target)] > LAYER[unit(module)])


def unit_circle(graph: dict[str, set[str]]) -> list[str]:
    try:
        tuple(graphlib.TopologicalSorter(unit_graph(graph)).static_order())
    except graphlib.CycleError as err:
        return list(err.args[1])
    return []


def test_every_unit_has_a_layer():
    missing = sorted(set(unit_graph(import_graph())) - LAYER.keys())
    assert not missing, f"give these modules a layer in tests/test_layers.py: {missing}"


def test_no_module_imports_upward():
    upward = upward_imports(import_graph())
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_the_units_import_in_no_circle():
    circle = unit_circle(import_graph())
    assert not circle, f"units import in a circle: {' -> '.join(circle)}"


@pytest.mark.parametrize(("importer", "imported"), [
    ("promptlift.types", "promptlift.run"),
    ("promptlift.backends.torch", "promptlift.optimizers.soft_prompt"),
    ("promptlift.run", "promptlift.bench.runner"),
    ("promptlift.tasks.base", "promptlift.backends.base"),
])
def test_an_added_upward_import_is_caught(importer, imported):
    graph = import_graph()
    graph[importer] = graph[importer] | {imported}
    assert any(line.startswith(f"{importer} -> {imported} ") for line in upward_imports(graph))


def test_an_added_circle_between_units_of_one_layer_is_caught():
    graph = import_graph()
    graph["promptlift.cache"] = graph["promptlift.cache"] | {"promptlift.objectives"}
    graph["promptlift.objectives"] = graph["promptlift.objectives"] | {"promptlift.cache"}
    assert not upward_imports(graph) and set(unit_circle(graph)) >= {"cache", "objectives"}
