"""Data for the experiments: phantoms, simulators, images and noise models.

- `odl_wasserstein.data.phantoms`: rings (with per-ring shifts), random
  ellipses and Shepp-Logan phantoms as torch tensors;
- `odl_wasserstein.data.datasets`: seeded, resumable batch streams
  (`SeededBatchStream`) and on-the-fly CT datasets for DataLoader workers
  and distributed training;
- `odl_wasserstein.data.images`: image data for GANs (MNIST and
  Fashion-MNIST IDX files, scikit-learn's digits) and a seeded, resumable
  stream of their batches;
- `odl_wasserstein.data.mri`: simulated MRI (complex images with smooth
  phase, birdcage coil maps, noisy k-space), the MRI normalisations and a
  seeded stream of virtual subjects;
- `odl_wasserstein.data.fastmri`: fastMRI HDF5 files (reader, writer,
  header) and a seeded stream of their slices split by subject;
- `odl_wasserstein.data.undersampled`: fully sampled images and their
  zero-filled measurements with random line masks (the two domains of
  accelerated-MRI training), and random masks drawn per training step;
- `odl_wasserstein.data.multicoil`: masked multi-coil k-space, coil maps,
  zero-filled images and labels of the unpaired-WGAN MRI paper, with its
  Poisson masks scaled to the image size;
- `odl_wasserstein.data.shapes`: the circle-and-rectangle images of Duff
  et al. (generative priors), with out-of-distribution triangles, and a
  seeded stream of their batches;
- `odl_wasserstein.data.unpaired`: two independent streams served batch
  by batch for unpaired training;
- `odl_wasserstein.data.noise`: the papers' Gaussian noise model and
  salt-and-pepper noise.
"""

from .datasets import *
from .fastmri import *
from .images import *
from .mri import *
from .multicoil import *
from .noise import *
from .phantoms import *
from .shapes import *
from .undersampled import *
from .unpaired import *

__all__ = ()
__all__ += datasets.__all__
__all__ += fastmri.__all__
__all__ += images.__all__
__all__ += mri.__all__
__all__ += multicoil.__all__
__all__ += noise.__all__
__all__ += phantoms.__all__
__all__ += shapes.__all__
__all__ += undersampled.__all__
__all__ += unpaired.__all__
