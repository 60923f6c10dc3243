"""FFT kernels shared by the operators and the optimal-transport solvers.

Two building blocks, written once in PyTorch so that they run batched on
CPU and GPU and are differentiable to any order:

- `fftn_centered` / `ifftn_centered`: the orthonormal discrete Fourier
  transform with the zero frequency in the centre of the array (the
  convention of MRI k-space). It is unitary, so its adjoint is its inverse.
- `FFTConvolution` / `fft_convolve`: discrete convolution with a kernel
  whose centre is at index ``k // 2`` on every axis, with zero (linear,
  "same"-size output) or periodic boundaries, and its exact transpose
  (correlation with the conjugated kernel), which also holds for
  asymmetric kernels.

Transforms act on the trailing axes; leading axes are batch axes.
"""

import torch
from scipy.fft import next_fast_len

from odl_wasserstein.util import complex_dtype, real_dtype

__all__ = (
    'fftn_centered',
    'ifftn_centered',
    'fft_convolve',
    'FFTConvolution',
    'BOUNDARIES',
)

BOUNDARIES = ('zero', 'periodic')


def _trailing_dims(x, ndim):
    if not 1 <= ndim <= x.ndim:
        raise ValueError(
            f'cannot transform {ndim} trailing axes of a {x.ndim}-d tensor'
        )
    return tuple(range(-ndim, 0))


def fftn_centered(x, ndim):
    """Orthonormal centred FFT over the last ``ndim`` axes of ``x``.

    Parameters
    ----------
    x : torch.Tensor
        Input of shape ``(..., n_1, ..., n_ndim)``; real input is promoted
        to complex.
    ndim : int
        Number of trailing axes to transform.

    Returns
    -------
    torch.Tensor
        Complex tensor of the same shape, zero frequency at index
        ``n_i // 2`` on every transformed axis.

    Examples
    --------
    The transform is unitary (Parseval) and `ifftn_centered` inverts it:

    >>> x = torch.randn(2, 5, 6, dtype=torch.complex128)
    >>> k = fftn_centered(x, 2)
    >>> bool(torch.allclose(k.abs().square().sum(), x.abs().square().sum()))
    True
    >>> bool(torch.allclose(ifftn_centered(k, 2), x))
    True

    A constant image has all its energy at the centre of k-space:

    >>> k = fftn_centered(torch.ones(4, 4), 2)
    >>> k.abs()
    tensor([[0., 0., 0., 0.],
            [0., 0., 0., 0.],
            [0., 0., 4., 0.],
            [0., 0., 0., 0.]])
    """
    dims = _trailing_dims(x, ndim)
    if x.numel() == 0:  # MKL refuses empty transforms
        return x.to(complex_dtype(x.dtype), copy=True)
    x = torch.fft.ifftshift(x, dim=dims)
    return torch.fft.fftshift(torch.fft.fftn(x, dim=dims, norm='ortho'), dim=dims)


def ifftn_centered(k, ndim):
    """Inverse (and adjoint) of `fftn_centered` over the last ``ndim`` axes.

    Examples
    --------
    >>> k = torch.zeros(4, 4, dtype=torch.complex64)
    >>> k[2, 2] = 4
    >>> ifftn_centered(k, 2).real
    tensor([[1., 1., 1., 1.],
            [1., 1., 1., 1.],
            [1., 1., 1., 1.],
            [1., 1., 1., 1.]])
    """
    dims = _trailing_dims(k, ndim)
    if k.numel() == 0:
        return k.to(complex_dtype(k.dtype), copy=True)
    k = torch.fft.ifftshift(k, dim=dims)
    return torch.fft.fftshift(torch.fft.ifftn(k, dim=dims, norm='ortho'), dim=dims)


def _check_boundary(boundary):
    if boundary not in BOUNDARIES:
        raise ValueError(
            f'`boundary` must be one of {BOUNDARIES}, got {boundary!r}'
        )


def _check_kernel_shape(kernel_shape, image_shape, boundary):
    if len(kernel_shape) != len(image_shape):
        raise ValueError(
            f'`kernel` has {len(kernel_shape)} axes but the image has '
            f'{len(image_shape)}; give a kernel with one axis per image axis'
        )
    if any(k < 1 for k in kernel_shape):
        raise ValueError(f'`kernel` of shape {tuple(kernel_shape)} is empty; give at '
                         'least one entry per axis')
    # Zero boundaries reach displacements up to n - 1 either way, so a
    # kernel may span 2 n - 1 points (the transport kernels do).
    limit = (tuple(image_shape) if boundary == 'periodic'
             else tuple(2 * n - 1 for n in image_shape))
    if any(k > m for k, m in zip(kernel_shape, limit)):
        raise ValueError(
            f'`kernel` of shape {tuple(kernel_shape)} is larger than the image '
            f'of shape {tuple(image_shape)} allows with {boundary!r} boundaries '
            f'(at most {limit}); crop the kernel'
        )


