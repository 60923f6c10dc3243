"""Optimal transport on images: costs, Sinkhorn solvers, ODL and torch faces.

- `odl_wasserstein.transport.costs`: translation-invariant costs on grids.
- `sinkhorn`: batched, stable, differentiable entropic optimal transport.
- `WassersteinDistance`: ODL functional (value, gradient, proximal).
- `WassersteinLoss`, `SinkhornDivergence`: torch losses.
"""

from . import costs
from .costs import *
from .engines import *
from .functional import *
from .losses import *
from .solver import *

__all__ = ('costs',)
__all__ += costs.__all__
__all__ += engines.__all__
__all__ += functional.__all__
__all__ += losses.__all__
__all__ += solver.__all__
