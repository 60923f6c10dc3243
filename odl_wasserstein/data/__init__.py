"""Data for the experiments: phantoms, simulators and noise models.

- `odl_wasserstein.data.phantoms`: rings (with per-ring shifts), random
  ellipses and Shepp-Logan phantoms as torch tensors;
- `odl_wasserstein.data.datasets`: seeded, resumable on-the-fly CT datasets
  for DataLoader workers and distributed training;
- `odl_wasserstein.data.noise`: the papers' Gaussian noise model.
"""

from .datasets import *
from .noise import *
from .phantoms import *

__all__ = ()
__all__ += datasets.__all__
__all__ += noise.__all__
__all__ += phantoms.__all__
