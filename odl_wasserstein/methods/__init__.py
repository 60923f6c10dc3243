"""The methods of the papers: one module each, a recipe on the shared `Trainer`.

- `odl_wasserstein.methods.supervised`: `SupervisedRecipe` (paired data,
  ``loss(model(input), target)``) and `ReconstructionRecipe` (with PSNR
  and SSIM in validation): learned primal-dual trained with an MSE or a
  Wasserstein loss (Adler et al. 2017).
- `odl_wasserstein.methods.wgan`: `AdversarialRecipe`, the shared critic
  step with hooks for where fakes come from and for extra generator
  terms, and `WGANRecipe`, the WGAN of latent noise with the WGAN-GP or
  the WWGAN penalty (Dukler et al. 2019).
- `odl_wasserstein.methods.cyclegan`: `OTCycleGANRecipe`, one generator
  and the known forward operator (Sim et al. 2020), and the conventional
  `CycleGANRecipe` with two generators, on the adversarial base.
- `odl_wasserstein.methods.unpaired_mri`: `UnpairedMRIRecipe`, a
  data-consistent MRI generator trained against a WGAN critic from
  unpaired labels, with L1, or both (Lei et al. 2021).
- `odl_wasserstein.methods.autoencoders`: `AutoencoderRecipe`, autoencoders
  (MSE or BCE) and variational autoencoders (`negative_elbo`, Kingma and
  Welling 2014) trained on images as the generators of generative priors
  (Bora et al. 2017; Duff et al.).

A method knows the engine (`odl_wasserstein.training`) and the lower
layers, never an experiment.
"""

from .autoencoders import *
from .cyclegan import *
from .supervised import *
from .unpaired_mri import *
from .wgan import *

__all__ = ()
__all__ += supervised.__all__
__all__ += wgan.__all__
__all__ += cyclegan.__all__
__all__ += unpaired_mri.__all__
__all__ += autoencoders.__all__
