"""Checkpoints: :func:`save` and :func:`load` in the safetensors format, never pickle.

File layout (https://github.com/huggingface/safetensors, implemented here byte for byte):

1. 8 bytes: ``N``, the header length, unsigned little-endian;
2. ``N`` bytes: a UTF-8 JSON object, padded with spaces to a multiple of 8 bytes. Each tensor
   maps to ``{"dtype": "F32", "shape": [10, 128], "data_offsets": [begin, end]}``; the
   optional ``"__metadata__"`` entry maps strings to strings;
3. the tensors' raw little-endian bytes, back to back (offsets relative to this section,
   contiguous, covering it exactly).

A flat ``{name: Tensor}`` dict (a model's ``state_dict``) becomes a plain safetensors file that
any safetensors reader loads. Anything else (an optimizer's state dict: nested dicts and lists
of tensors, ints, floats, strings, None) is stored as its tensors under dotted path names plus
a JSON description of the structure in ``__metadata__["neurarust.structure"]``, from which
:func:`load` rebuilds the same object.

Integrity: ``__metadata__["neurarust.sha256"]`` holds a SHA-256 of the canonical header and the
data, so :func:`load` detects any truncation or flipped byte in a file written here, instead of
returning garbage (an accident, not forgery: anyone who edits a file can recompute it).

Hostile files: only the header is read before it is checked, and its form is checked in one
linear pass before any JSON object is built (:mod:`._checkpoint_header`: header <= 100 MB,
<= 64 dims, integers below 2**64, <= 1,000,000 tensors, unique names), so no file can cost
quadratic time or memory out of proportion to its header. Every problem (bad header length,
invalid JSON, a field of the wrong type, offsets out of range or overlapping, unknown dtype,
size mismatch, checksum mismatch) raises :class:`CheckpointError`, a ``ValueError`` naming
the file and the field.

Writes are atomic (:mod:`._atomic`): a temporary file in the same directory (mode 0o666 less
the umask), flushed and fsynced, renamed over the target, then the directory fsynced, so a
crash leaves the old checkpoint or the new one, never half of one; the temp files of killed
saves are removed by the next save to the same path.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import math
import os
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

import numpy as np

from . import _checkpoint_header as _header
from ._atomic import atomic_write
from .tensor import Tensor
from .types import dtype as _dt
from .types.dtype import DType

__all__ = ["CheckpointError", "load", "load_metadata", "save"]

PathLike = str | os.PathLike[str]

MAX_HEADER_SIZE = _header.MAX_HEADER_SIZE
"""Largest header accepted (as the safetensors reference reader): a corrupted length field
cannot make :func:`load` allocate more than this for the header."""
MAX_RANK = _header.MAX_RANK
"""Most dims of a tensor in a checkpoint (numpy's limit)."""
MAX_ENTRIES = _header.MAX_ENTRIES
"""Most tensors (and most ``__metadata__`` entries) in one checkpoint."""
MAX_STRUCTURE_VALUES = 8 * MAX_ENTRIES
"""Most JSON values (counted as brackets and commas) in the structure description of a
nested checkpoint (an optimizer state): its memory stays bounded (~64 bytes a value)."""

_METADATA = _header.METADATA
_STRUCTURE_KEY = "neurarust.structure"
_CHECKSUM_KEY = "neurarust.sha256"
_OWN_PREFIX = "neurarust."
_FORMAT_VERSION = 1

_TO_SAFETENSORS: dict[DType, str] = {
    _dt.bool_: "BOOL", _dt.uint8: "U8", _dt.int8: "I8", _dt.int16: "I16", _dt.int32: "I32",
    _dt.int64: "I64", _dt.float16: "F16", _dt.float32: "F32", _dt.float64: "F64",
}
_FROM_SAFETENSORS: dict[str, DType] = {v: k for k, v in _TO_SAFETENSORS.items()}
# Known to safetensors, but with no neurarust dtype: named in the error.
_ITEMSIZE = {code: dtype.itemsize for code, dtype in _FROM_SAFETENSORS.items()}
_UNSUPPORTED = ("BF16", "U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3",
                "F6_E3M2", "C64")


class CheckpointError(ValueError):
    """A checkpoint file that is not a valid safetensors file, or fails its checksum."""


def _error(path: PathLike, problem: str) -> CheckpointError:
    return CheckpointError(f"load: {os.fspath(path)!s}: {problem}")


# -- save -------------------------------------------------------------------------------------
def save(obj: Any, path: PathLike, *, metadata: Mapping[str, str] | None = None) -> None:
    """Write ``obj`` to ``path`` in the safetensors format, atomically.

    Args:
        obj: a flat dict ``{name: Tensor}`` (``model.state_dict()``), or a nested structure
            of dicts (str/int/float/bool/None keys), lists and tuples holding tensors, ints,
            floats, bools, strings and None (``optimizer.state_dict()``).
        path: the file to write; replaced atomically if it exists.
        metadata: extra ``str -> str`` entries for the header's ``__metadata__`` (keys
            starting with ``neurarust.`` are reserved).

    Tensors are saved detached, contiguous and little-endian; requires_grad is not saved.
    """
    if hasattr(obj, "state_dict") and not isinstance(obj, (Mapping, list, tuple, Tensor)):
        raise TypeError(
            f"save: expected a state dict, got a {type(obj).__name__} object; "
            "hint: save model.state_dict() (or optimizer.state_dict()), and rebuild the "
            "object in code before load_state_dict"
        )
    extra = dict(metadata or {})
    for k, v in extra.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"save: metadata must map str to str, got {k!r}: {v!r}")
        if k.startswith(_OWN_PREFIX):
            raise ValueError(f"save: metadata key {k!r} is reserved (prefix {_OWN_PREFIX!r})")
    tensors: dict[str, Tensor] = {}
    # The structure is stored for flat state dicts too: it keeps their key order.
    structure = _encode(obj, "", tensors)
    if _METADATA in tensors:
        raise ValueError(f"save: {_METADATA!r} is reserved by the format and can't name a tensor")
    arrays = {name: _to_little_endian(t) for name, t in tensors.items()}
    # Largest items first keeps every tensor aligned to its itemsize (as safetensors does).
    order = sorted(arrays, key=lambda name: (-arrays[name].dtype.itemsize, name))
    header: dict[str, Any] = {}
    meta = dict(extra)
    meta[_STRUCTURE_KEY] = json.dumps({"version": _FORMAT_VERSION, "root": structure},
                                      separators=(",", ":"), allow_nan=False)
    offset = 0
    entries: dict[str, Any] = {}
    for name in order:
        a = arrays[name]
        entries[name] = {"dtype": _TO_SAFETENSORS[tensors[name].dtype],
                         "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    digest = hashlib.sha256(_canonical({_METADATA: meta, **entries}))
    for name in order:
        digest.update(_bytes(arrays[name]))
    meta[_CHECKSUM_KEY] = digest.hexdigest()
    header[_METADATA] = meta
    header.update(entries)
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    _write_atomic(path, raw, [arrays[name] for name in order])


def _to_little_endian(t: Tensor) -> np.ndarray:  # type: ignore[type-arg]
    if not isinstance(t, Tensor):
        raise TypeError(f"save: expected a Tensor, got {type(t).__name__}")
    if t.dtype not in _TO_SAFETENSORS:
        raise TypeError(f"save: dtype {t.dtype.name} has no safetensors equivalent")
    a = t._data
    if not isinstance(a, np.ndarray):  # a device tensor: saved from a host copy (loads on cpu)
        a = a.get()
    a = a if a.flags.c_contiguous else np.array(a, order="C")  # keeps 0-d
    if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and not _LITTLE_HOST):
        a = a.astype(a.dtype.newbyteorder("<"))
    return a