def _fft_shape(kernel_shape, image_shape, boundary):
    if boundary == 'periodic':
        return tuple(image_shape)
    # Circular convolution on L points equals the zero-boundary one on the
    # image when the wrapped kernel cannot alias: L >= n + max(c, k - 1 - c).
    # A length with small prime factors is faster.
    return tuple(next_fast_len(n + max(k // 2, k - 1 - k // 2))
                 for n, k in zip(image_shape, kernel_shape))


def _kernel_spectrum(kernel, image_shape, boundary, real):
    """Spectrum of ``kernel`` wrapped onto the FFT grid, centre at index 0."""
    ndim = len(image_shape)
    dims = tuple(range(-ndim, 0))
    fft_shape = _fft_shape(kernel.shape, image_shape, boundary)
    padded = kernel.new_zeros(kernel.shape[:-ndim] + fft_shape)
    padded[(...,) + tuple(slice(0, k) for k in kernel.shape[-ndim:])] = kernel
    padded = torch.roll(padded, [-(k // 2) for k in kernel.shape[-ndim:]], dims)
    if real:
        return torch.fft.rfftn(padded, dim=dims)
    return torch.fft.fftn(padded, dim=dims)


def _apply(x, spectrum, kernel_shape, image_shape, boundary, transpose, real):
    ndim = len(image_shape)
    dims = tuple(range(-ndim, 0))
    if x.numel() == 0:  # MKL refuses empty transforms; keep the graph
        return x.to(x.dtype if real else complex_dtype(x.dtype), copy=True)
    fft_shape = _fft_shape(kernel_shape, image_shape, boundary)
    if real:
        spec = torch.fft.rfftn(x, s=fft_shape, dim=dims)
    else:
        spec = torch.fft.fftn(x, s=fft_shape, dim=dims)
    spec = spec * (spectrum.conj() if transpose else spectrum)
    if real:
        out = torch.fft.irfftn(spec, s=fft_shape, dim=dims)
    else:
        out = torch.fft.ifftn(spec, s=fft_shape, dim=dims)
    if boundary == 'periodic':
        return out
    return out[(...,) + tuple(slice(0, n) for n in image_shape)]


def _check_input(x, image_shape, name):
    ndim = len(image_shape)
    if x.ndim < ndim or tuple(x.shape[-ndim:]) != tuple(image_shape):
        raise ValueError(
            f'`{name}` must have shape (..., {", ".join(map(str, image_shape))}), '
            f'got {tuple(x.shape)}'
        )
    if not (x.is_floating_point() or x.is_complex()):
        raise TypeError(f'`{name}` must be a floating-point or complex tensor, '
                        f'got {x.dtype}')


def fft_convolve(x, kernel, boundary='zero', transpose=False):
    """Convolve the trailing axes of ``x`` with ``kernel`` by FFT.

    The result is ``y[i] = sum_j kernel[j] * x[i + c - j]`` with the kernel
    centre ``c = k // 2`` on every axis; ``x`` is zero outside the image for
    ``boundary='zero'`` and periodic for ``boundary='periodic'``. The output
    has the shape of ``x``. Differentiable in ``x`` and ``kernel`` (use this
    for learnable kernels; `FFTConvolution` caches the spectrum of a fixed
    kernel).

    Parameters
    ----------
    x : torch.Tensor
        Input of shape ``(..., n_1, ..., n_d)``.
    kernel : torch.Tensor
        Kernel of shape ``(k_1, ..., k_d)``, ``k_i <= n_i`` for periodic
        and ``k_i <= 2 n_i - 1`` for zero boundaries.
    boundary : {'zero', 'periodic'}, optional
        Boundary condition of the image.
    transpose : bool, optional
        If True, apply the exact conjugate transpose (correlation with the
        conjugated ``kernel``, the adjoint for the unweighted inner product).

    Returns
    -------
    torch.Tensor
        Real if both ``x`` and ``kernel`` are real, complex otherwise.

    Examples
    --------
    A shifted delta kernel translates the image; zero boundaries drop what
    leaves the image, periodic boundaries wrap it around:

    >>> x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    >>> shift = torch.tensor([0.0, 0.0, 1.0])  # centre at index 1
    >>> fft_convolve(x, shift).round(decimals=5)
    tensor([0., 1., 2., 3.])
    >>> fft_convolve(x, shift, boundary='periodic').round(decimals=5)
    tensor([4., 1., 2., 3.])
    >>> fft_convolve(x, shift, transpose=True).round(decimals=5)
    tensor([2., 3., 4., 0.])
    """
    _check_boundary(boundary)
    if kernel.ndim == 0 or kernel.ndim > x.ndim:
        raise ValueError(
            f'`kernel` has {kernel.ndim} axes but `x` has only {x.ndim}; give a '
            'kernel with one axis per image axis'
        )
    image_shape = tuple(x.shape[-kernel.ndim:])
    _check_kernel_shape(tuple(kernel.shape), image_shape, boundary)
    _check_input(x, image_shape, 'x')
    real = not (x.is_complex() or kernel.is_complex())
    dtype = real_dtype(x.dtype) if real else complex_dtype(x.dtype)
    spectrum = _kernel_spectrum(kernel.to(dtype), image_shape, boundary, real)
    return _apply(x, spectrum, tuple(kernel.shape), image_shape, boundary,
                  transpose, real)


class FFTConvolution:
    """Convolution with a fixed kernel by FFT, batched, with exact transpose.

    The kernel spectrum is computed once per device and dtype and cached.
    See `fft_convolve` for the definition of the convolution.

    Parameters
    ----------
    kernel : torch.Tensor or array-like
        Kernel of shape ``(k_1, ..., k_d)``, real or complex, centre at
        index ``k_i // 2``.
    image_shape : sequence of int
        Shape ``(n_1, ..., n_d)`` of the images; ``k_i <= n_i`` for periodic
        and ``k_i <= 2 n_i - 1`` for zero boundaries.
    boundary : {'zero', 'periodic'}, optional
        ``'zero'``: the image is zero outside its domain (linear convolution
        cropped to the image, computed circularly on a zero-padded grid of
        at least ``n + max(c, k - 1 - c)`` points, ``c = k // 2``).
        ``'periodic'``: circular convolution on the image grid.

    Examples
    --------
    >>> conv = FFTConvolution(torch.tensor([[0.0, 1.0], [2.0, 3.0]]), (3, 3))
    >>> x = torch.randn(4, 3, 3, dtype=torch.float64)
    >>> y = torch.randn(4, 3, 3, dtype=torch.float64)
    >>> lhs = (conv(x) * y).sum()
    >>> rhs = (x * conv.transpose(y)).sum()
    >>> bool(torch.isclose(lhs, rhs))
    True
    """

    def __init__(self, kernel, image_shape, boundary='zero'):
        _check_boundary(boundary)
        kernel = torch.as_tensor(kernel).detach()
        if not (kernel.is_floating_point() or kernel.is_complex()):
            kernel = kernel.to(torch.get_default_dtype())
        image_shape = tuple(int(n) for n in image_shape)
        _check_kernel_shape(tuple(kernel.shape), image_shape, boundary)
        if not bool(torch.isfinite(kernel).all()):
            raise ValueError('`kernel` contains NaN or infinite values')
        self.kernel = kernel
        self.image_shape = image_shape
        self.boundary = boundary
        self.fft_shape = _fft_shape(kernel.shape, image_shape, boundary)
        self._spectra = {}

    @property
    def ndim(self):
        """Number of convolved axes."""
        return len(self.image_shape)

    def _spectrum(self, dtype, device, real):
        work_dtype = real_dtype(dtype) if real else complex_dtype(dtype)
        key = (work_dtype, torch.device(device))
        spectrum = self._spectra.get(key)
        if spectrum is None:
            kernel = self.kernel.to(device=device, dtype=work_dtype)
            spectrum = _kernel_spectrum(kernel, self.image_shape, self.boundary, real)
            self._spectra[key] = spectrum
        return spectrum

    def _run(self, x, transpose, name):
        _check_input(x, self.image_shape, name)
        real = not (x.is_complex() or self.kernel.is_complex())
        spectrum = self._spectrum(x.dtype, x.device, real)
        return _apply(x, spectrum, tuple(self.kernel.shape), self.image_shape,
                      self.boundary, transpose, real)

    def __call__(self, x):
        """Convolve ``x`` of shape ``(..., *image_shape)``."""
        return self._run(x, False, 'x')

    def transpose(self, y):
        """Apply the exact conjugate transpose (correlation) to ``y``."""
        return self._run(y, True, 'y')

    def __repr__(self):
        return (f'{type(self).__name__}(kernel_shape={tuple(self.kernel.shape)}, '
                f'image_shape={self.image_shape}, boundary={self.boundary!r})')

