"""Every public tensor function, one module per op family; ``neurarust`` re-exports them."""

from ._call import apply, inplace
from .conv import *  # noqa: F403
from .creation import *  # noqa: F403
from .elementwise import *  # noqa: F403
from .indexing import *  # noqa: F403
from .joining import *  # noqa: F403
from .linalg import *  # noqa: F403
from .random import Generator, default_generator, initial_seed, manual_seed, seed
from .reduction import *  # noqa: F403
from .shaping import *  # noqa: F403
