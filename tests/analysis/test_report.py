"""Per-task HTML report: escaping of hostile strings, real thumbnails, caps, filters."""

import base64
import io
import re
from html.parser import HTMLParser

import pytest

from evalkit.cli.report import main as report_main
from tests.analysis.run_fixtures import write_run
from evalkit.analysis.report import write_report
from evalkit.media.synth import write_video

HOSTILE = "<script>alert(1)</script>"
ATTR_BREAK = "x' onmouseover='alert(2)\" onerror=\"alert(3)"


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [name for name, _ in attrs]


def _parse(text):
    p = _Tags()
    p.feed(text)
    return p


@pytest.fixture()
def video(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, 20, width=48, height=40)
    return path


def test_hostile_model_output_is_escaped(tmp_path, video):
    samples = [
        {"id": "a'\"<b>", "question": f"what? {ATTR_BREAK}", "answer": "</td><td>dog", "pred": HOSTILE,
         "verdict": "no", "score": 0, "raw": f"{{'pred': 'no', 'score': 0}} {ATTR_BREAK} {HOSTILE}",
         "media": [str(video)], "frame_indices": [0, 5, 10, 19], "prompt": f"USER: <video>\n{HOSTILE} ASSISTANT:"},
        {"id": "e1", "answer": "dog", "error": f"{video}: undecodable: {HOSTILE}"},
        {"id": "ok", "answer": "dog", "pred": "dog", "verdict": "yes", "score": 5, "media": [str(video)],
         "frame_indices": [0, 5, 10, 19], "type": f"<i>{ATTR_BREAK}"},
    ]
    tdir = write_run(tmp_path, f"run{HOSTILE}", "msvd_qa", samples, judge="gpt-3.5-turbo",
                     model=f"m{ATTR_BREAK}")
    page = write_report(tdir).read_text()
    assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    parsed = _parse(page)
    assert "script" not in parsed.tags and "b" not in parsed.tags and "i" not in parsed.tags
    assert not {"onmouseover", "onerror", "onclick"} & set(parsed.attrs)
    # quotes in attribute values (the judge's raw reply goes into a title attribute) are escaped
    assert "&#39; onmouseover=&#39;alert(2)&#34; onerror=&#34;alert(3)" in page
    # one <td> per column in every row: the reference "</td><td>dog" did not add a cell
    rows = re.findall(r"<tr class='s-[a-z]+'>(.*?)</tr>", page, flags=re.S)
    assert len(rows) == 3 and all(r.count("<td") == 8 for r in rows)
    # no external resources, no scripts: opens from disk
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_thumbnails_from_a_real_video(tmp_path, video):
    samples = [{"id": f"q{i}", "answer": "dog", "pred": "dog" if i % 2 else "cat", "media": [str(video)],
                "frame_indices": [0, 6, 12, 19]} for i in range(3)]
    samples.append({"id": "gone", "answer": "dog", "pred": "dog", "media": [str(tmp_path / "missing.mp4")],
                    "frame_indices": [0, 1]})
    samples.append({"id": "cut", "answer": "dog", "pred": "dog", "media": [str(video)], "frame_indices": [0, 500]})
    tdir = write_run(tmp_path, "r", "demo_shapes", samples)
    page = write_report(tdir, thumb_height=32).read_text()
    uris = re.findall(r"src='data:image/jpeg;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(uris) == 3
    from PIL import Image

    img = Image.open(io.BytesIO(base64.b64decode(uris[0])))
    assert img.format == "JPEG" and img.height == 32
    assert img.width >= 4 * 32 * 48 // 40  # 4 frames side by side, aspect kept
    assert "frames [0, 6, 12, 19] (original order)" in page
    assert "no thumbnail: missing" in page
    assert "no thumbnail: too_few_frames" in page
    # rows carry their state for the CSS filters
    assert page.count("<tr class='s-ok'>") == 3 and page.count("<tr class='s-fail'>") == 2
    assert "#only-fail:checked ~ table.samples tbody tr.s-ok{display:none}" in page
    assert "id='only-err'" in page


def test_frame_order_shown_as_the_model_saw_it(tmp_path, video):
    s = [{"id": "q", "answer": "a", "pred": "a", "media": [str(video)], "frame_indices": [0, 6, 12, 19]}]
    tdir = write_run(tmp_path, "r", "demo_shapes", s, frame_order="reversed")
    assert "frames [19, 12, 6, 0] (reversed order)" in write_report(tdir).read_text()


def test_thumbnail_cap_and_row_cap(tmp_path, video):
    samples = [{"id": f"q{i}", "answer": "dog", "pred": "dog", "media": [str(video)],
                "frame_indices": [i, i + 1]} for i in range(6)]
    tdir = write_run(tmp_path, "r", "demo_shapes", samples)
    page = write_report(tdir, max_thumbnails=2).read_text()
    assert page.count("data:image/jpeg") == 2 and page.count("beyond max_thumbnails=2") == 4
    page = write_report(tdir, max_rows=3, out=tmp_path / "small.html").read_text()
    assert page.count("<tr class='s-ok'>") == 3 and "6 in predictions.jsonl, 3 listed" in page


def test_image_sample_and_errored_sample(tmp_path):
    from PIL import Image

    Image.new("RGB", (30, 20), (200, 10, 10)).save(tmp_path / "im.png")
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    samples = [{"id": "i", "answer": "red", "pred": "red", "media": [str(tmp_path / "im.png")]},
               {"id": "b", "answer": "red", "pred": "red", "media": [str(tmp_path / "broken.jpg")]},
               {"id": "e", "answer": "red", "error": "x.mp4: missing: no such file", "media": ["x.mp4"]}]
    page = write_report(write_run(tmp_path, "r", "img", samples)).read_text()
    assert page.count("data:image/jpeg") == 1 and "no thumbnail: undecodable" in page
    assert "no thumbnail: the model saw no frames" in page and "ERROR: x.mp4: missing" in page
    assert "<tr class='s-error'>" in page


def test_cli(tmp_path, video, capsys):
    tdir = write_run(tmp_path, "r", "demo_shapes", [{"id": "q", "answer": "a", "pred": "a"}])
    assert report_main([str(tdir)]) == 0
    assert (tdir / "report.html").exists() and "report.html" in capsys.readouterr().out
    assert report_main([str(tmp_path / "nope")]) == 4
    err = capsys.readouterr().err
    assert "no such task folder" in err and err.count("\n") == 1
    (tmp_path / "empty").mkdir()
    assert report_main([str(tmp_path / "empty")]) == 4
    assert "no predictions.jsonl" in capsys.readouterr().err


def test_judge_reply_shown_and_long_text_bounded(tmp_path):
    long_pred = "a very long answer " * 400
    samples = [{"id": "long", "answer": "dog", "pred": long_pred, "verdict": "no", "score": 1,
                "raw": "{'pred': 'no', 'score': 1} the answer rambles"}]
    page = write_report(write_run(tmp_path, "r", "msvd_qa", samples, judge="gpt-3.5-turbo")).read_text()
    # the judge's reply is element text in the verdict cell, not only a tooltip
    assert "<div class='reply'>{&#39;pred&#39;: &#39;no&#39;, &#39;score&#39;: 1} the answer rambles</div>" in page
    # the prediction sits in a bounded, scrolling cell of a fixed-width column
    assert f"<td class='pred'><div class='cell'>{long_pred.strip()}" in page or \
        f"<td class='pred'><div class='cell'>{long_pred}" in page
    assert "div.cell{max-height:10em;overflow:auto" in page and "table-layout:fixed" in page
