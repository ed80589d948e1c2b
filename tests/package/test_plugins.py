"""Plugins through Python entry points: a tiny package (its .dist-info written here, found through
PYTHONPATH, the shared venv untouched) adds a model adapter, a task and a judge protocol;
evalkit-tasks lists them and a job runs the plugin model on the plugin task.  A plugin that fails
to import is one line naming it and its package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests._data import write_video_qa

PLUGIN = '''
from dataclasses import dataclass

from evalkit.judge.protocols import VideoChatGPTQA
from evalkit.models.base import ModelAdapter, ModelConfig
from evalkit.tasks.video_qa import VideoQATask


@dataclass
class EchoConfig(ModelConfig):
    pretrained: str = "none"
    greeting: str = "echo"


class EchoAdapter(ModelAdapter):
    """Answers with its greeting and the question's first word (a user's own backend)."""

    config_cls = EchoConfig

    def load(self):
        pass

    def generate(self, batch):
        return [f"{self.cfg.greeting} {x.text.split()[0]} {len(x.media)}" for x in batch]


class PluginQATask(VideoQATask):
    judge_protocol = "plugin_judge"


PLUGIN_JUDGE = VideoChatGPTQA()
'''

ENTRY_POINTS = '''
[evalkit.models]
echo_plugin = evalkit_demo_plugin:EchoAdapter

[evalkit.tasks]
plugin_qa = evalkit_demo_plugin:PluginQATask

[evalkit.judges]
plugin_judge = evalkit_demo_plugin:PLUGIN_JUDGE
'''


def _install(root: Path, name: str, module: str, entry_points: str) -> Path:
    """What `pip install --target root` leaves: the module and its .dist-info (METADATA, entry_points.txt)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{name}.py").write_text(module)
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)
    return root


def test_a_plugin_package_adds_a_model_a_task_and_a_judge(tmp_path):
    site = _install(tmp_path / "site", "evalkit_demo_plugin", PLUGIN, ENTRY_POINTS)
    broken = _install(tmp_path / "broken", "evalkit_broken_plugin", "import not_a_module_anywhere\n",
                      "[evalkit.models]\nbroken = evalkit_broken_plugin:Nothing\n")
    data = write_video_qa(tmp_path / "data", n=3)
    out = tmp_path / "out"
    script = textwrap.dedent(f'''
        import sys
        from evalkit.cli.tasks import main
        main([])
        from evalkit.api import evaluate
        from evalkit.judge.protocols import get_protocol
        assert get_protocol("plugin_judge").name == "video_chatgpt_qa"
        evaluate(["task=plugin_qa", "task.data_root={data}", "model=echo_plugin", "model.greeting=hi",
                  "output_dir={out}", "run.name=r", "runner.progress=false"], log=lambda m: None)
        sys.path.append({str(broken)!r})
        from evalkit.registry import Registry
        try:
            Registry("model", plugins="evalkit.models").names()
        except Exception as e:
            print("BROKEN:", type(e).__name__, e)
    ''')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(Path.cwd())])}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    listing = proc.stdout
    assert "model echo_plugin: plugin evalkit_demo_plugin (evalkit_demo_plugin:EchoAdapter)" in listing
    assert "task plugin_qa: plugin evalkit_demo_plugin" in listing and "judge protocol plugin_judge" in listing
    recs = [json.loads(x) for x in (out / "r" / "plugin_qa" / "predictions.jsonl").read_text().splitlines()]
    assert len(recs) == 3 and all(r["pred"] == f"hi {r['question'].split()[0]} 8" for r in recs)
    manifest = json.loads((out / "r" / "plugin_qa" / "manifest.json").read_text())
    assert "echo_plugin" in json.dumps(manifest)
    broken_line = [x for x in listing.splitlines() if x.startswith("BROKEN:")]
    assert broken_line and "PluginError" in broken_line[0] and "evalkit_broken_plugin" in broken_line[0]
    assert "ModuleNotFoundError" in broken_line[0] and "fix or uninstall" in broken_line[0]
