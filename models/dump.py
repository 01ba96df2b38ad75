"""Attention dumps: the attention probabilities of every head on a set of sequences, on disk.

The format is public and described in docs/formats.md. In short, a dump is a directory:

    meta.json        format name and version, model, n_layers, n_heads, dtype, counts, features
    offsets.npy      int64 (n_sequences + 1,): sequence s is tokens offsets[s]:offsets[s+1]
    tokens.npy       int64 (n_tokens,): token ids, all sequences concatenated
    special.npy      bool (n_tokens,): special-token flags (BOS, ...)
    texts.jsonl      one line per sequence: the JSON list of its token texts
    features/F.npy   (n_tokens,) one file per token feature of `dsl.ops.features`
    attention.bin    raw little-endian float16/float32: per sequence of n tokens, a C-order block
                     (n_layers * n_heads, n(n+1)/2), row layer*n_heads+head, column i(i+1)/2+j
                     holding A[i, j] for j <= i (the packed causal lower triangle)

`DumpWriter` streams sequences into a hidden temporary directory and renames it into place at
the end (meta.json written last), so a dump that exists is complete. `open_dump` validates a
dump and reads it memory-mapped.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from ..dsl.ops import features as token_features
from ..dsl.tokens import Tokens
from .errors import ModelError

FORMAT = "headcode-attention-dump"
VERSION = 1
DTYPES = {"float16": "<f2", "float32": "<f4"}
NOT_STORED = ("text", "id")  # features kept elsewhere: texts.jsonl and tokens.npy
_FEATURE_NAMES = tuple(token_features(["a"], [0], [False]))


class DumpError(ModelError):
    """An attention dump is missing, incomplete or corrupt, or cannot be written."""


# ---------------------------------------------------------------- packing


def tri_size(n: int) -> int:
    """Entries of the causal lower triangle (diagonal included) of an n x n matrix."""
    return n * (n + 1) // 2


@lru_cache(maxsize=64)
def tri_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of each packed entry, in storage order (row-major lower triangle)."""
    return np.tril_indices(n)


def pack(matrices: np.ndarray) -> np.ndarray:
    """(..., n, n) -> (..., n(n+1)/2): the lower triangles, row-major."""
    rows, cols = tri_indices(matrices.shape[-1])
    return matrices[..., rows, cols]


def unpack(packed: np.ndarray, n: int, dtype=np.float32) -> np.ndarray:
    """(..., n(n+1)/2) -> (..., n, n), zeros above the diagonal."""
    rows, cols = tri_indices(n)
    full = np.zeros(packed.shape[:-1] + (n, n), dtype=dtype)
    full[..., rows, cols] = packed
    return full


# ---------------------------------------------------------------- writing


