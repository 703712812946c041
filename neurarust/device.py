"""Devices: where a tensor's data lives, and which backend's kernels run on it."""

from __future__ import annotations

from typing import Final

__all__ = ["Device", "device", "CPU", "register_backend_device", "set_default_device",
           "get_default_device"]

_KNOWN_TYPES: dict[str, str] = {"cpu": "cpu"}  # device type -> backend name


class Device:
    """A device such as ``cpu`` or ``cuda:0``, as ``torch.device``.

    ``backend`` names the key under which kernels for this device are registered, so new
    backends plug in without touching op declarations.
    """

    __slots__ = ("type", "index", "backend")

    def __init__(self, type: str, index: int | None = None) -> None:
        if ":" in type:
            if index is not None:
                raise ValueError(f"device {type!r} already has an index; got index={index} too")
            type, _, idx = type.partition(":")
            if not idx.isdigit():
                raise ValueError(f"invalid device index in {type}:{idx!r}; expected e.g. 'cuda:0'")
            index = int(idx)
        if type not in _KNOWN_TYPES:
            if type == "cuda":
                _load_cuda()
        if type not in _KNOWN_TYPES:
            raise ValueError(f"unknown device type {type!r}; known: {sorted(_KNOWN_TYPES)}")
        self.type = type
        self.index = index
        self.backend = _KNOWN_TYPES[type]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = Device(other)
        return (
            isinstance(other, Device)
            and self.type == other.type
            and (self.index or 0) == (other.index or 0)
        )

    def __hash__(self) -> int:
        return hash((self.type, self.index or 0))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type={self.type!r}" + (
            f", index={self.index})" if self.index is not None else ")"
        )


def _load_cuda() -> None:
    """Load the cuda backend (pycuda + a GPU, or the emulator); raise naming what to install."""
    from .kernels.cuda import backend

    try:
        backend.load()
    except RuntimeError as err:
        raise RuntimeError(f"device 'cuda' is not available: {err}") from err


def register_backend_device(device_type: str, backend: str) -> None:
    """Called by a backend package when it loads, so ``Device(device_type)`` becomes valid."""
    _KNOWN_TYPES[device_type] = backend


CPU: Final = Device("cpu")


def device(spec: str | Device | None) -> Device:
    """Normalise ``"cpu"``, ``Device`` or None (meaning CPU) to a Device."""
    if spec is None:
        return CPU
    if isinstance(spec, Device):
        return spec
    if isinstance(spec, str):
        return CPU if spec == "cpu" else Device(spec)
    raise TypeError(f"expected a device such as 'cpu', got {spec!r}")


_as_device = device  # set_default_device's parameter shadows the function
_default: list[Device] = [CPU]  # one cell: read on every creation call without a device


def set_default_device(device: str | Device | None) -> None:
    """Where creation functions put tensors when no ``device=`` is given, as
    ``torch.set_default_device``: ``tensor``, ``zeros``, ``ones``, ``empty``, ``full``,
    ``rand``, ``randn``, ``randint``, ``randperm``, ``arange``, ``linspace``, ``eye``,
    ``as_tensor`` of non-tensor data, and so the parameters and buffers of nn modules built
    afterwards. ``*_like`` functions keep their input's device and ``from_numpy`` stays on
    the CPU (it shares the array's memory). ``None`` restores the CPU.
    """
    _default[0] = CPU if device is None else _as_device(device)


def get_default_device() -> Device:
    """The device set by :func:`set_default_device` (the CPU unless changed)."""
    return _default[0]
