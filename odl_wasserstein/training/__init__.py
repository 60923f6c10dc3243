"""Training: one `Trainer` for every method, and the pieces it drives.

- `Trainer`: the loop (optimisers with schedules and gradient clipping,
  progress bar, metrics log, validation, figures, checkpoints with exact
  resume, Ctrl-C and SIGTERM, non-finite loss detection,
  `DistributedDataParallel` under ``torchrun``).
- `Recipe`, `SupervisedRecipe`, `WGANRecipe`: what is trained and how one
  step goes.
- `RunFolder`: the output folder, its lock, log and recorded
  configuration; `odl_wasserstein.training.checkpoint`: checkpoint files;
  `odl_wasserstein.training.state`: their content.
- `OptimizerSpec`, `lr_factor`, `LRSchedule`, `build_optimizers`.
- `BatchSource`; `select_device`, `move_to_device`, `seed_everything`,
  `require_memory`; `StopSignals`; the errors of runs.

This layer is model-agnostic: it knows torch modules, not networks,
operators or datasets.
"""

from . import checkpoint, state
from .batches import *
from .devices import *
from .distributed import *
from .errors import *
from .evaluation import *
from .optim import *
from .recipes import *
from .run_folder import *
from .signals import *
from .trainer import *

__all__ = ('checkpoint', 'state')
__all__ += batches.__all__
__all__ += devices.__all__
__all__ += distributed.__all__
__all__ += errors.__all__
__all__ += evaluation.__all__
__all__ += optim.__all__
__all__ += recipes.__all__
__all__ += run_folder.__all__
__all__ += signals.__all__
__all__ += trainer.__all__