def is_dump(path: str | Path) -> bool:
    """Whether `path` is a directory headed by a dump's meta.json (complete or not valid)."""
    try:
        meta = json.loads((Path(path) / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT


def check_target(path: str | Path, overwrite: bool) -> None:
    """Refuse to write a dump at `path` unless nothing is there or, with `overwrite`, a dump
    is: nothing but a dump is ever replaced."""
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        return
    if not overwrite:
        raise DumpError(f"{path} already exists (choose another --out, or --overwrite a dump)")
    if not is_dump(path):
        raise DumpError(f"{path} exists and is not an attention dump: only a dump is replaced")


def _as_numpy(array) -> np.ndarray:
    if hasattr(array, "detach"):  # a torch tensor
        array = array.detach().float().cpu().numpy()
    return np.asarray(array)


class DumpWriter:
    """Writes a dump sequence by sequence; use as a context manager (or call `close`).

    with DumpWriter(path, model="gpt2", n_layers=12, n_heads=12) as out:
        out.add(tokens, attention)        # attention: (n_layers, n_heads, n, n)
    """

    def __init__(
        self,
        path: str | Path,
        *,
        model: str,
        n_layers: int,
        n_heads: int,
        dtype: str = "float16",
        overwrite: bool = False,
        extra: dict | None = None,
    ):
        if dtype not in DTYPES:
            raise DumpError(f"dump dtype must be float16 or float32 (got {dtype!r})")
        self.path = Path(os.path.abspath(path))  # `.` and `..` have a name and a parent
        check_target(self.path, overwrite)
        if not self.path.parent.is_dir():
            raise DumpError(
                f"cannot write {self.path}: directory {self.path.parent} does not exist"
            )
        self.model, self.n_layers, self.n_heads = str(model), int(n_layers), int(n_heads)
        self.dtype, self.overwrite, self.extra = dtype, overwrite, dict(extra or {})
        self.tmp = self.path.parent / f".{self.path.name}.partial-{os.getpid()}"
        shutil.rmtree(self.tmp, ignore_errors=True)
        (self.tmp / "features").mkdir(parents=True)
        self._attention = open(self.tmp / "attention.bin", "wb")
        self._texts = open(self.tmp / "texts.jsonl", "w", encoding="utf-8")
        self._ids: list[np.ndarray] = []
        self._special: list[np.ndarray] = []
        self._features: dict[str, list[np.ndarray]] = {}
        self._lengths: list[int] = []
        self.closed = False

    def __len__(self) -> int:
        return len(self._lengths)

    def add(self, tokens: Tokens, attention) -> None:
        """Append one sequence with its attention (n_layers, n_heads, n, n)."""
        attention = _as_numpy(attention)
        n = len(tokens)
        if attention.shape != (self.n_layers, self.n_heads, n, n):
            raise DumpError(
                f"sequence {len(self)}: attention shape {attention.shape}, expected "
                f"{(self.n_layers, self.n_heads, n, n)}"
            )
        self.add_packed(tokens, pack(attention.reshape(self.n_layers * self.n_heads, n, n)))

    def add_packed(self, tokens: Tokens, packed) -> None:
        """Append one sequence with its packed attention (n_layers * n_heads, n(n+1)/2)."""
        packed = _as_numpy(packed)
        n = len(tokens)
        if n == 0:
            raise DumpError(f"sequence {len(self)} is empty")
        if packed.shape != (self.n_layers * self.n_heads, tri_size(n)):
            raise DumpError(
                f"sequence {len(self)}: packed attention shape {packed.shape}, expected "
                f"{(self.n_layers * self.n_heads, tri_size(n))}"
            )
        self._attention.write(np.ascontiguousarray(packed, dtype=DTYPES[self.dtype]).tobytes())
        self._texts.write(json.dumps(list(tokens.texts), ensure_ascii=False) + "\n")
        self._ids.append(np.asarray(tokens.ids, dtype=np.int64))
        self._special.append(np.asarray(tokens.special, dtype=bool))
        for name, values in token_features(tokens.texts, tokens.ids, tokens.special).items():
            if name not in NOT_STORED:
                self._features.setdefault(name, []).append(values)
        self._lengths.append(n)

    def close(self) -> Path:
        """Finish the dump: write the token arrays, then meta.json, then move it into place."""
        if self.closed:
            return self.path
        self._attention.close()
        self._texts.close()
        if not self._lengths:
            self.abort()
            raise DumpError("no sequences to write: the dump would be empty")
        offsets = np.concatenate([[0], np.cumsum(self._lengths)]).astype(np.int64)
        np.save(self.tmp / "offsets.npy", offsets)
        np.save(self.tmp / "tokens.npy", np.concatenate(self._ids))
        np.save(self.tmp / "special.npy", np.concatenate(self._special))
        for name, parts in self._features.items():
            np.save(self.tmp / "features" / f"{name}.npy", np.concatenate(parts))
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "model": self.model,
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "dtype": self.dtype,
            "n_sequences": len(self._lengths),
            "n_tokens": int(offsets[-1]),
            "features": sorted(self._features),
            "extra": self.extra,
        }
        (self.tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        old = self.path.parent / f".{self.path.name}.old-{os.getpid()}"
        if self.path.exists():
            if not self.overwrite:
                self.abort()
                raise DumpError(f"{self.path} appeared while writing; the new dump was dropped")
            os.replace(self.path, old)
        os.replace(self.tmp, self.path)
        shutil.rmtree(old, ignore_errors=True)
        self.closed = True
        return self.path

    def abort(self) -> None:
        """Drop everything written so far."""
        for handle in (self._attention, self._texts):
            handle.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.closed = True

    def __enter__(self) -> DumpWriter:
        return self

    def __exit__(self, kind, error, trace) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def write_dump(
    path: str | Path,
    sequences: Iterable[tuple[Tokens, object]],
    *,
    model: str,
    dtype: str = "float16",
    overwrite: bool = False,
    extra: dict | None = None,
) -> Path:
    """Write `(tokens, attention[n_layers, n_heads, n, n])` pairs as a dump at `path`."""
    writer = None
    try:
        for tokens, attention in sequences:
            attention = _as_numpy(attention)
            if writer is None:
                layers, heads = attention.shape[:2]
                writer = DumpWriter(
                    path,
                    model=model,
                    n_layers=layers,
                    n_heads=heads,
                    dtype=dtype,
                    overwrite=overwrite,
                    extra=extra,
                )
            writer.add(tokens, attention)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is None:
        raise DumpError("no sequences to write: the dump would be empty")
    return writer.close()


# ---------------------------------------------------------------- reading


class Dump:
    """A validated attention dump, read memory-mapped. Sequences are indexed 0..len-1."""

    def __init__(self, path: Path, meta: dict):
        self.path = path
        self.meta = meta
        self.model: str = meta["model"]
        self.n_layers: int = meta["n_layers"]
        self.n_heads: int = meta["n_heads"]
        self.dtype: str = meta["dtype"]
        self.feature_names: list[str] = list(meta["features"])
        self.offsets = np.load(path / "offsets.npy")
        self.ids_all = np.load(path / "tokens.npy", mmap_mode="r")
        self.special_all = np.load(path / "special.npy", mmap_mode="r")
        self.feature_arrays = {
            name: np.load(path / "features" / f"{name}.npy", mmap_mode="r")
            for name in self.feature_names
        }
        self.lengths = np.diff(self.offsets)
        sizes = self.lengths * (self.lengths + 1) // 2 * self.n_layers * self.n_heads
        self.attention_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._attention = (
            np.memmap(path / "attention.bin", dtype=DTYPES[self.dtype], mode="r")
            if self.attention_offsets[-1]
            else np.zeros(0, dtype=DTYPES[self.dtype])
        )

    def __len__(self) -> int:
        return len(self.lengths)

    def __repr__(self) -> str:
        return (
            f"Dump({str(self.path)!r}, model={self.model!r}, sequences={len(self)}, "
            f"layers={self.n_layers}, heads={self.n_heads}, dtype={self.dtype})"
        )

    @property
    def heads(self) -> list[tuple[int, int]]:
        """Every (layer, head), in storage-row order."""
        return [(layer, head) for layer in range(self.n_layers) for head in range(self.n_heads)]

    def row(self, layer: int, head: int) -> int:
        """The row of (layer, head) in a packed block."""
        if not (0 <= layer < self.n_layers and 0 <= head < self.n_heads):
            raise DumpError(
                f"head {layer}.{head} is not in the dump "
                f"({self.n_layers} layers x {self.n_heads} heads)"
            )
        return layer * self.n_heads + head

    def _span(self, s: int) -> slice:
        if not -len(self) <= s < len(self):
            raise IndexError(f"sequence {s} out of range (the dump has {len(self)})")
        s %= len(self)
        return slice(int(self.offsets[s]), int(self.offsets[s + 1]))

    def length(self, s: int) -> int:
        """Tokens in sequence s."""
        span = self._span(s)
        return span.stop - span.start

    def ids(self, s: int) -> np.ndarray:
        return np.asarray(self.ids_all[self._span(s)])

    def special(self, s: int) -> np.ndarray:
        return np.asarray(self.special_all[self._span(s)])

    @cached_property
    def _texts(self) -> list[list[str]]:
        try:
            with open(self.path / "texts.jsonl", encoding="utf-8") as lines:
                texts = [json.loads(line) for line in lines if line.strip()]
        except (json.JSONDecodeError, UnicodeDecodeError):
            texts = None
        if texts is None or not all(isinstance(t, list) for t in texts):
            raise DumpError(f"{self.path}: texts.jsonl is not JSON lists of token texts "
                            "(corrupt dump)")
        if [len(t) for t in texts] != self.lengths.tolist():
            raise DumpError(f"{self.path}: texts.jsonl does not match offsets.npy (corrupt dump)")
        return texts

    def texts(self, s: int) -> list[str]:
        self._span(s)
        return self._texts[s]

    def tokens(self, s: int) -> Tokens:
        """Sequence s as `Tokens` (ids, texts, special flags)."""
        return Tokens(
            ids=self.ids(s).tolist(), texts=self.texts(s), special=self.special(s).tolist()
        )

    def features(self, s: int) -> dict[str, np.ndarray]:
        """The token features of sequence s, keyed as `dsl.ops.features` keys them.

        Features the dump does not store (a dump written by another tool) are computed.
        """
        span = self._span(s)
        out = {"text": np.array(self.texts(s), dtype=object), "id": self.ids(s)}
        out.update({name: np.asarray(a[span]) for name, a in self.feature_arrays.items()})
        if not set(_FEATURE_NAMES) <= set(out):
            computed = token_features(self.texts(s), self.ids(s), self.special(s))
            out = {**computed, **out}
        return out

    def packed(self, s: int) -> np.ndarray:
        """(n_layers * n_heads, n(n+1)/2) packed attention of sequence s (a read-only view)."""
        n = self.length(s)
        s %= len(self)
        start = int(self.attention_offsets[s])
        block = self._attention[start : int(self.attention_offsets[s + 1])]
        return block.reshape(self.n_layers * self.n_heads, tri_size(n))

    def attention(self, s: int) -> np.ndarray:
        """(n_layers, n_heads, n, n) float32 attention of sequence s."""
        n = self.length(s)
        return unpack(self.packed(s), n).reshape(self.n_layers, self.n_heads, n, n)

    def head(self, s: int, layer: int, head: int) -> np.ndarray:
        """(n, n) float32 attention of one head on sequence s."""
        return unpack(self.packed(s)[self.row(layer, head)], self.length(s))

    def iter_packed(self) -> Iterator[tuple[int, np.ndarray]]:
        """(s, packed block) for every sequence, in order."""
        for s in range(len(self)):
            yield s, self.packed(s)


_REQUIRED = {
    "format": str,
    "version": int,
    "model": str,
    "n_layers": int,
    "n_heads": int,
    "dtype": str,
    "n_sequences": int,
    "n_tokens": int,
    "features": list,
}


def _npy_shape(path: Path, what: str) -> tuple:
    if not path.is_file():
        raise DumpError(f"{path.parent}: missing {what} (incomplete or corrupt dump)")
    try:
        return np.load(path, mmap_mode="r").shape
    except (ValueError, OSError, EOFError):
        raise DumpError(f"{path}: not a readable .npy file (corrupt dump)") from None


def open_dump(path: str | Path) -> Dump:
    """Open and validate an attention dump directory."""
    path = Path(path)
    if not path.exists():
        raise DumpError(f"no attention dump at {path}")
    if not path.is_dir():
        raise DumpError(f"{path} is not an attention dump (dumps are directories)")
    meta_path = path / "meta.json"
    if not meta_path.is_file():
        raise DumpError(f"{path}: no meta.json (not a dump, or an unfinished one)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DumpError(f"{meta_path}: not valid JSON (corrupt dump)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DumpError(f"{path}: meta.json is not a {FORMAT} header")
    for key, kind in _REQUIRED.items():
        if not isinstance(meta.get(key), kind):
            raise DumpError(f"{meta_path}: missing or invalid {key!r}")
    if meta["version"] > VERSION:
        raise DumpError(f"{path}: dump format version {meta['version']} is newer than {VERSION}")
    if meta["dtype"] not in DTYPES:
        raise DumpError(f"{meta_path}: dtype {meta['dtype']!r} is not float16 or float32")
    n_seq, n_tok = meta["n_sequences"], meta["n_tokens"]
    if _npy_shape(path / "offsets.npy", "offsets.npy") != (n_seq + 1,):
        raise DumpError(f"{path}: offsets.npy does not hold n_sequences + 1 entries")
    offsets = np.load(path / "offsets.npy")
    if offsets[0] != 0 or offsets[-1] != n_tok or np.any(np.diff(offsets) < 1):
        raise DumpError(f"{path}: offsets.npy is not increasing from 0 to n_tokens")
    for name in ["tokens", "special"] + [f"features/{f}" for f in meta["features"]]:
        if _npy_shape(path / f"{name}.npy", f"{name}.npy") != (n_tok,):
            raise DumpError(f"{path}: {name}.npy does not hold n_tokens entries")
    if not (path / "texts.jsonl").is_file():
        raise DumpError(f"{path}: missing texts.jsonl (incomplete or corrupt dump)")
    attention = path / "attention.bin"
    if not attention.is_file():
        raise DumpError(f"{path}: missing attention.bin (incomplete or corrupt dump)")
    lengths = np.diff(offsets).astype(np.int64)
    expected = int((lengths * (lengths + 1) // 2).sum()) * meta["n_layers"] * meta["n_heads"]
    expected *= np.dtype(DTYPES[meta["dtype"]]).itemsize
    if attention.stat().st_size != expected:
        raise DumpError(
            f"{attention}: {attention.stat().st_size} bytes, expected {expected} (corrupt dump)"
        )
    return Dump(path, meta)
