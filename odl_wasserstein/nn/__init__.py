"""Network building blocks: learned primal-dual reconstruction, WGAN critics
(DCGAN, PatchGAN, multi-scale PatchGAN, unpaired-MRI) and the DCGAN generator.

Networks take operators as torch modules (or ODL operators, wrapped with
`odl_wasserstein.torch.OperatorModule`) and know nothing of ASTRA.
"""

from .critics import *
from .generators import *
from .lpd import *

__all__ = ()
__all__ += critics.__all__
__all__ += generators.__all__
__all__ += lpd.__all__
