"""report.html: self-contained, and rendered by a real headless browser (Debian's chromium)."""

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from promptlift import FewShot, report_html
from promptlift.result import Result
from promptlift.testing.doubles import scripted, toy_task


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("run")
    FewShot(k=2, formats=("chat", "plain"), calibrate="contextual").optimize(
        toy_task(), scripted(), budget=120, cache=None, run_dir=directory)
    return directory


def test_every_run_directory_gets_a_self_contained_report(run_dir):
    text = (run_dir / "report.html").read_text()
    for heading in ("Summary", "Best prompt, as the model sees it", "Score over metric calls",
                    "Per-class metrics and confusion matrices", "Plan against actual cost", "Trials"):
        assert f"<h2>{heading}" in text
    assert "constant &#x27;positive&#x27;" in text and "uniform random (expected)" in text
    assert "Review: {review}" in text  # the prompt exactly as rendered, placeholder and all
    assert 'src="data:image/png;base64,' in text
    assert "http://" not in text and "https://" not in text  # nothing fetched


def test_search_trees_get_their_lineage_drawn(run_dir):
    result = dataclasses.replace(Result.from_json(run_dir / "result.json"), optimizer="gepa")
    text = report_html.run_report(result, toy_task())
    assert "<h2>Lineage</h2>" in text and 'alt="lineage of the candidates"' in text


def test_a_sweep_page_inlines_its_plots(run_dir, tmp_path):
    shutil.copy(run_dir / "score.png", tmp_path / "plot.png")
    text = report_html.markdown_page("# Sweep\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n![plot](plot.png)\n", tmp_path, "s")
    assert '<table class="sortable">' in text and "<td>2</td>" in text
    assert 'src="data:image/png;base64,' in text and 'src="plot.png"' not in text


@pytest.mark.integration
def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the dev extra)")
    problems, shot = [], tmp_path / "report_screenshot.png"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("request", lambda r: problems.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
        page.goto((run_dir / "report.html").as_uri(), wait_until="load")
        images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        column = "table.sortable tbody tr td:nth-child(1)"
        page.click("table.sortable th:nth-child(1)")
        page.click("table.sortable th:nth-child(1)")  # a second click sorts descending
        first_trials = page.eval_on_selector_all(column, "cells => cells.map(c => Number(c.textContent))")
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert problems == []
    assert len(images) >= 1 and all(done and width > 0 for done, width in images)
    assert first_trials == sorted(first_trials, reverse=True) and len(first_trials) > 1
    assert shot.stat().st_size > 10_000
    if os.environ.get("PROMPTLIFT_SCREENSHOT_DIR"):  # keep the artifact where CI collects it
        shutil.copy(shot, Path(os.environ["PROMPTLIFT_SCREENSHOT_DIR"]) / shot.name)
