"""Blur (discrete convolution) as an ODL operator on NumPy or PyTorch spaces.

`Convolution` convolves images of a 1D, 2D or 3D discretized space with a
fixed kernel, typically a point-spread function from
`odl_wasserstein.operators.psf`, with zero or periodic boundaries. It is
the forward model of deconvolution microscopy in the OT-cycleGAN paper
("Optimal Transport, CycleGAN, and Penalized LS for Unsupervised Learning
in Inverse Problems", Sec. 4.2, eq. (25): ``y = h * x + w``). The
numerics are the batched FFT convolution of `odl_wasserstein.fft`, shared
with the torch face of the operator (`forward_batch` / `transpose_batch`),
so the same code runs on CPU and GPU and under autograd.
"""

import numpy as np
import odl
import torch
from odl.core.util import repr_string

from odl_wasserstein.fft import BOUNDARIES, FFTConvolution
from odl_wasserstein.operators.base import BatchedLinearOperator
from odl_wasserstein.util import complex_dtype, real_dtype, to_tensor, torch_dtype

__all__ = ('Convolution',)


def _kernel_tensor(kernel):
    """Convert an array-like kernel to a numeric torch tensor."""
    if isinstance(kernel, (str, bytes)):
        raise TypeError(
            f'`kernel` must be a numeric array (NumPy, torch or ODL element), '
            f'got {type(kernel).__name__}'
        )
    try:
        if isinstance(kernel, (torch.Tensor, np.ndarray)) or hasattr(kernel, 'data'):
            tensor = to_tensor(kernel)
        else:
            tensor = torch.as_tensor(np.asarray(kernel))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(
            '`kernel` must be a numeric array (NumPy, torch or ODL element) '
            f'with one axis per image axis; could not convert it: {exc}'
        ) from None
    return tensor.detach()


