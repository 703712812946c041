"""Dynamic autograd: graph nodes recorded by ops, a non-recursive backward, grad modes."""

from .anomaly import AnomalyError, detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .functional import backward, grad
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .graph import AccumulateGrad, Node

__all__ = [
    "AccumulateGrad", "AnomalyError", "detect_anomaly", "is_anomaly_enabled",
    "set_detect_anomaly", "GradcheckError", "Node", "backward", "enable_grad", "grad", "gradcheck",
    "gradgradcheck", "is_grad_enabled", "no_grad", "set_grad_enabled",
]
