"""Network building blocks: learned primal-dual reconstruction, WGAN critics
(DCGAN, PatchGAN, multi-scale PatchGAN, unpaired-MRI), the DCGAN generator,
the generators of generative priors (convolutional decoder and encoder,
autoencoder and variational autoencoder),
the 2D/3D U-Net, the image-domain undersampled-Fourier layer of MRI, the
data-consistency layers of MRI (the coil operator `CoilFourier`, hard and
gradient DC) and the unrolled and ResNet generators with data consistency.

Networks take operators as torch modules (or ODL operators, wrapped with
`odl_wasserstein.torch.OperatorModule`) and know nothing of ASTRA.
"""

from .autoencoders import *
from .critics import *
from .data_consistency import *
from .fourier import *
from .generators import *
from .lpd import *
from .unet import *
from .unrolled import *

__all__ = ()
__all__ += autoencoders.__all__
__all__ += critics.__all__
__all__ += data_consistency.__all__
__all__ += fourier.__all__
__all__ += generators.__all__
__all__ += lpd.__all__
__all__ += unet.__all__
__all__ += unrolled.__all__
