"""The papers' experiments, end to end: data, networks, training, evaluation.

- `odl_wasserstein.experiments.learned_ct`: learned primal-dual CT trained
  with an MSE or a Wasserstein loss on misaligned rings (Adler et al.
  2017) or random ellipses (Adler & Öktem 2018), and the flagship demo.

Experiments sit on top of every other layer; nothing imports them.
"""

from . import learned_ct

__all__ = ('learned_ct',)
