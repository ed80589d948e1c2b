"""Reading hostile benchmark files: text decoding (evalkit.tasks.text_files), media confined to the
data folders (evalkit.tasks.media_paths), image values that hold no image (the image base)."""

from __future__ import annotations

import json

import pytest

from evalkit.config import build_task
from evalkit.errors import ConfigError, DataError
from evalkit.tasks.image.images import looks_base64
from evalkit.tasks.text_files import read_json, read_jsonl, text_decoding
from tests._data import write_video_qa


def _task(compose, data, *extra):
    return build_task(compose(["task=msvd_qa", f"task.data_root={data}", "task.video_dir=videos", *extra]).task)


# ---- text ---------------------------------------------------------------------------------------

def test_undecodable_byte_is_named_by_offset_line_and_column(tmp_path):
    p = tmp_path / "q.jsonl"
    p.write_bytes(b'{"a": "ok"}\n{"a": "caf\xe9 au lait"}\n')
    with pytest.raises(DataError) as e:
        read_jsonl(p, "question file")
    assert str(e.value).startswith(f"question file {p}: byte 22 (0xe9, line 2, column 11) is not valid UTF-8")
    assert "task.text_errors=replace" in str(e.value)
    with text_decoding("replace") as replaced:
        rows = read_jsonl(p, "question file")
    assert rows[1]["a"] == "caf\ufffd au lait" and replaced == {str(p): 1}


def test_bom_lone_surrogates_and_line_separators_are_read_as_they_are(tmp_path):
    p = tmp_path / "q.json"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps({"q": "lone \udcff \x00"}).encode())
    assert read_json(p, "questions file") == {"q": "lone \udcff \x00"}
    j = tmp_path / "q.jsonl"
    j.write_text(json.dumps({"q": "one\u2028line"}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert read_jsonl(j, "question file") == [{"q": "one\u2028line"}]  # not split at U+2028


def test_text_errors_is_a_checked_option(compose, tmp_path):
    with pytest.raises(ConfigError, match="text_errors must be one of strict, replace"):
        _task(compose, tmp_path, "task.text_errors=ignore")


def test_replacements_are_reported_by_the_data_check(compose, tmp_path):
    data = write_video_qa(tmp_path / "d", n=2)
    (data / "test_a.json").write_bytes((data / "test_a.json").read_bytes().replace(b'"left"', b'"l\xffeft"'))
    task = _task(compose, data, "task.text_errors=replace")
    samples = task.samples()
    assert {s.answer for s in samples} == {"yes", "l\ufffdeft"}
    assert any("1 byte(s) that are not UTF-8 read as U+FFFD" in p for p in task.check(samples).problems)


# ---- media paths ---------------------------------------------------------------------------------

@pytest.fixture()
def escape_set(tmp_path):
    data = write_video_qa(tmp_path / "d", n=2)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (data / "videos" / "vid001.mp4").replace(elsewhere / "clip.mp4")
    (data / "videos" / "link.mp4").symlink_to(elsewhere / "clip.mp4")
    (data / "inner").mkdir()
    (data / "inner" / "ok.mp4").symlink_to(data / "videos" / "vid000.mp4")  # a symlink inside: fine
    qs = json.loads((data / "test_q.json").read_text())
    extra = {"abs": "/etc/passwd", "up": "../../elsewhere/clip.mp4", "link": "link", "inner": "../inner/ok.mp4"}
    qs += [{"video_name": v, "question": "what?", "question_id": k} for k, v in extra.items()]
    ans = json.loads((data / "test_a.json").read_text())
    ans += [{"answer": "x", "type": "what", "question_id": k} for k in extra]
    (data / "test_q.json").write_text(json.dumps(qs))
    (data / "test_a.json").write_text(json.dumps(ans))
    return data


def test_paths_out_of_the_data_folders_are_sample_problems(compose, escape_set):
    task = _task(compose, escape_set)
    by_id = {s.id: s for s in task.samples()}
    assert by_id["q0"].problem is None and by_id["inner"].problem is None
    for k in ("abs", "up", "link"):
        assert "outside_data_root" in by_id[k].problem and "task.allow_outside_paths=true" in by_id[k].problem
    assert by_id["link"].problem.startswith(str(escape_set / "videos" / "link.mp4"))
    assert "resolves to" in by_id["link"].problem and "elsewhere/clip.mp4" in by_id["link"].problem
    rep = task.check(list(by_id.values()))
    assert sorted(rep.unusable) == ["abs", "link", "up"] and "q1" in rep.missing_media  # q1's video moved away
    # opting in: nothing is refused
    allowed = _task(compose, escape_set, "task.allow_outside_paths=true").samples()
    assert all(s.problem is None for s in allowed)


def test_a_configured_media_folder_outside_the_data_root_is_allowed(compose, tmp_path):
    data = write_video_qa(tmp_path / "d", n=2)
    (data / "videos").rename(tmp_path / "shared_videos")
    task = _task(compose, data, f"task.video_dir={tmp_path / 'shared_videos'}")
    assert all(s.problem is None for s in task.samples())


# ---- image values ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, b64", [("aGVsbG8gd29ybGQ=", True), ("COCO_val2014_000000000042.jpg", False),
                                       ("n1613131", False), ("2354786", False), ("images/a b.png", False),
                                       ("QUJD" * 20, True)])
