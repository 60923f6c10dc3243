"""Data for the experiments: phantoms, simulators and noise models."""

from .noise import *

__all__ = ()
__all__ += noise.__all__
