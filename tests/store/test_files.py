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


def _no_space(*_a, **_k):
    import errno

    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_failed_replace_leaves_no_temporary_and_a_full_disk_is_one_line(tmp_path, monkeypatch):
    import os

    import pytest

    from evalkit.errors import DiskFullError
    from evalkit.store.files import write_text

    write_text(tmp_path / "a.txt", "old")
    monkeypatch.setattr(os, "fsync", _no_space)
    with pytest.raises(DiskFullError) as e:
        write_text(tmp_path / "a.txt", "x" * 1000)
    assert str(tmp_path) in str(e.value) and "a.txt needs 1,000 bytes" in str(e.value)
    assert "rerun the same command" in str(e.value)
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        write_text(tmp_path / "a.txt", "y")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]  # no .a.txt.<pid>.tmp left
    assert (tmp_path / "a.txt").read_text() == "old"


def test_a_failed_append_is_cut_back_to_whole_lines(tmp_path, monkeypatch):
    import os

    import pytest

    from evalkit.errors import DiskFullError
    from evalkit.store import JudgmentsWriter
    from evalkit.store.files import append_jsonl, read_jsonl

    path = tmp_path / "p.jsonl"
    append_jsonl(path, [{"id": "a"}])
    size = path.stat().st_size
    real_write = os.write

    class HalfThenFull:
        """A file system that takes half of the first write, then has no space."""
        calls = 0

    def half(fd, data):
        HalfThenFull.calls += 1
        if HalfThenFull.calls == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        return _no_space()

    with open(path, "ab", buffering=0) as f:
        monkeypatch.setattr(f, "write", lambda data: half(f.fileno(), data), raising=False)
        from evalkit.store.files import append_whole

        with pytest.raises(DiskFullError):
            append_whole(f, b'{"id": "b"}\n{"id": "c"}\n', path)
    assert path.stat().st_size == size and [r["id"] for r in read_jsonl(path)] == ["a"]
    monkeypatch.setattr(os, "fsync", _no_space)
    with pytest.raises(DiskFullError):
        append_jsonl(path, [{"id": "b"}])
    assert path.stat().st_size == size
    monkeypatch.undo()
    with JudgmentsWriter(tmp_path / "j.jsonl") as w:
        w.write({"id": "1", "status": "ok"})
        monkeypatch.setattr(w, "_fh", type("Full", (), {"fileno": w._fh.fileno, "write": _no_space})())
        with pytest.raises(DiskFullError):
            w.write({"id": "2", "status": "ok"})
        monkeypatch.undo()
    assert [r["id"] for r in read_jsonl(tmp_path / "j.jsonl")] == ["1"]