class Convolution(BatchedLinearOperator):
    r"""Discrete convolution with a fixed kernel on a discretized space.

    For an image :math:`x` on the grid of ``space`` and a kernel
    :math:`h` of shape :math:`(k_1, \dots, k_d)` with centre
    :math:`c_a = \lfloor k_a / 2 \rfloor`,

    .. math::
        (A x)[i] = \sum_j h[j]\, x[i + c - j],

    where :math:`x` is zero outside the image (``boundary='zero'``) or
    periodic (``boundary='periodic'``). The kernel is *discrete*: no
    cell-volume factor enters, so the result does not depend on the
    physical extent of ``space``, and a kernel normalised to sum 1 (as the
    PSFs of `odl_wasserstein.operators.psf`) preserves the total intensity
    (exactly for periodic boundaries; for zero boundaries up to what is
    blurred across the border).

    Range and domain are both ``space``, so the ODL adjoint (weighted inner
    products) equals the conjugate transpose: correlation with the
    kernel, i.e. convolution with the flipped, conjugated kernel.

    Parameters
    ----------
    space : `odl.DiscretizedSpace` or ODL tensor space
        Real or complex space of 1D, 2D or 3D images, NumPy or PyTorch
        backend, with a constant weighting (the default).
    kernel : array-like
        NumPy array, torch tensor, ODL element or nested sequence with one
        axis per image axis, each no longer than the image's. Complex
        kernels require a complex space. It is stored in the precision of
        ``space``, on its device.
    boundary : {'zero', 'periodic'}, optional
        Boundary condition of the image.

    Attributes
    ----------
    kernel : torch.Tensor
    boundary : str

    Notes
    -----
    The torch face takes batches: `forward_batch` maps ``(B, *space.shape)``
    to ``(B, *space.shape)`` on the input's device and dtype, by FFT; the
    kernel spectrum is computed once per device and dtype and cached. Cost
    per image is :math:`O(N \log N)` with :math:`N` the number of pixels
    of the padded grid (``n + k - 1`` per axis for zero boundaries).

    Examples
    --------
    A 3-point moving average on a 1D grid; mass leaks over the edges with
    zero boundaries and is kept with periodic ones:

    >>> space = odl.uniform_discr(0, 5, 5)
    >>> x = space.element([3.0, 0.0, 3.0, 0.0, 6.0])
    >>> blur = Convolution(space, np.ones(3) / 3)
    >>> blur(x)
    uniform_discr(0.0, 5.0, 5).element([ 1.,  2.,  1.,  3.,  2.])
    >>> Convolution(space, np.ones(3) / 3, boundary='periodic')(x)
    uniform_discr(0.0, 5.0, 5).element([ 3.,  2.,  1.,  3.,  3.])

    A shifted delta moves the image by one pixel (the kernel centre is at
    index 1); the adjoint, a correlation, moves it back:

    >>> x = space.element([1.0, 2.0, 3.0, 4.0, 5.0])
    >>> shift = Convolution(space, [0.0, 0.0, 1.0], boundary='periodic')
    >>> shift(x)
    uniform_discr(0.0, 5.0, 5).element([ 5.,  1.,  2.,  3.,  4.])
    >>> shift.adjoint(x)
    uniform_discr(0.0, 5.0, 5).element([ 2.,  3.,  4.,  5.,  1.])

    Batched application on a PyTorch space, e.g. inside a network:

    >>> space = odl.uniform_discr([0, 0], [1, 1], (32, 32), impl='pytorch')
    >>> blur = Convolution(space, torch.ones(5, 5) / 25)
    >>> blur.forward_batch(torch.rand(8, 32, 32)).shape
    torch.Size([8, 32, 32])
    """

    def __init__(self, space, kernel, boundary='zero'):
        if not isinstance(space, (odl.DiscretizedSpace,
                                  odl.core.space.base_tensors.TensorSpace)):
            raise TypeError(
                '`space` must be an ODL discretized space (e.g. from '
                f'`odl.uniform_discr`) or tensor space, got {space!r}'
            )
        if boundary not in BOUNDARIES:
            raise ValueError(
                f'`boundary` must be one of {BOUNDARIES}, got {boundary!r}'
            )
        kernel = _kernel_tensor(kernel)
        space_dtype = torch_dtype(space)
        if kernel.is_complex():
            if not space_dtype.is_complex:
                raise TypeError(
                    f'`kernel` is complex ({kernel.dtype}) but `space` is real; '
                    'use a complex space (dtype complex64/complex128) or a '
                    'real kernel'
                )
            dtype = complex_dtype(space_dtype)
        else:
            # Integer and boolean kernels are cast like float ones.
            dtype = real_dtype(space_dtype)
        if kernel.ndim == space.ndim and any(
                k > n for k, n in zip(kernel.shape, space.shape)):
            raise ValueError(
                f'`kernel` of shape {tuple(kernel.shape)} is larger than the '
                f'image of shape {tuple(space.shape)}; crop it to at most the '
                'image size on every axis'
            )
        # Check before rounding to single precision, where large values
        # could overflow to inf and hide the actual culprit.
        if not bool(torch.isfinite(kernel).all()):
            raise ValueError(
                '`kernel` contains NaN or infinite values; replace them '
                '(e.g. with `numpy.nan_to_num`) before building the operator'
            )
        device = getattr(space, 'device', 'cpu') if space.impl == 'pytorch' else 'cpu'
        # A private copy: the cached spectrum must not go stale if the
        # caller later modifies the array it passed.
        kernel = kernel.to(device=device, dtype=dtype, copy=True)
        if not bool(torch.isfinite(kernel).all()):
            raise ValueError(
                f'`kernel` overflows in {dtype}; rescale it or use a '
                'double-precision space'
            )

        super().__init__(space, space)
        self._conv = FFTConvolution(kernel, space.shape, boundary)

    @property
    def kernel(self):
        """Kernel tensor of shape ``(k_1, ..., k_d)``, centre at ``k // 2``."""
        return self._conv.kernel

    @property
    def boundary(self):
        """Boundary condition, ``'zero'`` or ``'periodic'``."""
        return self._conv.boundary

    def _forward(self, x):
        return self._conv(x)

    def _transpose(self, y):
        return self._conv.transpose(y)

    def __repr__(self):
        """Return ``repr(self)``.

        Examples
        --------
        >>> Convolution(odl.uniform_discr(0, 1, 4), np.ones(3) / 3)
        Convolution(
            uniform_discr(0.0, 1.0, 4),
            kernel_shape=(3,),
            boundary='zero'
        )
        """
        return repr_string(type(self).__name__, [
            [repr(self.domain)],
            [f'kernel_shape={tuple(self.kernel.shape)}',
             f'boundary={self.boundary!r}'],
        ], allow_mixed_seps=False)
