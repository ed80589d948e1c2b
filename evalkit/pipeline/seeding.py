"""``run.seed``: one number for everything random in a job.

* Python's ``random``, NumPy's global generator and torch (CPU and every CUDA device) are seeded
  when predicting starts (sampling with ``model.do_sample=true``);
* the frame shuffle of ``task.frame_order=shuffled`` uses it (recorded in the protocol's media block);
* a served model sampling at ``model.temperature > 0`` sends it as the request's ``seed`` field;
* a model that samples records it in the run's protocol, so predictions made under another seed
  are never mixed into the same folder.

Greedy decoding (the paper's protocol) uses no randomness: the seed then changes nothing.  Judge
requests carry no seed (the reference scripts send none); verdicts are cached instead.
"""

from __future__ import annotations

import random
import sys


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and (when loaded) torch from ``seed``."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)  # also seeds every CUDA device
