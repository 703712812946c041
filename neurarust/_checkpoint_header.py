"""Reading and checking a safetensors header with bounded time and memory.

A checkpoint's header is untrusted input of up to :data:`MAX_HEADER_SIZE` bytes. Handing it
straight to ``json.loads`` lets a few bytes become a lot of Python objects (``[[],[],...]``:
about 32 bytes of memory per byte of header) and lets a shape of a million dims cost
quadratic time in ``math.prod``. So, before any JSON object is built, :func:`scan` checks the
header's *form* with compiled regular expressions (linear, in C): a JSON object mapping names
to tensor entries, each entry an object of at most a few fields whose values are strings or
lists of at most :data:`MAX_RANK` non-negative integers of at most 20 digits (below 2**64, as
safetensors' ``usize``), ``__metadata__`` a flat string-to-string map of at most
:data:`MAX_ENTRIES` entries, and at most :data:`MAX_ENTRIES` tensors. What passes holds a bounded number of
small values, which ``json.loads`` then builds in bounded memory; :func:`validate` checks the
meaning (fields, dtypes, offsets tiling the data section exactly) as the safetensors
reference reader does.

The limits match or tighten those of the safetensors reader (header <= 100 MB, offsets in
bounds and contiguous, no overlaps, sizes that do not overflow 64 bits); the extra caps (rank,
entry count, no duplicate names) keep a hostile header within about 1.3 GB of memory, where
the reference reader itself spends 1.9 GB on a 94 MB header of ones (see
bench/checkpoint_hostile.py).
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Collection, Mapping
from typing import Any

__all__ = [
    "MAX_ENTRIES",
    "MAX_HEADER_SIZE",
    "MAX_RANK",
    "METADATA",
    "Entry",
    "HeaderError",
    "parse",
    "scan",
    "validate",
]

MAX_HEADER_SIZE = 100_000_000
"""Largest header accepted, as the safetensors reference reader."""
MAX_RANK = 64
"""Most dims of a tensor: numpy's own limit (an array with more dims can't be built)."""
MAX_ENTRIES = 1_000_000
"""Most tensors in one header, and most ``__metadata__`` entries."""
METADATA = "__metadata__"
_U64 = 2 ** 64  # dims and offsets are below it (safetensors' usize); type(x) is int: no bools
_MAX_FIELDS = 8  # per tensor entry: 3 are valid; a few more get a clear error after parsing


class HeaderError(ValueError):
    """A header problem; ``field`` names the entry (and its field) it is about."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


_W = rb"[ \t\n\r]*+"
_STR = rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
_INT = rb"[0-9]{1,20}+"
_LIST = rb"\[" + _W + rb"(?:" + _INT + _W + rb"(?:," + _W + _INT + _W + rb"){0,%d}+)?\]" % (
    MAX_RANK - 1)
_VALUE = rb"(?:" + _STR + rb"|" + _LIST + rb")"
_FIELD = _STR + _W + rb":" + _W + _VALUE + _W
_ENTRY = rb"\{" + _W + rb"(?:" + _FIELD + rb"(?:," + _W + _FIELD + rb"){0,%d}+)?\}" % (
    _MAX_FIELDS - 1)
_META_KEY_RE = rb'"__metadata__"'
_META_PAIR = _STR + _W + rb":" + _W + _STR + _W
_META = rb"\{" + _W + rb"(?:" + _META_PAIR + rb"(?:," + _W + _META_PAIR + rb"){0,%d}+)?\}" % (
    MAX_ENTRIES - 1)

_PAIR = rb"(?:" + _META_KEY_RE + _W + rb":" + _W + _META + rb"|" + _STR + _W + rb":" + _W + \
    _ENTRY + rb")" + _W


@functools.lru_cache(maxsize=4)
def _whole(max_entries: int) -> re.Pattern[bytes]:
    """A whole valid-looking header of at most ``max_entries`` entries, as one pattern."""
    return re.compile(_W + rb"\{" + _W + rb"(?:" + _PAIR + rb"(?:," + _W + _PAIR
                      + rb"){0,%d}+)?\}" % (max_entries - 1) + _W)


