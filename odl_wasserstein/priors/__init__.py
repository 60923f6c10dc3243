"""Reconstruction with generative priors: latent-space search at inference time.

- `odl_wasserstein.priors.search`: `latent_search`, the hard,
  sparse-deviation and soft formulations of Duff et al. (after Bora et
  al.'s compressed sensing with generative models) for any ODL operator or
  torch module, batched over measurements and random restarts, with PALM,
  Adam or L-BFGS and the discrepancy principle;
- `odl_wasserstein.priors.alternating`: `palm`, batched proximal alternating
  linearised minimisation with backtracking;
- `odl_wasserstein.priors.proximal`: the l1 and TV proximal maps of the
  sparse deviations;
- `odl_wasserstein.priors.functional`: `GenerativeRegulariser`, the soft
  generative regulariser as an ODL functional.

Generators are trained as methods (`odl_wasserstein.methods`); this layer
only searches them.
"""

from .functional import *
from .search import *
from .alternating import *
from .proximal import *

__all__ = ()
__all__ += functional.__all__
__all__ += search.__all__
__all__ += alternating.__all__
__all__ += proximal.__all__
