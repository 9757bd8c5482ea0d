"""A screenshot of a run directory's report.html in headless chromium (Debian's package).

    python benchmarks/report_screenshot.py RUN_DIR [OUT.png] [--task NAME]

With ``--task`` the page is first rewritten from RUN_DIR/result.json by the current code.
Prints the console errors and whether every image decoded (the checks the test makes).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("out", nargs="?", default="benchmarks/results/report_screenshot.png")
    parser.add_argument("--task", help="rewrite report.html from result.json first, for this built-in task")
    args = parser.parse_args()
    run_dir = Path(args.run_dir)
    if args.task:
        from promptlift import get_task
        from promptlift.report_html import write_run_report
        from promptlift.result import Result

        write_run_report(Result.from_json(run_dir / "result.json"), get_task(args.task), run_dir)
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto((run_dir / "report.html").resolve().as_uri(), wait_until="load")
        images = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        page.screenshot(path=args.out, full_page=True)
        browser.close()
    print(f"{args.out}: console errors {problems or 'none'}; images decoded {sum(images)}/{len(images)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
