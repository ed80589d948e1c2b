"""evalkit-compare --html: the flipped samples side by side, with frames, both verdicts and the statistics."""

from evalkit.cli.compare import main as compare_main
from evalkit.media.synth import write_video
from tests.analysis.run_fixtures import write_run

HOSTILE = "<script>alert(1)</script>"


def write_pair(out, video):
    """Two judged runs of 6 samples: s0 flips right->wrong, s1 and s2 wrong->right, s3 errors in the run."""
    base, run = [], []
    for i, (ok_a, ok_b) in enumerate([(1, 0), (0, 1), (0, 1), (1, 1), (1, 1), (0, 0)]):
        common = {"id": f"s{i}", "answer": "dog", "media": [str(video)], "frame_indices": [0, 5, 10, 19]}
        base.append({**common, "pred": "dog" if ok_a else f"cat {HOSTILE}", "verdict": "yes" if ok_a else "no",
                     "score": 5 if ok_a else 1, "raw": f"base reply {i}"})
        run.append({**common, "pred": "dog" if ok_b else "a cat, " * 300, "verdict": "yes" if ok_b else "no",
                    "score": 5 if ok_b else 1, "raw": f"run reply {i}"})
    run[3] = {"id": "s3", "answer": "dog", "error": "decode failed", "media": [str(video)]}
    write_run(out, "ckpt-a", "msvd_qa", base, judge="gpt-3.5-turbo")
    write_run(out, "ckpt-b", "msvd_qa", run, judge="gpt-3.5-turbo")
    return out / "ckpt-a", out / "ckpt-b"


def test_compare_html_shows_flips_side_by_side(tmp_path, capsys):
    video = tmp_path / "clip.mp4"
    write_video(video, 20, width=48, height=40)
    a, b = write_pair(tmp_path / "out", video)
    page_path = tmp_path / "diff.html"
    assert compare_main([str(a), str(b), "--html", str(page_path), "--n-boot", "200"]) == 0
    assert f"written: {page_path}" in capsys.readouterr().out
    page = page_path.read_text()
    # the statistics on top: McNemar b / c counts the errored s3 as right->wrong too
    assert page.index("<table class='stats'>") < page.index("<table class='samples flips'>")
    assert "<td>2 / 2</td>" in page and "judge yes/no verdict" in page
    worse = page[page.index("right in the baseline, wrong in ckpt-b (b): 2"):page.index("wrong in the baseline, right in ckpt-b (c)")]
    better = page[page.index("wrong in the baseline, right in ckpt-b (c): 2"):]
    assert "<td class='id'>s0</td>" in worse and "<td class='id'>s3</td>" in worse and "ERROR: decode failed" in worse
    assert "<td class='id'>s1</td>" in better and "<td class='id'>s2</td>" in better and "s4" not in page.split(
        "<table class='samples flips'>", 1)[1]
    # both predictions, both verdicts with the judge's replies, the frames as an inlined strip
    assert "base reply 1" in better and "run reply 1" in better and "judge: no" in better and "judge: yes" in better
    assert better.count("src='data:image/jpeg;base64,") == 2
    assert HOSTILE not in page and "&lt;script&gt;" in page