_LITTLE_HOST = np.little_endian


def _bytes(a: np.ndarray) -> memoryview:  # type: ignore[type-arg]
    """The raw bytes of a C-contiguous array, as a writable 1-D view (no copy)."""
    return memoryview(a.reshape(-1).view(np.uint8))  # type: ignore[arg-type]


def _canonical(header: Mapping[str, Any]) -> bytes:
    """The header as hashed: sorted keys, no spaces, ASCII, without the checksum itself."""
    meta = dict(header.get(_METADATA) or {})
    meta.pop(_CHECKSUM_KEY, None)
    body = {**header, _METADATA: meta}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("ascii") + b"\0"


def _write_atomic(path: PathLike, header: bytes, arrays: list[np.ndarray]) -> None:  # type: ignore[type-arg]
    def write(f: BinaryIO) -> None:
        f.write(len(header).to_bytes(8, "little"))
        f.write(header)
        for a in arrays:
            if a.nbytes:
                f.write(_bytes(a))

    atomic_write(path, write)


# -- structure encoding ------------------------------------------------------------------------
def _encode(obj: Any, path: str, tensors: dict[str, Tensor]) -> Any:
    """A JSON value describing ``obj``; tensors are stored in ``tensors`` under a path name.
    Every JSON object in the description is a one-key wrapper, so values never collide with
    the encoding."""
    if isinstance(obj, Tensor):
        name = path or "tensor"
        if name in tensors:
            i = 1
            while f"{name}#{i}" in tensors:
                i += 1
            name = f"{name}#{i}"
        tensors[name] = obj
        return {"tensor": name}
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"float": repr(obj)}
    if isinstance(obj, Mapping):
        items = []
        for k, v in obj.items():
            if not (k is None or isinstance(k, (str, int, float, bool))):
                raise TypeError(f"save: dict keys must be str, int, float, bool or None; got "
                                f"{type(k).__name__} at {path or 'the top level'}")
            items.append([_encode(k, "", {}), _encode(v, _join(path, k), tensors)])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        encoded = [_encode(v, _join(path, i), tensors) for i, v in enumerate(obj)]
        return encoded if isinstance(obj, list) else {"tuple": encoded}
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return _encode(obj.item(), path, tensors)
    raise TypeError(
        f"save: can't store a {type(obj).__name__} (at {path or 'the top level'}); "
        "checkpoints hold tensors, numbers, strings, None, and dicts/lists/tuples of them"
    )


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _decode(value: Any, tensors: dict[str, Tensor], used: set[str]) -> Any:
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, list):
        return [_decode(v, tensors, used) for v in value]
    if not (isinstance(value, dict) and len(value) == 1):
        raise ValueError(f"unexpected structure element {str(value)[:80]}")
    (kind, body), = value.items()
    if kind == "tensor":
        if not isinstance(body, str) or body not in tensors:
            raise ValueError(f"the structure refers to a tensor {str(body)[:80]!r} that the "
                             "file does not hold")
        used.add(body)
        return tensors[body]
    if kind == "float" and body in ("inf", "-inf", "nan"):
        return float(body)
    if kind == "tuple" and isinstance(body, list):
        return tuple(_decode(v, tensors, used) for v in body)
    if kind == "dict" and isinstance(body, list):
        out = {}
        for item in body:
            if not (isinstance(item, list) and len(item) == 2):
                raise ValueError("a dict entry in the structure is not a [key, value] pair")
            key = _decode(item[0], tensors, used)
            if not (key is None or isinstance(key, (str, int, float, bool))):
                raise ValueError("a dict key in the structure is not a scalar")
            out[key] = _decode(item[1], tensors, used)
        return out
    raise ValueError(f"unexpected structure element {str(value)[:80]}")


