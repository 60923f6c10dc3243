"""Network building blocks: learned primal-dual reconstruction, WGAN critics
(DCGAN, PatchGAN, multi-scale PatchGAN, unpaired-MRI), the DCGAN generator,
the 2D/3D U-Net and the image-domain undersampled-Fourier layer of MRI.

Networks take operators as torch modules (or ODL operators, wrapped with
`odl_wasserstein.torch.OperatorModule`) and know nothing of ASTRA.
"""

from .critics import *
from .fourier import *
from .generators import *
from .lpd import *
from .unet import *

__all__ = ()
__all__ += critics.__all__
__all__ += fourier.__all__
__all__ += generators.__all__
__all__ += lpd.__all__
__all__ += unet.__all__
