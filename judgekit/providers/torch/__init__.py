"""The in-process torch judge (``api_type="torch"``): `TorchJudge`, split by job into `.loading` and one module
per mode (`.generate`, `.logprob`, `.reward`)."""

from judgekit.providers.torch.judge import TorchJudge
from judgekit.providers.torch.loading import SMOLLM2, resolve_device, resolve_model_source, smollm2_path

__all__ = ["SMOLLM2", "TorchJudge", "resolve_device", "resolve_model_source", "smollm2_path"]