def test_base64_or_file_name(text, b64):
    assert looks_base64(text) is b64


def test_image_values_that_hold_no_image_are_that_rows_problem(compose, tmp_path):
    """The image base turns an unreadable image value into the row's problem, for every adapter."""
    (tmp_path / "mmbench_dev_20230712.tsv").write_text("index\n")  # the cache is keyed by the file's hash
    task = build_task(compose(["task=mmbench", f"task.data_root={tmp_path}",
                               f"task.image_cache_dir={tmp_path / 'cache'}"]).task)
    path = task.image_from("QUJD" * 20 + "Q", "7", "task mmbench: index 7")  # base64 cut short
    assert path in task.media_problems and "index 7: unusable_image" in task.media_problems[path]
    ok = task.image_from("picture.png", "8", "task mmbench: index 8")
    assert ok == str(tmp_path / "picture.png") and ok not in task.media_problems


# ---- duplicate ids name their file ------------------------------------------------------------------

def test_duplicate_ids_in_image_annotation_and_question_files_name_the_file(tmp_path):
    from tests._image_data import write_jsonl, write_vqav2
    from evalkit.tasks.image.vqav2 import VQAv2Config, VQAv2Task

    info = write_vqav2(tmp_path, n=3)
    cfg = VQAv2Config(name="vqav2", data_root=str(tmp_path), split="val2014", image_dir="val2014",
                      question_jsonl="llava_vqav2_mscoco_val2014.jsonl",
                      annotation_file="v2_mscoco_val2014_annotations.json")
    ann = tmp_path / "v2_mscoco_val2014_annotations.json"
    data = json.loads(ann.read_text())
    ann.write_text(json.dumps({**data, "annotations": data["annotations"] + data["annotations"][:1]}))
    with pytest.raises(DataError, match=f"{ann}: question_id {info['annotations'][0]['question_id']} appears twice"):
        VQAv2Task(cfg).samples()
    ann.write_text(json.dumps(data))
    q = tmp_path / "llava_vqav2_mscoco_val2014.jsonl"
    write_jsonl(q, info["rows"] + info["rows"][:1])
    with pytest.raises(DataError, match=f"question file {q}: question_id .* appears twice"):
        VQAv2Task(cfg).samples()


def test_a_key_written_twice_in_an_id_keyed_json_file_is_named_not_dropped(tmp_path):
    from tests._image_data import write_gqa
    from evalkit.tasks.image.gqa import GQAConfig, GQATask

    info = write_gqa(tmp_path, n=3)
    cfg = GQAConfig(name="gqa", data_root=str(tmp_path))
    assert len(GQATask(cfg).samples()) == 3
    items = list(info["annotations"].items())
    first = items[0][0]
    ann = tmp_path / "testdev_balanced_questions.json"
    # the first question written again as the last entry, one entry per line: plain json keeps 3 of 4
    ann.write_text("{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in items + items[:1]) + "\n}\n")
    with pytest.raises(DataError) as e:
        GQATask(cfg).samples()
    assert str(e.value).startswith(f"questions/annotation file {ann}: key '{first}' appears twice in one object "
                                   "(again at line 5)")
    # files not keyed by id keep plain JSON semantics; the check can be asked of any file
    assert read_json(ann, "x") == info["annotations"]
    p = tmp_path / "nested.json"
    p.write_text('{"a": {"k": 1, "k": 2}}')
    with pytest.raises(DataError, match=r"x .*nested.json: key 'k' appears twice in one object \(again"):
        read_json(p, "x", unique_keys=True)