_OPEN = re.compile(_W + rb"\{" + _W)
_KEY = re.compile(rb"(" + _STR + rb")" + _W + rb":" + _W)
_ENTRY_RE = re.compile(_ENTRY + _W)
_META_RE = re.compile(_META + _W)
_VALUE_RE = re.compile(_VALUE + _W)
_SEP = re.compile(rb"([,}])" + _W)
_META_KEY = b'"' + METADATA.encode() + b'"'


def _name(key: bytes) -> str:
    """A JSON string token as text for messages (its escapes decoded when valid)."""
    try:
        text = json.loads(key)
    except ValueError:
        text = key[1:-1].decode("utf-8", "replace")
    return str(text)[:80]


def _snippet(raw: bytes, pos: int) -> str:
    return raw[pos:pos + 40].decode("utf-8", "replace")


def scan(raw: bytes) -> None:
    """Check the form of header ``raw`` (see the module doc) in linear time and constant
    memory; raise :class:`HeaderError` naming the first entry that does not fit."""
    if _whole(MAX_ENTRIES).fullmatch(raw):  # one pass in C; the loop below names the fault
        return
    m = _OPEN.match(raw)
    if m is None:
        raise HeaderError("header", "does not start with '{' (not a safetensors file?)")
    pos, count = m.end(), 0
    if raw[pos:pos + 1] == b"}":
        pos += 1
    else:
        while True:
            key = _KEY.match(raw, pos)
            if key is None:
                raise HeaderError("header", f"expected a quoted tensor name at byte {pos}, got "
                                            f"{_snippet(raw, pos)!r}")
            pos = key.end()
            if key.group(1) == _META_KEY:
                value = _META_RE.match(raw, pos)
                if value is None:
                    raise HeaderError(METADATA, "must be an object mapping strings to strings "
                                                f"(at most {MAX_ENTRIES} entries)")
            else:
                value = _ENTRY_RE.match(raw, pos)
                if value is None:
                    _explain_entry(raw, pos, _name(key.group(1)))
                count += 1
            assert value is not None
            if count > MAX_ENTRIES:
                raise HeaderError("header", f"more than {MAX_ENTRIES} tensors")
            sep = _SEP.match(raw, value.end())
            if sep is None:
                raise HeaderError("header", f"expected ',' or '}}' at byte {value.end()}, got "
                                            f"{_snippet(raw, value.end())!r}")
            pos = sep.end()
            if sep.group(1) == b"}":
                break
            # after ',' the loop expects the next key
    if raw[pos:].strip(b" \t\n\r"):
        raise HeaderError("header", f"unexpected bytes after the JSON object at byte {pos}")


_EXPECTED = {
    "dtype": "a string naming a dtype",
    "shape": f"a list of at most {MAX_RANK} non-negative integers below 2**64",
    "data_offsets": "[begin, end], two non-negative integers below 2**64",
}


def _explain_entry(raw: bytes, pos: int, name: str) -> None:
    """Raise the error for the tensor entry at ``pos`` that failed the fast match, naming
    the field at fault (a slow path: runs once, over one entry)."""
    field = f"tensor {name!r}"
    if raw[pos:pos + 1] != b"{":
        raise HeaderError(field, f"entry must be an object with dtype, shape and data_offsets, "
                                 f"got {_snippet(raw, pos)!r}")
    m = _OPEN.match(raw, pos)
    assert m is not None
    pos = m.end()
    for _ in range(_MAX_FIELDS):
        key = _KEY.match(raw, pos)
        if key is None:
            break
        field_name = _name(key.group(1))
        value = _VALUE_RE.match(raw, key.end())
        if value is None:
            expected = _EXPECTED.get(field_name, "a string or a list of at most "
                                                 f"{MAX_RANK} non-negative integers below 2**64")
            raise HeaderError(f"{field} field {field_name!r}",
                              f"must be {expected}, got {_snippet(raw, key.end())!r}...")
        sep = _SEP.match(raw, value.end())
        if sep is None:
            break
        pos = sep.end()
        if sep.group(1) == b"}":
            break
    else:
        raise HeaderError(field, f"entry has more than {_MAX_FIELDS} fields; expected exactly "
                                 "dtype, shape and data_offsets")
    raise HeaderError(field, f"malformed entry near byte {pos}: {_snippet(raw, pos)!r}")


