"""Every public tensor function, one module per op family; ``neurarust`` re-exports them."""

from ._call import apply as apply
from ._call import inplace as inplace
from .conv import *  # noqa: F403
from .creation import *  # noqa: F403
from .elementwise import *  # noqa: F403
from .indexing import *  # noqa: F403
from .joining import *  # noqa: F403
from .linalg import *  # noqa: F403
from .random import Generator as Generator
from .random import default_generator as default_generator
from .random import initial_seed as initial_seed
from .random import manual_seed as manual_seed
from .random import seed as seed
from .reduction import *  # noqa: F403
from .shaping import *  # noqa: F403
