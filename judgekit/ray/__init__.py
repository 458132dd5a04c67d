"""judgekit on Ray: judge a dataset with Ray Data, serve the judge server on Ray Serve.

- `judge_dataset(ds, kind, judge, ...)`: a `ray.data.Dataset` judged by a pool of actors, each with its own
  judge (built once per actor; a torch judge loads its model once, on its own GPU with ``num_gpus=1``).
- `serve_judge(judge, replicas=N, ...)`: the judge server (`/judge`, `/batch_judge`, `/health`, `/metrics`)
  as a Ray Serve deployment of N replicas (or autoscaled), each with its own judge and dynamic batching;
  `JudgeDeployment` is the deployment class, `judge_handle` a handle for callers inside the cluster.

Needs the ``ray`` extra (``pip install "judgekit[ray]"``); ray is imported only when one of these is used.
See docs/scale-out.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from judgekit._lazy import lazy_getattr

if TYPE_CHECKING:
    from judgekit.ray.dataset import RESULT_FIELDS, judge_dataset
    from judgekit.ray.serving import JudgeDeployment, judge_handle, serve_judge

__all__ = ["RESULT_FIELDS", "JudgeDeployment", "judge_dataset", "judge_handle", "serve_judge"]

__getattr__ = lazy_getattr(
    __name__,
    {
        "RESULT_FIELDS": "judgekit.ray.dataset",
        "judge_dataset": "judgekit.ray.dataset",
        "JudgeDeployment": "judgekit.ray.serving",
        "judge_handle": "judgekit.ray.serving",
        "serve_judge": "judgekit.ray.serving",
    },
)
