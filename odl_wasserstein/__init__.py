"""Optimal transport and adversarial learning for inverse problems with ODL.

Subpackages (lower layers never import higher ones):

- `odl_wasserstein.operators`: ODL operators for CT (ASTRA), MRI and blur,
  evaluated by batched torch kernels.
- `odl_wasserstein.torch`: the bridge from ODL operators to batched,
  differentiable ``torch.nn.Module`` objects.

The low-level modules `odl_wasserstein.util` (element/tensor conversion)
and `odl_wasserstein.fft` (centred FFTs, FFT convolution) are shared by all.
"""

__version__ = '0.1.0'

__all__ = ('__version__',)