def _no_constants(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _no_floats(text: str) -> Any:
    raise ValueError(f"number {text[:30]} is not a non-negative integer")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise ValueError(f"duplicate key {k[:80]!r}")
            seen.add(k)
    return out


def parse(raw: bytes) -> dict[str, Any]:
    """The header ``raw`` (already through :func:`scan`) as a dict; HeaderError when it is
    not valid UTF-8 JSON or repeats a name."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HeaderError("header", f"not valid UTF-8 ({exc.reason} at byte {exc.start})") \
            from None
    try:
        header = json.loads(text, parse_constant=_no_constants, parse_float=_no_floats,
                            object_pairs_hook=_unique)
    except (ValueError, RecursionError) as exc:
        raise HeaderError("header", f"not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise HeaderError("header", "not a JSON object")
    return header


Entry = tuple[str, str, tuple[int, ...], int, int]
"""(name, safetensors dtype code, shape, begin, end) of one tensor."""


def validate(header: dict[str, Any], data_size: int, itemsize: Mapping[str, int],
             unsupported: Collection[str] = ()) -> tuple[dict[str, str], list[Entry]]:
    """The metadata and the tensor entries of ``header``, sorted by offset, after checking
    that every entry is well formed and that the offsets tile the ``data_size`` bytes of the
    data section exactly. ``itemsize`` maps the accepted dtype codes to their sizes;
    ``unsupported`` codes are valid safetensors dtypes the caller cannot hold (named so in
    the error)."""
    meta = header.get(METADATA, {})
    if not isinstance(meta, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise HeaderError(METADATA, "must map strings to strings")
    entries: list[Entry] = []
    for name, info in header.items():
        if name == METADATA:
            continue
        field = f"tensor {name[:80]!r}"
        if not (isinstance(info, dict) and set(info) == {"dtype", "shape", "data_offsets"}):
            raise HeaderError(field, "entry must have exactly dtype, shape and data_offsets, "
                                     f"got {sorted(info)[:8] if isinstance(info, dict) else info}")
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        size = itemsize.get(code) if isinstance(code, str) else None
        if size is None:
            why = "is not supported by neurarust" if code in unsupported else "is unknown"
            raise HeaderError(f"{field} field 'dtype'",
                              f"{str(code)[:20]!r} {why}; supported: {', '.join(itemsize)}")
        if not (type(shape) is list and len(shape) <= MAX_RANK
                and all(type(d) is int and 0 <= d < _U64 for d in shape)):
            raise HeaderError(f"{field} field 'shape'",
                              f"must be a list of at most {MAX_RANK} non-negative integers "
                              f"below 2**64, got {str(shape)[:80]}")
        if not (type(offsets) is list and len(offsets) == 2
                and all(type(o) is int and 0 <= o < _U64 for o in offsets)
                and offsets[0] <= offsets[1]):
            raise HeaderError(f"{field} field 'data_offsets'",
                              "must be [begin, end] with 0 <= begin <= end < 2**64, got "
                              f"{str(offsets)[:80]}")
        if offsets[1] > data_size:
            raise HeaderError(f"{field} field 'data_offsets'",
                              f"{offsets} runs past the {data_size} bytes of data in the file "
                              "(truncated file?)")
        nbytes = math.prod(shape) * size  # <= 64 factors below 2**64: cheap
        if offsets[1] - offsets[0] != nbytes:
            raise HeaderError(f"{field} field 'data_offsets'",
                              f"{code}{shape} needs {nbytes} bytes, but {offsets} spans "
                              f"{offsets[1] - offsets[0]}")
        entries.append((name, code, tuple(shape), offsets[0], offsets[1]))
    entries.sort(key=lambda e: (e[3], e[4]))
    position = 0
    for name, _, _, begin, end in entries:
        if begin != position:
            what = "overlaps the previous tensor" if begin < position else "leaves a gap before it"
            raise HeaderError(f"tensor {name[:80]!r} field 'data_offsets'",
                              f"[{begin}, {end}] {what} (expected it to begin at {position})")
        position = end
    if position != data_size:
        raise HeaderError("header", f"the tensors cover {position} bytes of data but the file "
                                    f"holds {data_size} after the header (truncated or padded "
                                    "file?)")
    return meta, entries
