"""README's vLLM recipe, the evalkit side: the command as written, against a loopback
OpenAI-compatible server standing in for `vllm serve` -- 8 frames as 8 images per request, in order,
the served name, requests kept in flight up to model.concurrency across the run, resumable."""

from __future__ import annotations

import json
import shlex
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from evalkit.api import run as run_job
from tests._data import stamped_indices, write_video_qa
from tests.judge_server import chat_completion, reply_json
from tests.cli.console import REPO


def readme_recipe() -> list[str]:
    """The `evalkit ... model=openai_chat ...` command of README's vLLM section, as arguments."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### A served model: vLLM"):]
    joined = section.replace("\\\n", " ")
    line = next(ln for ln in joined.splitlines() if ln.strip().startswith("evalkit ") and "model=openai_chat" in ln)
    return shlex.split(line.split("#")[0])[1:]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):  # noqa: N802
        srv = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with srv.lock:
            srv.in_flight += 1
            srv.peak = max(srv.peak, srv.in_flight)
            srv.seen.append(body)
        time.sleep(0.05)
        idx = stamped_indices(body)
        with srv.lock:
            srv.in_flight -= 1
        reply_json(self, chat_completion(body["model"], " ".join(map(str, idx))))


@pytest.fixture()
def vllm_standin():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.lock, srv.in_flight, srv.peak, srv.seen = threading.Lock(), 0, 0, []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_readme_vllm_recipe_runs_against_an_openai_compatible_server(compose, vllm_standin, tmp_path):
    args = readme_recipe()
    assert "model=openai_chat" in args and any(a.startswith("model.base_url=") for a in args)
    served = next(a.split("=", 1)[1] for a in args if a.startswith("model.pretrained="))
    concurrency = int(next(a.split("=", 1)[1] for a in args if a.startswith("model.concurrency=")))
    eval_dir = tmp_path / "eval"
    write_video_qa(eval_dir / "GPT_Zero_Shot_QA" / "MSVD_Zero_Shot_QA", n=40, frames=[24])
    url = f"http://127.0.0.1:{vllm_standin.server_address[1]}/v1"
    # README's command with its host and data folder pointed here; no judge key in tests
    ov = [a.replace("/data/eval", str(eval_dir)) for a in args if not a.startswith(("model.base_url=", "judge="))]
    ov += [f"model.base_url={url}", "judge=none", "task.expected_size=null", f"output_dir={tmp_path}/out",
           "run.name=served", "runner.progress=false", "run.report=false"]
    run_job(compose(ov, config_name="config"))
    tdir = tmp_path / "out" / "served" / "msvd_qa"
    recs = [json.loads(x) for x in (tdir / "predictions.jsonl").read_text().splitlines()]
    assert len(recs) == 40 and all("pred" in r for r in recs)
    for r in recs:  # every frame arrived, as an image, in the sampled order
        assert [int(x) for x in r["pred"].split()] == r["frame_indices"] and len(r["frame_indices"]) == 8
    assert {b["model"] for b in vllm_standin.seen} == {served}
    assert all(len(b["messages"][0]["content"]) == 9 for b in vllm_standin.seen)  # text + 8 images
    stage = json.loads((tdir / "manifest.json").read_text())["stages"]["predict"]
    assert stage["runner"]["batch_size"] == 8 * concurrency  # one batch here: every request concurrent
    assert 8 < vllm_standin.peak <= concurrency
