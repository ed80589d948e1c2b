"""evalkit-prompts: AST extraction of reference-shaped files, normalised templates, hashes, the store."""

import hashlib
import json

import pytest

from evalkit.prompts import extract as ex
from evalkit.cli.prompts import main as prompts_main
from evalkit.prompts.importer import import_paths
from evalkit.prompts.store import PromptStore, PromptStoreError, default_store_dir
from evalkit.prompts.templates import TemplateError, document_hash, fields, render
from tests import _reference_shaped as shaped


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_video_qa_extraction_concatenation_fstrings_and_literal_braces(tmp_path):
    (doc,) = ex.extract_file(_write(tmp_path, "eval_video_qa.py", shaped.VIDEO_QA), ex.VIDEO_QA)
    msgs = doc.document["messages"]
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert msgs[0]["content"] == shaped.VIDEO_QA_SYSTEM           # implicit concatenation, "\n" kept
    assert msgs[1]["content"] == shaped.VIDEO_QA_USER             # f-string fields + doubled literal braces
    assert fields(msgs[1]["content"]) == ["question", "answer", "pred"] and fields(msgs[0]["content"]) == []
    assert doc.document["request"] == {} and doc.document["reply_parser"] == "ast.literal_eval"
    assert doc.facts == {"model": "gpt-3.5-turbo"}
    # the hash is sha256 of the canonical JSON of the document, as documented
    canon = json.dumps(doc.document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert document_hash(doc.document) == hashlib.sha256(canon.encode()).hexdigest()


def test_rendered_template_is_byte_identical_to_the_scripts_own_string(tmp_path):
    (doc,) = ex.extract_file(_write(tmp_path, "eval_video_qa.py", shaped.VIDEO_QA), ex.VIDEO_QA)
    vals = {"question": "What {is} it?\n", "answer": "a 'dog'}", "pred": "{'pred': 'yes'} \\n"}
    expected = shaped.script_messages(shaped.VIDEO_QA, **vals)
    got = [{"role": m["role"], "content": render(m["content"], **vals)} for m in doc.document["messages"]]
    assert got == expected


def test_llava_bench_review_and_rules(tmp_path):
    (rev,) = ex.extract_file(_write(tmp_path, "eval_gpt_review_bench.py", shaped.REVIEW_BENCH),
                             ex.LLAVA_BENCH_REVIEW)
    d = rev.document
    assert d["request"] == {"temperature": 0.2, "max_tokens": 1024}  # max_tokens via the argparse default
    assert d["category_prefix"] == "llava_bench_" and rev.facts == {"model": "gpt-4-0314"}
    assert d["messages"][0] == {"role": "system", "content": "You are a fair grader of answers."}
    assert set(fields(d["messages"][1]["content"])) == {"context", "question", "role", "answer", "pred", "rule"}
    rule = shaped.RULES["llava_bench_detail"]
    env = dict(cap_str="a cat {x}", ques={"text": "Q?"}, ans1={"text": "A1"}, ans2={"text": "A2 }"},
               role=rule["role"], prompt=rule["prompt"])
    expected = shaped.assigned_expression(shaped.REVIEW_BENCH, "content", **env)
    assert render(d["messages"][1]["content"], context="a cat {x}", question="Q?", answer="A1", pred="A2 }",
                  role=rule["role"], rule=rule["prompt"]) == expected
    (rules,) = ex.extract_file(_write(tmp_path, "rule.json", json.dumps(shaped.RULES)), ex.LLAVA_BENCH_RULES)
    assert sorted(rules.document["rules"]) == ["llava_bench_complex", "llava_bench_conv", "llava_bench_detail"]


def test_mm_vet_extraction_first_ask_reask_and_schedule(tmp_path):
    (doc,) = ex.extract_file(_write(tmp_path, "eval_gpt_mmvet.py", shaped.MM_VET), ex.MM_VET)
    d = doc.document
    assert d["request"] == {"max_tokens": 3, "temperature": 0.0} and doc.facts == {"model": "gpt-4-0613"}
    assert d["reask"] == {"temperature_step": 0.5, "tries_start": 1, "tries_limit": 5}
    assert d["answer_replacements"] == [["<AND>", " <AND> "], ["<OR>", " <OR> "]]
    line, pred = {"question": "Q {1}", "answer": "x<AND>y"}, "P"
    names = {"prompt": shaped.MM_VET_PROMPT, "line": line, "model_pred": pred}
    gt = "x <AND> y"
    for i, key in enumerate(("messages", "reask_messages")):
        expected = shaped.assigned_expression(shaped.MM_VET, "question", i, **names)
        assert render(d[key][0]["content"], question="Q {1}", answer=gt, pred=pred) == expected


def test_conversation_templates(tmp_path):
    docs = ex.extract_file(_write(tmp_path, "conversation.py", shaped.CONVERSATION), ex.CONVERSATION)
    by = {d.kind: d.document for d in docs}
    assert sorted(by) == ["conv_llava_v1", "conv_vicuna_v1"]
    v = by["conv_vicuna_v1"]
    assert v["system"].endswith("the user's {questions} kindly.")  # literal braces stay literal text
    assert v["roles"] == ["USER", "ASSISTANT"] and v["sep_style"] == "TWO" and v["sep2"] == "</s>"


@pytest.mark.parametrize("bad, what", [
    ('f"Question: {question!r}\\n"', "conversion"),
    ('f"Question: {question:>10}\\n"', "format spec"),
    ('f"Question: {question.upper()}\\n"', "not a known placeholder"),
])
def test_unsupported_shapes_are_errors_naming_file_and_line(tmp_path, bad, what):
    text = shaped.VIDEO_QA.replace('f"Question: {question}\\n"', bad)
    assert text != shaped.VIDEO_QA
    p = _write(tmp_path, "eval_video_qa.py", text)
    with pytest.raises(ex.ExtractionError, match=what) as e:
        ex.extract_file(p, ex.VIDEO_QA)
    assert str(p) in str(e.value) and ":" in str(e.value).split(str(p))[1][:3]


def test_other_bad_files(tmp_path):
    with pytest.raises(ex.ExtractionError, match="not valid Python"):
        ex.extract_file(_write(tmp_path, "eval_video_qa.py", "def broken(:\n"), ex.VIDEO_QA)
    no_parse = shaped.VIDEO_QA.replace("ast.literal_eval(response_message)", "json.loads(response_message)")
    with pytest.raises(ex.ExtractionError, match="literal_eval"):
        ex.extract_file(_write(tmp_path, "eval_video_qa.py", no_parse), ex.VIDEO_QA)
    with pytest.raises(ex.ExtractionError, match="Git LFS"):
        ex.extract_file(_write(tmp_path, "rule.json", "version https://git-lfs.github.com/spec/v1\noid x\n"),
                        ex.LLAVA_BENCH_RULES)
    with pytest.raises(ex.ExtractionError, match="no llava_bench_"):
        ex.extract_file(_write(tmp_path, "rule.json", json.dumps({"conv": shaped.RULES["conv"]})),
                        ex.LLAVA_BENCH_RULES)
    with pytest.raises(TemplateError):
        render("{question} {answer}", question="q")


def test_checkout_import_known_and_unknown_hashes(tmp_path, monkeypatch, capsys):
    root = shaped.write_checkout(tmp_path / "Video-LLaVA")
    store = PromptStore(tmp_path / "store")
    # nothing registered: every document is unknown -> stored only as a named custom protocol
    res = import_paths([root], store, name="mine")
    assert {r.kind for r in res} == {"video_chatgpt_qa", "llava_bench_review", "llava_bench_rules",
                                     "mm_vet_grade", "conv_llava_v1", "conv_vicuna_v1"}
    assert all(r.status == "custom" and r.name == "mine" and r.reference is None for r in res)
    assert store.get("video_chatgpt_qa") is None and store.get("video_chatgpt_qa", "mine") is not None
    # known hashes (registered for this test, as the public files' are in known.py) -> reference
    hashes = shaped.register_known(monkeypatch, root)
    res = import_paths([root], store)
    assert all(r.status == "reference" and r.sha256 == hashes[r.kind] for r in res)
    entry = store.get("video_chatgpt_qa")
    assert entry.reference == {"repo": "tests/shaped", "commit": "0" * 40,
                               "path": "videollava/eval/video/eval_video_qa.py", "model": "gpt-3.5-turbo"}
    assert entry.source_path == str((root / "videollava/eval/video/eval_video_qa.py").resolve())

    assert prompts_main(["list", "--store", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert hashes["video_chatgpt_qa"] in out and "known (reference)" in out and "unknown: custom 'mine'" in out
    assert str(root / "scripts/eval_gpt_mmvet.py") in out


def test_cli_import_reports_and_exit_codes(tmp_path, monkeypatch, capsys):
    root = shaped.write_checkout(tmp_path / "vl")
    shaped.register_known(monkeypatch, root)
    single = root / "videollava/eval/video/eval_video_qa.py"
    assert prompts_main(["import", str(single), "--store", str(tmp_path / "s")]) == 0 and "known   video_chatgpt_qa" in capsys.readouterr().out
    changed = _write(tmp_path, "eval_video_qa.py", shaped.VIDEO_QA.replace("Other words", "Other wording"))
    assert prompts_main(["import", str(changed), "--store", str(tmp_path / "s"), "--name", "edited"]) == 0 and "UNKNOWN video_chatgpt_qa" in capsys.readouterr().out
    assert prompts_main(["import", str(tmp_path / "nope.py"), "--store", str(tmp_path / "s")]) == 1 and "no such file" in capsys.readouterr().out


def test_store_refuses_an_edited_entry_and_location_rules(tmp_path, monkeypatch):
    root = shaped.write_checkout(tmp_path / "vl")
    shaped.register_known(monkeypatch, root)
    store = PromptStore(tmp_path / "store")
    import_paths([root / "videollava/eval/video/eval_video_qa.py"], store)
    path = store.root / "reference" / "video_chatgpt_qa.json"
    data = json.loads(path.read_text())
    data["document"]["messages"][0]["content"] += " (edited)"
    path.write_text(json.dumps(data))
    with pytest.raises(PromptStoreError, match="does not match its hash"):
        store.get("video_chatgpt_qa")
    assert default_store_dir({"EVALKIT_PROMPT_STORE": "/x/p"}) == default_store_dir({"EVALKIT_PROMPT_STORE": "/x/p",
                                                                                       "XDG_CONFIG_HOME": "/c"})
    assert str(default_store_dir({"XDG_CONFIG_HOME": "/c", "HOME": "/h"})) == "/c/evalkit/prompts"
    assert str(default_store_dir({"HOME": "/h"})) == "/h/.config/evalkit/prompts"


def test_repository_holds_no_reference_prompt_text():
    """No 8-word run of the public reference prompts (judge prompts, rule.json's LLaVA-Bench rules,
    the MM-Vet few-shot prompt, the llava_v1 / vicuna_v1 system sentences) appears in evalkit's
    code, configs or docs.  The test holds only sha256 prefixes of those runs
    (tests/prompts/data/reference_shingles.txt, made by tools/reference_shingles.py), never the text."""
    from pathlib import Path

    from evalkit.paths import REPO_ROOT

    banned = set(Path(__file__).with_name("data").joinpath("reference_shingles.txt").read_text().split())
    assert len(banned) > 400
    hits = []
    files = [p for d in ("evalkit", "configs", "tasks", "docs", "tools", "tests", "bench") for p in Path(REPO_ROOT, d).rglob("*")
             if p.is_file() and p.suffix in (".py", ".yaml", ".md", ".json", ".txt")] + [Path(REPO_ROOT, "README.md")]
    for f in files:
        words = f.read_text(encoding="utf-8", errors="ignore").split()
        for i in range(len(words) - 7):
            if hashlib.sha256(" ".join(words[i:i + 8]).encode()).hexdigest()[:16] in banned:
                hits.append(f"{f.relative_to(REPO_ROOT)}: word {i}")
    assert not hits, hits[:5]
