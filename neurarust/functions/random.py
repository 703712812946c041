"""The project's own random generator: seedable, reproducible, independent of numpy's global."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Generator", "manual_seed", "default_generator", "seed", "initial_seed"]


class Generator:
    """A PCG64 stream, as ``torch.Generator``: ``manual_seed``, ``get_state``/``set_state``."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._rng = np.random.Generator(np.random.PCG64(seed))

    def manual_seed(self, seed: int) -> Generator:
        if not isinstance(seed, (int, np.integer)):
            raise TypeError(f"manual_seed expects an int, got {type(seed).__name__}")
        self._seed = int(seed)
        self._rng = np.random.Generator(np.random.PCG64(int(seed) & (2**64 - 1)))
        return self

    def initial_seed(self) -> int:
        return self._seed

    def seed(self) -> int:
        """Reseed from OS entropy and return the new seed."""
        entropy = np.random.SeedSequence().entropy
        new = int(entropy if isinstance(entropy, int) else 0) & (2**63 - 1)
        self.manual_seed(new)
        return new

    def get_state(self) -> dict[str, Any]:
        return dict(self._rng.bit_generator.state)

    def set_state(self, state: dict[str, Any]) -> None:
        self._rng.bit_generator.state = state

    @property
    def numpy(self) -> np.random.Generator:
        """The underlying numpy generator (kernels draw from it)."""
        return self._rng


default_generator = Generator(0)


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (all random creation functions and nn.init use it)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()
