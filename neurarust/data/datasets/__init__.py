"""Real data sets that installed packages carry in their wheels (nothing is downloaded)."""

from .digits import Digits as Digits
from .mnist import MNIST5k as MNIST5k

__all__ = ["Digits", "MNIST5k"]
