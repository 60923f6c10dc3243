"""ODL operators for tomography, MRI and blur.

Every operator here works on NumPy and PyTorch spaces, in single and double
precision, and is evaluated by one batched torch (or ASTRA) kernel that the
torch bridge `odl_wasserstein.torch.OperatorModule` reuses. The unit-norm
operators of the generative-priors paper (compressed sensing, inpainting,
blur, tomography) are built by `paper_operator`. Mask generators
for MRI are in `odl_wasserstein.operators.masks`, coil-map estimation and
coil compression in `odl_wasserstein.operators.coils`.
"""

from . import masks
from .astra_kernel import *
from .base import *
from .blur import *
from .coils import *
from .mri import *
from .psf import *
from .sensing import *
from .tomo import *

__all__ = ('masks',)
__all__ += astra_kernel.__all__
__all__ += base.__all__
__all__ += blur.__all__
__all__ += coils.__all__
__all__ += mri.__all__
__all__ += psf.__all__
__all__ += sensing.__all__
__all__ += tomo.__all__
