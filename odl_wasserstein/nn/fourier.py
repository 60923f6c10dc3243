r"""The image-domain forward model of accelerated MRI as a layer: ``x -> F^{-1} M F x``.

The OT-cycleGAN paper ("Optimal transport, CycleGAN, and penalized LS for
unsupervised learning in inverse problems", eq. (23)) writes undersampled
single-coil MRI in the image domain, ``y = F^{-1} P_Omega F x``, so that
both domains of the cycleGAN are images. `UndersampledFourier` applies it
to batches with a mask given per call (the authors draw a new one at every
step), on complex images or on their two-channel real form (the networks'
input and output, see `odl_wasserstein.util.complex_to_channels`). The FFT
is the orthonormal centred one of `odl_wasserstein.fft`, the one of
`odl_wasserstein.operators.MRIForward`: ``F^{-1} M F`` is the same for the
authors' unnormalised FFT with uncentred masks (the scalings cancel and
``fftshift`` maps one mask convention onto the other). It is a linear,
self-adjoint projection for 0/1 masks, differentiable to any order.
"""

import torch

from odl_wasserstein.fft import fftn_centered, ifftn_centered
from odl_wasserstein.util import channels_to_complex, complex_to_channels

__all__ = ('UndersampledFourier',)


class UndersampledFourier(torch.nn.Module):
    """``x -> F^{-1} (M * F x)`` over the last two axes, for a mask given per call.

    Input ``(N, C, H, W)`` complex, or real ``(N, 2 C, H, W)`` holding
    real and imaginary parts (the result then has the same form). Masks
    broadcast to ``(N, 1, H, W)``: ``(H, W)``, ``(W,)`` for lines along the
    last axis, or one per sample ``(N, 1, H, W)``; centred k-space
    convention (zero frequency at index ``n // 2``).

    Examples
    --------
    Keeping every frequency changes nothing; keeping only the zero
    frequency leaves the mean:

    >>> layer = UndersampledFourier()
    >>> x = torch.randn(2, 2, 4, 4, dtype=torch.float64)  # real and imaginary parts
    >>> bool(torch.allclose(layer(x, torch.ones(4, 4)), x))
    True
    >>> centre = torch.zeros(4, 4)
    >>> centre[2, 2] = 1
    >>> y = layer(x, centre)
    >>> bool(torch.allclose(y, x.mean(dim=(-2, -1), keepdim=True).expand_as(x)))
    True
    """

    def forward(self, x, mask):
        """Apply ``F^{-1} M F`` to ``x`` with ``mask``."""
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            raise ValueError('`x` must be a batch (N, C, H, W) of complex images or of their '
                             'real and imaginary parts, got '
                             + (f'shape {tuple(x.shape)}' if isinstance(x, torch.Tensor)
                                else type(x).__name__))
        complex_input = x.is_complex()
        z = x if complex_input else channels_to_complex(x)
        mask = _mask(mask, z)
        out = ifftn_centered(fftn_centered(z, 2) * mask, 2)
        return out if complex_input else complex_to_channels(out)


def _mask(mask, like):
    mask = torch.as_tensor(mask)
    if mask.is_complex():
        raise TypeError('`mask` must be real (0/1 weights), got a complex tensor')
    mask = mask.to(device=like.device, dtype=like.real.dtype)
    try:
        torch.broadcast_shapes(mask.shape, like.shape)
    except RuntimeError:
        raise ValueError(f'`mask` of shape {tuple(mask.shape)} does not broadcast to the '
                         f'images {tuple(like.shape)}; give (H, W), (W,) or (N, 1, H, W)'
                         ) from None
    if mask.ndim > like.ndim or torch.broadcast_shapes(mask.shape, like.shape) != like.shape:
        raise ValueError(f'`mask` of shape {tuple(mask.shape)} does not fit the images '
                         f'{tuple(like.shape)}')
    return mask
