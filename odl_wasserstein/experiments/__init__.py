"""The papers' experiments, end to end, on one protocol.

- `odl_wasserstein.experiments.protocol`: what every experiment provides
  (``Config``, ``build``, ``train``, ``load_run``, ``evaluate``,
  ``report``), `load_config` and `load_run_config`, which dispatch on a
  configuration's ``experiment``, and `prepared_run`, the one place where
  a run folder is checked, locked and given its configuration;
- `odl_wasserstein.experiments.learned_ct`: learned primal-dual CT trained
  with an MSE or a Wasserstein loss on misaligned rings (Adler et al.
  2017) or random ellipses (Adler & Öktem 2018), and the flagship demo;
- `odl_wasserstein.experiments.wwgan`: WGAN-GP against the
  Wasserstein-of-Wasserstein GAN (Dukler et al. 2019) on digits: critic
  continuity under translations, robustness to salt-and-pepper noise,
  sample quality and the cost of the penalty;
- `odl_wasserstein.experiments.ot_cyclegan_mri`: accelerated MRI with the
  OT-cycleGAN (Sim et al.) against supervised and conventional cycleGAN
  training, the zero-filled input and CS-TV, on simulated or fastMRI
  single-coil data;
- `odl_wasserstein.experiments.unpaired_mri`: multi-coil MRI with
  data-consistent generators trained by an unpaired WGAN (Lei et al.),
  against the L1 network, WGAN + L1, the zero-filled input and CS;
- `odl_wasserstein.experiments.generative_priors`: AE, VAE and GAN
  generators searched in latent space (hard, sparse and soft forms) for
  the forward operators of Duff et al., against Tikhonov and TV, and Bora
  et al.'s compressed-sensing curve against the Lasso.

Experiments sit on top of every other layer; nothing but the command line
imports them.
"""

from . import generative_priors, learned_ct, ot_cyclegan_mri, protocol, unpaired_mri, wwgan
from .protocol import *

__all__ = ('generative_priors', 'learned_ct', 'ot_cyclegan_mri', 'unpaired_mri', 'wwgan', 'protocol')
__all__ += protocol.__all__
