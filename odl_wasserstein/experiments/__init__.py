"""The papers' experiments, end to end: data, networks, training, evaluation.

- `odl_wasserstein.experiments.learned_ct`: learned primal-dual CT trained
  with an MSE or a Wasserstein loss on misaligned rings (Adler et al.
  2017) or random ellipses (Adler & Öktem 2018), and the flagship demo;
- `odl_wasserstein.experiments.wwgan`: WGAN-GP against the
  Wasserstein-of-Wasserstein GAN (Dukler et al. 2019) on digits: critic
  continuity under translations, robustness to salt-and-pepper noise,
  sample quality and the cost of the penalty.

Experiments sit on top of every other layer; nothing imports them.
"""

from . import learned_ct, wwgan

__all__ = ('learned_ct', 'wwgan')
