"""Network building blocks: learned primal-dual reconstruction.

Networks take operators as torch modules (or ODL operators, wrapped with
`odl_wasserstein.torch.OperatorModule`) and know nothing of ASTRA.
"""

from .lpd import *

__all__ = ()
__all__ += lpd.__all__
