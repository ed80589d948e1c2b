"""The report's thumbnails come from the frames decoded for prediction: the same pictures as
decoding again, written once per distinct video, and the report no longer needs the videos."""

from __future__ import annotations

import json
import re

from evalkit.analysis.report import video_thumbnail, write_report
from evalkit.api import run as run_job
from evalkit.store import TaskFolder, read_thumbnails
from tests._data import write_video_qa


def test_report_uses_the_frames_decoded_for_prediction(compose, tiny_ckpt, tmp_path):
    data = write_video_qa(tmp_path / "d", n=4, frames=[12, 20])
    ov = ["task=demo_shapes", f"task.data_root={data}", "model=tiny_demo_trained", f"model.pretrained={tiny_ckpt}",
          "model.max_new_tokens=3", f"output_dir={tmp_path}/o", "run.name=r", "runner.progress=false",
          "runner.batch_size=2", "task.frame_order=reversed"]
    run_job(compose(ov))
    folder = TaskFolder(tmp_path / "o" / "r" / "demo_shapes")
    lines = [json.loads(x) for x in folder.thumbnails_for(0, 1).read_text().splitlines()]
    assert len(lines) == 4 and all(x["height"] == 64 for x in lines)
    stored = read_thumbnails(folder, 64)
    recs = [json.loads(x) for x in folder.predictions.read_text().splitlines()]
    for r in recs:  # identical to decoding the video again (frame-exact decode, same strip)
        uri, desc = stored[(r["media"][0], tuple(r["frame_indices"]))]
        assert (uri, desc) == video_thumbnail(r["media"][0], r["frame_indices"], 64, "reversed")
        assert desc.startswith(f"frames {list(reversed(r['frame_indices']))} (reversed order)")
    man = json.loads(folder.manifest.read_text())
    assert man["stages"]["predict"]["thumbnails"]["written"] == 4
    # a resumed run that redoes two samples adds no line for videos already shown
    preds = folder.predictions.read_text().splitlines()
    folder.predictions.write_text("\n".join(preds[:2]) + "\n")
    run_job(compose(ov))
    assert len(folder.thumbnails_for(0, 1).read_text().splitlines()) == 4
    # the report needs no video any more: delete them and write it again
    for p in (data / "videos").iterdir():
        p.unlink()
    page = write_report(folder.path).read_text()
    assert len(re.findall(r"src='data:image/jpeg;base64,", page)) == 4 and "no thumbnail" not in page
    # without the thumbnail file (a folder from an older evalkit) it decodes, and says why it cannot
    folder.thumbnails_for(0, 1).unlink()
    page = write_report(folder.path).read_text()
    assert page.count("no thumbnail: missing") == 4
