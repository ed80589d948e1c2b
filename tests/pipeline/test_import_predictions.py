"""A reference script's predictions file (Video-LLaVA's merged JSONL) imported, judged and scored, with
its provenance recorded and no prediction protocol claimed."""

from __future__ import annotations

import hashlib
import json

import pytest

from evalkit.cli.import_preds import main as import_main
from evalkit.cli.judges import main as judges_main
from evalkit.config import build_task
from evalkit.errors import ConfigError, DataError
from evalkit.api import run as run_job
from evalkit.pipeline import Job
from evalkit.pipeline.imported import read_reference_predictions
from tests.judge_server import FakeJudgeServer


def _ov(out, url, *extra):
    return ["task=demo_shapes", "run.limit=12", "runner.progress=false", f"output_dir={out}", "run.name=ref",
            "judge=openai_compatible", "judge.model=judge-a", f"judge.base_url={url}",
            "judge.backoff_base_s=0.01", "judge.backoff_max_s=0.05", *extra]


def reference_file(compose, path, n=10):
    """What Video-LLaVA's merged predictions look like, for the first n demo samples: the even ones right."""
    samples = build_task(compose(["task=demo_shapes"]).task).samples()[:n]
    with open(path, "w") as f:
        for i, s in enumerate(samples):
            pred = f"It is {s.answer} ({i})." if i % 2 == 0 else f"I cannot tell ({i})."
            f.write(json.dumps({"id": s.id, "question": s.question, "answer": s.answer, "pred": pred,
                                **({"chunk": 0} if i == 0 else {})}) + "\n")
    return samples


def other_judge(item, seen):
    """Judge B: yes on everything."""
    return "yes", 5


def test_import_judge_score_and_provenance(compose, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JUDGE_API_KEY", "sk-test")
    ref, out = tmp_path / "merge.jsonl", tmp_path / "out"
    samples = reference_file(compose, ref)
    assert import_main([str(ref), "--task", "demo_shapes", "--run", "ref", "--output-dir", str(out)]) == 0
    tdir = out / "ref" / "demo_shapes"
    man = json.loads((tdir / "manifest.json").read_text())
    imp = man["imported"]
    assert imp["sha256"] == hashlib.sha256(ref.read_bytes()).hexdigest() and imp["file"] == str(ref.resolve())
    assert imp["lines"] == 10 and imp["records"] == 10 and imp["extra_fields_ignored"] == ["chunk"]
    assert set(man["protocol"]["unknown"]) >= {"frames", "answer prompt", "decoding"}
    assert man["answer_prompt"]["source"] == "unknown" and man["model"]["pretrained"] == "unknown"
    # importing twice into the same run is refused (nothing overwritten)
    assert import_main([str(ref), "--task", "demo_shapes", "--run", "ref", "--output-dir", str(out)]) == 4
    assert "already holds predictions" in capsys.readouterr().err

    with FakeJudgeServer(model="judge-a-1") as a, FakeJudgeServer(model="judge-b-1", verdicts=other_judge) as b:
        with pytest.raises(ConfigError, match="never predicts into it"):
            Job(compose(_ov(out, a.base_url)))                 # stage=all: evalkit would predict into it
        run_job(compose(_ov(out, a.base_url, "stage=judge")))
        assert a.n_requests == 10
        run_job(compose(_ov(out, a.base_url, "stage=score")))
        met = json.loads((tdir / "metrics.json").read_text())
        # another judge added to the same run (judge-a's verdicts kept), then evalkit-judges compares them
        run_job(compose(_ov(out, b.base_url, "stage=judge", "judge.model=judge-b")))
        assert b.n_requests == 10
    assert met["headline"]["accuracy"] == pytest.approx(0.5)          # the even predictions hold the answer
    assert met["model"] == "unknown" and met["counts"]["predictions"] == 10 and met["counts"]["missing"] == 2
    assert met["answer_prompt"]["source"] == "unknown"
    man = json.loads((tdir / "manifest.json").read_text())
    assert man["imported"]["sha256"] == imp["sha256"] and man["protocol"]["source"] == "imported"
    board = (out / "leaderboard.md").read_text()
    assert "not comparable" in board and "predictions imported from merge.jsonl" in board

    assert judges_main([str(tdir), "--json", str(tmp_path / "j.json"), "--n-boot", "200"]) == 0
    (pair,) = json.loads((tmp_path / "j.json").read_text())["tasks"][0]["pairs"]
    assert (pair["judge_a"], pair["judge_b"], pair["n_both"]) == ("judge-a", "judge-b", 10)
    assert pair["table"] == {"yes_yes": 5, "yes_no": 0, "no_yes": 5, "no_no": 0} and pair["agreement"] == 0.5
    assert [s.id for s in samples] == [r["id"] for r in map(json.loads, (tdir / "predictions.jsonl").open())]


@pytest.mark.parametrize("text, message", [
    ('{"id": 1, "question": "q", "answer": "a"}\n', "line 1 lacks pred"),
    ('{"id": 1, "question": "q", "answer": "a", "pred": "p"}\n{"id": "1", "question": "q", "answer": "a", '
     '"pred": "p"}\n', "record 2: id 1 already in record 1"),
    ("{'id': 1, 'question': 'q', 'answer': 'a', 'pred': 'p'}\n", "line 1 is not valid JSON"),
    ('{"id": 1, "question": "q", "answer": "a", "pred": null}\n', "record 1: field pred is NoneType"),
    ("\n", "no predictions in it"),
])
def test_bad_reference_lines_are_named(tmp_path, text, message):
    p = tmp_path / "merge.jsonl"
    p.write_text(text)
    with pytest.raises(DataError, match=message):
        read_reference_predictions(p)


def test_imported_run_is_not_comparable_with_the_paper_row():
    from evalkit.analysis.comparability import NOT, RunProtocol, against_reference
    from evalkit.analysis.references import load_references

    ref = [r for r in load_references(None) if r.task == "msvd_qa"][0]
    v = against_reference(RunProtocol(task="msvd_qa", judged=True, imported="merge.jsonl (sha256 0123)"), ref)
    assert v.level == NOT and v.reasons[0] == ("predictions imported from merge.jsonl (sha256 0123): frames, "
                                               "sampler, answer prompt and decoding not stated")
