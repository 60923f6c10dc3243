"""Training: one `Trainer` for every method, and the recipes that describe the methods.

- `Trainer`: the loop (device, seeding, Adam with schedules and gradient
  clipping, progress bar, JSON-lines log, validation, figures, atomic
  checkpoints with exact resume, Ctrl-C, non-finite loss detection,
  `DistributedDataParallel` under ``torchrun``).
- `Recipe`, `SupervisedRecipe`: what is trained and how one step goes.
- `OptimizerSpec`, `lr_factor`, `LRSchedule`: optimisers and schedules.
- `odl_wasserstein.training.checkpoint`: the checkpoint files.

This layer is model-agnostic: it knows torch modules, not networks,
operators or datasets.
"""

from . import checkpoint
from .distributed import *
from .optim import *
from .recipes import *
from .trainer import *

__all__ = ('checkpoint',)
__all__ += distributed.__all__
__all__ += optim.__all__
__all__ += recipes.__all__
__all__ += trainer.__all__
