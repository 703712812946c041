"""Optimizers and learning-rate schedulers, as ``torch.optim``.

Every optimizer updates its parameters' numpy buffers in place, in the same order of
operations as PyTorch's single-tensor implementations, so trajectories match PyTorch's step
for step; ``state_dict()`` uses PyTorch's layout.
"""

from . import lr_scheduler as lr_scheduler
from .adagrad import Adagrad as Adagrad
from .adam import Adam as Adam
from .adam import AdamW as AdamW
from .optimizer import Optimizer as Optimizer
from .rmsprop import RMSprop as RMSprop
from .sgd import SGD as SGD

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]