# -- load -------------------------------------------------------------------------------------
def load(path: PathLike | BinaryIO) -> Any:
    """Read a checkpoint written by :func:`save` (or any safetensors file).

    Args:
        path: a file path, or a binary file object open for reading (``io.BytesIO``, ...).

    Returns the saved object (the same structure, with key order), or a ``{name: Tensor}``
    dict for a file from another safetensors writer (in data order).

    Raises:
        CheckpointError: (a ``ValueError``) naming the file and the problem, for a truncated,
            corrupted or malformed file. Nothing is ever unpickled or executed.
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        name = str(getattr(path, "name", "<file object>"))
        size = path.seek(0, os.SEEK_END)
        path.seek(0)
        return _load(path, size, name)
    with open(path, "rb") as f:
        return _load(f, os.fstat(f.fileno()).st_size, path)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: a header of many tensors builds millions of small
    acyclic objects, and the collector's repeated passes over them doubled the load time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load(f: BinaryIO, size: int, path: PathLike) -> Any:
    """The checkpoint in ``f`` (``size`` bytes); ``path`` names it in errors."""
    with _no_gc():
        return _load_unpaused(f, size, path)


def _load_unpaused(f: BinaryIO, size: int, path: PathLike) -> Any:
    header, data_start = _read_header(f, size, path)
    meta, entries = _validate(header, size - data_start, path)
    checksum = meta.get(_CHECKSUM_KEY)
    if checksum is None and any(k.startswith(_OWN_PREFIX) for k in meta):
        raise _error(path, f"the header has neurarust entries but no {_CHECKSUM_KEY!r} "
                           "(the file was altered)")
    digest = hashlib.sha256(_canonical(header)) if checksum is not None else None
    tensors: dict[str, Tensor] = {}
    for name, dtype, shape, begin, end in entries:
        tensors[name] = _read_tensor(f, data_start + begin, end - begin, dtype, shape,
                                     digest, name, path)
    if digest is not None and digest.hexdigest() != checksum:
        raise _error(path, "checksum mismatch: the file is corrupted (its SHA-256 differs from "
                           "the one recorded when it was saved)")
    structure = meta.get(_STRUCTURE_KEY)
    if structure is None:
        return tensors
    # Bounded before parsing: about 64 bytes of memory per JSON value, and a file with a
    # recomputed checksum is no proof of good faith.
    values = structure.count("[") + structure.count("{") + structure.count(",")
    if values > MAX_STRUCTURE_VALUES:
        raise _error(path, f"{_STRUCTURE_KEY!r} metadata: more than {MAX_STRUCTURE_VALUES} "
                           "JSON values")
    try:
        doc = json.loads(structure)
        if not (isinstance(doc, dict) and doc.get("version") == _FORMAT_VERSION
                and "root" in doc):
            raise ValueError(f"unknown structure version {str(doc)[:40]}")
        used: set[str] = set()
        result = _decode(doc["root"], tensors, used)
    except (ValueError, TypeError, RecursionError) as exc:
        raise _error(path, f"invalid {_STRUCTURE_KEY!r} metadata: {exc}") from None
    if used != set(tensors):
        raise _error(path, f"tensors not referenced by the structure: "
                           f"{sorted(set(tensors) - used)[:5]}")
    return result


def load_metadata(path: PathLike) -> dict[str, str]:
    """The header's ``__metadata__`` entries (the ``metadata=`` given to :func:`save`, plus
    neurarust's own), without reading the tensor data."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        header, data_start = _read_header(f, size, path)
        meta, _ = _validate(header, size - data_start, path)
    return meta


