"""Any string evalkit stores reads back as written: lone surrogates, control characters, NUL,
line/paragraph separators, through every file primitive of the run folder."""

import json

import pytest

from evalkit.store import PredictionStore, read_json, read_jsonl, write_json, write_text
from evalkit.store.files import append_jsonl, encode_line

HOSTILE = ["lone \udcff surrogate", "high \ud800 alone", "nul \x00 byte", "bell \x07 esc \x1b[31m red",
           "line\u2028sep\u2029para \x85 nel", "tab\tcr\rlf\n", "<script>alert(1)</script>", "\ufeffbom", ""]


@pytest.mark.parametrize("text", HOSTILE)
def test_jsonl_line_round_trips(tmp_path, text):
    rec = {"id": text or "empty", "question": text, "pred": text, "metadata": {text: [text]}}
    line = encode_line(rec)
    assert line.endswith(b"\n") and line.count(b"\n") == 1  # one record, one line, whatever the text
    line.decode("utf-8")  # always valid UTF-8
    p = tmp_path / "p.jsonl"
    append_jsonl(p, [rec, rec])
    assert list(read_jsonl(p)) == [rec, rec]


def test_prediction_store_and_json_files_round_trip(tmp_path):
    recs = [{"id": f"s{i}", "question": t, "answer": t, "pred": t} for i, t in enumerate(HOSTILE)]
    p = tmp_path / "predictions.jsonl"
    PredictionStore(p).append(recs)
    assert PredictionStore(p).records() == recs
    write_json(tmp_path / "m.json", {"texts": HOSTILE})
    assert read_json(tmp_path / "m.json") == {"texts": HOSTILE}


def test_text_files_never_raise_on_unencodable_text(tmp_path):
    page = "<td>lone \udcff</td>\x00"
    write_text(tmp_path / "r.html", page)
    assert (tmp_path / "r.html").read_bytes() == b"<td>lone \\udcff</td>\x00"
    # inside a JSON string, the escape written for a lone surrogate reads back as the same string
    write_text(tmp_path / "a.jsonl", json.dumps({"t": "x\udcff"}, ensure_ascii=False) + "\n")
    assert json.loads((tmp_path / "a.jsonl").read_text()) == {"t": "x\udcff"}
