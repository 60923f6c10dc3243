"""The bridge from ODL operators to batched, differentiable PyTorch modules."""

from .module import *

__all__ = ()
__all__ += module.__all__
