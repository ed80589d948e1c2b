"""The three HTML pages opened in a real headless browser (Debian's chromium driven by playwright; one
launch for all): no console errors, leaderboard.html's key columns inside a 1,400 px window, report.html's
rows bounded with a very long prediction, the compare page rendered with its frames.

Screenshots of each page are kept: in the test's tmp folder and copied to ``test-artifacts/browser/``
at the repository root (ignored by git).  CI installs chromium (.ci/run); without it this test fails
with the line saying how to install it -- it is never skipped.
"""

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright  # the dev extra installs it (pyproject.toml)

from evalkit.analysis.compare import compare_runs
from evalkit.analysis.compare_page import write_compare_html
from evalkit.analysis.leaderboard_files import write_leaderboard
from evalkit.analysis.report import write_report
from evalkit.media.synth import write_video
from tests.analysis.run_fixtures import correctness_samples, write_run

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
WIDTH = 1400


def _chromium() -> str:
    path = os.environ.get("EVALKIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("no chromium on PATH: apt-get install -y chromium (Debian; .ci/run does it), or set "
                    "EVALKIT_CHROMIUM to a Chromium binary")
    return path


def _pages(tmp_path: Path) -> dict[str, Path]:
    video = tmp_path / "clip.mp4"
    write_video(video, 20, width=64, height=48)
    out = tmp_path / "out"
    media = {"media": [str(video)], "frame_indices": [0, 5, 10, 15, 19]}
    base = [{**s, **media, "raw": f"{{'pred': '{s['verdict']}', 'score': {s['score']}}}"}
            for s in correctness_samples([True] * 6 + [False] * 2, judged=True)]
    run = [dict(s) for s in base]
    for i, ok in [(0, False), (6, True)]:
        run[i].update(pred="dog" if ok else "a long and wandering answer about cats " * 200,
                      verdict="yes" if ok else "no", score=5 if ok else 1,
                      raw=f"{{'pred': '{'yes' if ok else 'no'}', 'score': {5 if ok else 1}}}")
    write_run(out, "ckpt-a-baseline", "msvd_qa", base, judge="gpt-3.5-turbo", aggregation="paper",
              returned_model="gpt-3.5-turbo-0613", set_size=1970)
    write_run(out, "ckpt-b-with-a-long-run-name-for-the-sticky-column", "msvd_qa", run, judge="gpt-3.5-turbo",
              aggregation="paper", returned_model="gpt-3.5-turbo-0613", set_size=1970)
    write_run(out, "ckpt-a-baseline", "msrvtt_qa", base, judge="gpt-3.5-turbo", aggregation="paper",
              returned_model="gpt-3.5-turbo-0613", set_size=2990)
    write_run(out, "ckpt-c-exact", "msrvtt_qa", correctness_samples([True] * 5 + [False] * 3), set_size=2990)
    write_leaderboard(out)
    b = out / "ckpt-b-with-a-long-run-name-for-the-sticky-column"
    cmp = compare_runs([out / "ckpt-a-baseline", b], n_boot=200)
    return {"leaderboard": out / "leaderboard.html", "report": write_report(b / "msvd_qa"),
            "compare": write_compare_html(cmp, tmp_path / "compare.html")}


def test_pages_in_headless_chromium(tmp_path):
    pages = _pages(tmp_path)
    problems: list[str] = []
    shots = tmp_path / "screenshots"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            # the listeners do catch an error (a page that logs one), before the real pages
            page.set_content("<script>console.error('probe')</script>")
            assert problems == ["console error: probe"], problems
            problems.clear()
            for name, path in pages.items():
                page.goto(path.as_uri())
                page.wait_for_load_state("load")
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
                globals()[f"_check_{name}"](page)
        finally:
            browser.close()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)  # kept also when a check fails: look at them
            for png in shots.glob("*.png"):
                shutil.copy2(png, ARTIFACTS / png.name)
    assert not problems, problems


def _check_leaderboard(page):
    heads = page.locator("table.board thead th")
    names = [t.strip() for t in heads.all_inner_texts()]
    for key in ("run / model", "msvd_qa accuracy %", "msrvtt_qa accuracy %", "comparable", "notes"):
        box = heads.nth(names.index(key)).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, (key, box)
    for cell in page.locator("table.board tbody td.notes").all():  # notes wrap instead of widening the table
        box = cell.bounding_box()
        assert box["x"] + box["width"] <= WIDTH, box
    # scrolled sideways to the protocol details, the run / model column is still in the window
    page.evaluate("window.scrollTo(document.body.scrollWidth, 0)")
    assert page.evaluate("window.scrollX") > 0
    box = page.locator("table.board tbody td.key").first.bounding_box()
    assert 0 <= box["x"] and box["x"] + box["width"] <= WIDTH, box
    page.evaluate("window.scrollTo(0, 0)")
    chart = page.locator("img[alt='leaderboard bar chart']")
    assert chart.evaluate("i => i.naturalWidth") > 0


def _check_report(page):
    rows = page.locator("table.samples tbody tr")
    assert rows.count() == 8
    heights = [rows.nth(i).bounding_box()["height"] for i in range(rows.count())]
    assert max(heights) <= 320, heights  # one prediction is ~8,000 characters: it scrolls inside its cell
    assert page.locator("div.reply").first.is_visible()  # the judge's reply is on the page, not in a tooltip
    table = page.locator("table.samples").bounding_box()
    assert table["x"] + table["width"] <= WIDTH + 1, table


def _check_compare(page):
    assert page.locator("table.stats tbody tr").count() == 1  # msvd_qa (ckpt-b has no msrvtt_qa: listed as not compared)
    assert "not compared: msrvtt_qa" in page.locator("ul.notes").all_inner_texts()[-1]
    flips = page.locator("table.flips tbody tr")
    assert flips.count() == 2  # s00000 right->wrong, s00006 wrong->right
    for img in page.locator("table.flips img").all():
        assert img.evaluate("i => i.complete && i.naturalWidth > 0")
    assert max(flips.nth(i).bounding_box()["height"] for i in range(2)) <= 320