def _read_header(f: BinaryIO, size: int, path: PathLike) -> tuple[dict[str, Any], int]:
    """The parsed header of the checkpoint in ``f`` and where its data begins. Reads only the
    header; its form is checked (bounded time and memory) before any JSON is parsed."""
    if size < 8:
        raise _error(path, f"file too short to be a safetensors file ({size} bytes, the "
                           "header length alone takes 8)")
    n = int.from_bytes(f.read(8), "little")
    if n > MAX_HEADER_SIZE:
        raise _error(path, f"header length {n} exceeds the {MAX_HEADER_SIZE}-byte limit "
                           "(corrupted length field, or not a safetensors file)")
    if 8 + n > size:
        raise _error(path, f"header length {n} runs past the end of the {size}-byte file "
                           "(truncated file?)")
    raw = f.read(n)
    if len(raw) != n:
        raise _error(path, "could not read the whole header (file changed while reading?)")
    try:
        _header.scan(raw)
        return _header.parse(raw), 8 + n
    except _header.HeaderError as exc:
        raise _error(path, str(exc)) from None


def _validate(header: dict[str, Any], data_size: int,
              path: PathLike) -> tuple[dict[str, str], list[Entry]]:
    """Check every header entry and that the offsets tile the data section exactly."""
    try:
        meta, raw_entries = _header.validate(header, data_size, _ITEMSIZE, _UNSUPPORTED)
    except _header.HeaderError as exc:
        raise _error(path, str(exc)) from None
    return meta, [(name, _FROM_SAFETENSORS[code], shape, begin, end)
                  for name, code, shape, begin, end in raw_entries]


Entry = tuple[str, DType, tuple[int, ...], int, int]


def _read_tensor(f: BinaryIO, start: int, nbytes: int, dtype: DType, shape: tuple[int, ...],
                 digest: Any, name: str, path: PathLike) -> Tensor:
    try:
        array = np.empty(shape, dtype=dtype.np_dtype.newbyteorder("<"))
    except (ValueError, OverflowError, MemoryError) as exc:  # zero-size with huge dims
        raise _error(path, f"tensor {name!r}: can't build an array of shape {list(shape)[:8]}: "
                           f"{exc}") from None
    if nbytes:
        f.seek(start)
        got = f.readinto(_bytes(array))  # type: ignore[attr-defined]
        if got != nbytes:
            raise _error(path, f"tensor {name!r}: read {got} of {nbytes} bytes (file changed "
                               "while reading?)")
        if digest is not None:
            digest.update(_bytes(array))
    if dtype is _dt.bool_:
        raw = array.view(np.uint8)
        if raw.size and int(raw.max()) > 1:
            raise _error(path, f"tensor {name!r}: BOOL data holds bytes other than 0 and 1")
    if not _LITTLE_HOST:
        array = array.astype(dtype.np_dtype)
    return Tensor._from_numpy(array)
