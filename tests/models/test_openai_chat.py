"""The served-model adapter against a loopback chat-completions server: frames arrive as images,
in order, and a failing request becomes that sample's error record only."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from evalkit.api import run as run_job
from tests._data import stamped_indices, write_video_qa
from tests.judge_server import chat_completion, reply_json


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.seen.append(body)
        parts = body["messages"][0]["content"]
        text = parts[0]["text"]
        if "RATE" in text and text not in self.server.limited:
            self.server.limited.add(text)  # once: 429 with Retry-After, then a normal answer
            reply_json(self, b'{"error": {"message": "slow down"}}', 429, {"Retry-After": "0.2"})
            return
        if "FAIL" in text:
            reply_json(self, b'{"error": {"message": "bad request"}}', 400)
            return
        # reply with the frame indices stamped into the images, proving order and count
        reply_json(self, chat_completion(body["model"], " ".join(map(str, stamped_indices(body)))))


@pytest.fixture()
def chat_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.seen = []
    srv.limited = set()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_served_model_sees_sampled_frames_in_order(compose, chat_server, tmp_path):
    data = write_video_qa(tmp_path / "d", n=4, frames=[20],
                          questions=["what?", "who?", "FAIL this one", "where?"])
    url = f"http://127.0.0.1:{chat_server.server_address[1]}/v1"
    cfg = compose(["task=msvd_qa", f"task.data_root={data}", "task.expected_size=null", "model=openai_chat",
                   "model.pretrained=served-vlm", f"model.base_url={url}", "model.max_retries=0",
                   "runner.batch_size=4", "runner.progress=false", "run.max_error_rate=0.3",
                   f"output_dir={tmp_path}/out", "run.name=served"])
    run_job(cfg)
    recs = {r["id"]: r for r in map(json.loads, (tmp_path / "out/served/msvd_qa/predictions.jsonl").read_text().splitlines())}
    expected = [int(i) for i in np.linspace(0, 19, 8, dtype=int)]
    for qid in ("q0", "q1", "q3"):
        assert [int(x) for x in recs[qid]["pred"].split()] == expected == recs[qid]["frame_indices"]
    assert "pred" not in recs["q2"] and "400" in recs["q2"]["error"]
    assert all(b["model"] == "served-vlm" and b["temperature"] == 0.0 for b in chat_server.seen)
    man = json.loads((tmp_path / "out/served/msvd_qa/manifest.json").read_text())
    assert man["model"]["adapter"] == "openai_chat" and man["model"]["endpoint"] == url


def test_one_retry_policy_rejected_requests_alone_and_a_dead_endpoint_stops_the_run(compose, chat_server, tmp_path):
    import socket

    from evalkit.errors import EvalkitError
    from evalkit.models.base import ModelUnavailableError

    data = write_video_qa(tmp_path / "d", n=4, frames=[20], questions=["RATE me", "who?", "FAIL this one", "where?"])
    url = f"http://127.0.0.1:{chat_server.server_address[1]}/v1"
    base = ["task=msvd_qa", f"task.data_root={data}", "task.expected_size=null", "model=openai_chat",
            "model.pretrained=served-vlm", "runner.batch_size=4", "runner.progress=false",
            "run.max_error_rate=0.3", f"output_dir={tmp_path}/out", "run.name=served"]
    # a dead endpoint (nothing listens): the run stops with one message and records no error lines
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    with pytest.raises(ModelUnavailableError, match="model endpoint .* is unavailable") as err:
        run_job(compose([*base, f"model.base_url={dead}", "model.max_retries=1", "model.backoff_base_s=0.01"]))
    assert isinstance(err.value, EvalkitError)
    preds = tmp_path / "out/served/msvd_qa/predictions.jsonl"
    assert not preds.exists() or preds.read_text() == ""
    # the live server: a 429 with Retry-After is waited out (once), a 400 is that sample's error only
    run_job(compose([*base, f"model.base_url={url}", "model.max_retries=2"]))
    recs = {r["id"]: r for r in map(json.loads, preds.read_text().splitlines())}
    assert "pred" in recs["q0"] and "400" in recs["q2"]["error"] and "pred" in recs["q1"] and "pred" in recs["q3"]
    texts = [b["messages"][0]["content"][0]["text"] for b in chat_server.seen]
    assert texts.count("RATE me") == 2  # the 429, then the answer
    assert texts.count("FAIL this one") == 1  # a rejected request is not retried, nor are its batch-mates resent
    assert texts.count("who?") == 1 and texts.count("where?") == 1
