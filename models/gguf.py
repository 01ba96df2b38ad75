"""GGUF model files: load one through transformers, or convert it to a Hugging Face directory.

transformers reads a `.gguf` file (`from_pretrained(directory, gguf_file=name)`, for the model
and for its tokenizer) and dequantises its weights: about 10 s for the model and its tokenizer
at 135M parameters (`read_once` spares transformers reading the file three times).
That needs the `gguf` and `accelerate` packages: `pip install 'headcode[gguf]'`.
`convert` writes the dequantised model once as a Hugging Face directory (safetensors,
tokenizer, config) that loads in seconds and gives identical logits.

`models.tokenizer.load_tokenizer` reads the tokenizer of a `.gguf` file through `load_tokenizer`
here.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import shutil
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..dsl.errors import TokenizerError
from .errors import ModelError

SUFFIX = ".gguf"
MAGIC = b"GGUF"
EXTRA = "pip install 'headcode[gguf]'"
MARKER = "headcode-convert.json"  # in every directory `convert` writes: it may replace only those
REQUIRED = ("gguf", "accelerate")
# What reading a cut-short or corrupt GGUF file raises, besides OSError, ValueError and KeyError.
CORRUPT_FILE_ERRORS = (struct.error, EOFError, IndexError)


def is_gguf(name: str | os.PathLike) -> bool:
    """Whether `name` names a GGUF file (by its suffix, and not a directory; `check_file` reads
    its magic bytes)."""
    return str(name).lower().endswith(SUFFIX) and not Path(name).expanduser().is_dir()


def check_file(path: str | os.PathLike) -> Path:
    """`path` as a Path if it is a readable file starting with the GGUF magic bytes; else a
    one-line `ModelError`."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelError(f"model {str(path)!r}: no such file")
    if not path.is_file():
        raise ModelError(f"model {str(path)!r}: a .gguf model must be a file")
    with open(path, "rb") as handle:
        head = handle.read(len(MAGIC))
    if head != MAGIC:
        raise ModelError(f"{path} is not a GGUF file (it does not start with the bytes 'GGUF')")
    return path


def check_extra() -> None:
    """A one-line `ModelError` naming the extra unless `gguf` and `accelerate` import."""
    missing = []
    for package in REQUIRED:
        try:
            importlib.import_module(package)
        except ImportError:
            missing.append(package)
    if missing:
        raise ModelError(
            f"reading GGUF files needs the {' and '.join(missing)} package"
            f"{'s' if len(missing) > 1 else ''}: {EXTRA}"
        )


def pretrained_arguments(name: str | os.PathLike) -> dict:
    """The `from_pretrained` arguments that read GGUF file `name` (checked: magic bytes and
    the extra's packages): its directory, `gguf_file` and `local_files_only`."""
    path = check_file(name)
    check_extra()
    return {
        "pretrained_model_name_or_path": str(path.parent),
        "gguf_file": path.name,
        "local_files_only": True,
    }


def model_arguments(name: str | os.PathLike) -> dict:
    """`pretrained_arguments` for the model, asking for plain dequantised weights: recent
    transformers would otherwise keep the weights packed wherever it finds a GGUF kernel."""
    arguments = pretrained_arguments(name)
    try:
        from transformers import GgufConfig
    except ImportError:  # a transformers that always dequantises
        return arguments
    return {**arguments, "quantization_config": GgufConfig(dequantize=True)}


_readers: dict[tuple, object] = {}  # the last file's reader: (path, size, mtime) -> reader


@contextmanager
def read_once() -> Iterator[None]:
    """While open, transformers' readings of a GGUF file share one `gguf.GGUFReader`, and its
    tensor-name map is built once per architecture.

    transformers builds a reader for the config, another for the weights and a third for the
    tokenizer (4 s each for a 135M model: parsing its 49,152-token vocabulary), and a name map
    for each of the model's modules (397 of them: 6 s). The reader of the last file read is
    kept between loads (the model's, then its tokenizer's), until the file changes. Both names
    are looked up in `gguf` at each call, so they are replaced there for the duration.
    """
    import gguf as package

    build_reader, build_map = package.GGUFReader, package.get_tensor_name_map

    def reader(path, mode="r"):
        stat = os.stat(path)
        key = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns, mode)
        if key not in _readers:
            _readers.clear()
            _readers[key] = build_reader(path, mode)
        return _readers[key]

    package.GGUFReader, package.get_tensor_name_map = reader, functools.cache(build_map)
    try:
        yield
    finally:
        package.GGUFReader, package.get_tensor_name_map = build_reader, build_map


def load_tokenizer(name: str | os.PathLike):
    """The tokenizer stored in GGUF file `name`, as a transformers fast tokenizer."""
    from transformers import AutoTokenizer

    try:
        arguments = pretrained_arguments(name)
    except ModelError as error:
        raise TokenizerError(str(error)) from None
    try:
        with read_once():
            return AutoTokenizer.from_pretrained(**arguments)
    except (OSError, ValueError, KeyError, ImportError, *CORRUPT_FILE_ERRORS) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise TokenizerError(f"cannot read the tokenizer of {name}: {reason}") from None



def is_conversion(path: str | os.PathLike) -> bool:
    """Whether directory `path` was written by `convert` (holds its marker file)."""
    return (Path(path) / MARKER).is_file()


def check_target(out: str | os.PathLike, overwrite: bool) -> None:
    """Refuse to write at `out` unless nothing is there or, with `overwrite`, an earlier
    conversion is: nothing but a conversion is ever replaced."""
    out = Path(out)
    if not (out.exists() or out.is_symlink()):
        parent = out.absolute().parent
        if not parent.is_dir():
            raise ModelError(f"cannot write {out}: directory {parent} does not exist")
        return
    if not overwrite:
        raise ModelError(f"{out} already exists (choose another OUT_DIR, or --overwrite a "
                         "conversion)")
    if not out.is_dir() or out.is_symlink() or not is_conversion(out):
        raise ModelError(f"{out} exists and is not a headcode conversion ({MARKER} is missing): "
                         "only a conversion is replaced")


def convert(
    source: str | os.PathLike,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    say: Callable[[str], None] = lambda message: None,
) -> Path:
    """Write GGUF file `source` as a Hugging Face directory `out` (float32 safetensors,
    tokenizer, config, and the marker `headcode-convert.json`); returns `out`.

    The directory is written beside `out` under a temporary name and moved into place whole.
    """
    from importlib.metadata import version

    from .loading import load_model
    from .tokenizer import load_tokenizer as load_any_tokenizer

    if not is_gguf(source):
        raise ModelError(f"{source}: convert reads a .gguf model file")
    source, out = check_file(source), Path(os.path.abspath(out))
    check_target(out, overwrite)
    check_extra()
    start = time.perf_counter()
    say(f"reading {source} (dequantising to float32 takes about 30 s for a 135M model)")
    model = load_model(source, dtype="float32", device="cpu", attn_implementation="eager")
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:  # recent transformers keep it on the dequantised model
        quantizer.remove_quantization_config(model)
    tokenizer = load_any_tokenizer(str(source))
    say(f"writing {out}")
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        marker = {
            "source": os.path.abspath(source),
            "source_bytes": source.stat().st_size,
            "dtype": "float32",
            "headcode": version("headcode"),
            "transformers": version("transformers"),
            "gguf": version("gguf"),
        }
        (partial / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            check_target(out, overwrite)  # still a conversion: someone may have replaced it
            os.replace(out, old)
        os.replace(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    say(f"converted in {time.perf_counter() - start:.0f} s: {size / 1e6:.0f} MB")
    return out
