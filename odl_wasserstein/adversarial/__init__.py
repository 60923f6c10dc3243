"""Adversarial (WGAN-type) training components.

- `odl_wasserstein.adversarial.penalties`: random interpolates and the
  critic gradient penalties: two-sided (Gulrajani et al.), one-sided
  (Petzka et al.) and the Wasserstein-ground-metric penalty of Dukler et
  al. (2019), with its graph-Laplacian norm `ground_metric_norm2`.
- `odl_wasserstein.adversarial.losses`: the Wasserstein critic loss (with
  a penalty) and generator loss that every adversarial recipe uses.
- `odl_wasserstein.adversarial.diagnostics`: how continuous a critic is
  along translations of images (`critic_continuity`).
"""

from .diagnostics import *
from .pool import *
from .losses import *
from .penalties import *

__all__ = ()
__all__ += penalties.__all__
__all__ += losses.__all__
__all__ += diagnostics.__all__
__all__ += pool.__all__
