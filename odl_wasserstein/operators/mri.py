"""Cartesian MRI forward operator: coil sensitivities, FFT and k-space mask.

`MRIForward` maps a complex image ``x`` to undersampled k-space,
``y = M * F(x)`` for a single coil and ``y_c = M * F(S_c * x)`` for coils
with sensitivity maps ``S_c``, where ``F`` is the orthonormal centred FFT
`odl_wasserstein.fft.fftn_centered` and ``M`` a real sampling mask (see
`odl_wasserstein.operators.masks`). This is the multi-coil Cartesian model
of Lei et al., "Wasserstein GANs for MR imaging: from paired to unpaired
training" (eqs. (7)-(8), whose zero-filled image and data-consistency steps
are ``A^H y`` and ``A^H A``), and with one coil the forward operator
``M F`` of the OT-cycleGAN accelerated-MRI experiments ("Optimal transport,
CycleGAN, and penalized LS for unsupervised learning in inverse problems";
its authors' code uses an unnormalised FFT, which only rescales ``A``, and
masks with the zero frequency at index 0, which `numpy.fft.fftshift` turns
into the centred masks used here).
ODL's own Fourier transforms are not used: their adjoints are wrong in
ODL 1.0.

The two batched kernels, `coil_fourier` (``x -> M * F(S_c * x)``) and
`coil_fourier_adjoint` (``y -> sum_c conj(S_c) * F^{-1}(M * y_c)``), are
public torch functions with masks and coil maps given per call (and per
sample): the operator's ODL and torch faces and the data-consistency
layers of `odl_wasserstein.nn` all run this one implementation.
"""

import textwrap

import odl
import torch

from odl_wasserstein.fft import fftn_centered, ifftn_centered
from odl_wasserstein.operators.base import BatchedLinearOperator
from odl_wasserstein.util import (
    complex_dtype, real_dtype, space_weighting, to_tensor, torch_dtype)

__all__ = ('MRIForward', 'coil_fourier', 'coil_fourier_adjoint')


def _as_tensor(value, name):
    """Detached copy of an array-like as a floating-point/complex tensor."""
    if isinstance(value, odl.Operator):
        raise TypeError(f'`{name}` must be array-like, got an operator')
    try:
        tensor = to_tensor(value)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(
            f'`{name}` must be a NumPy array, torch tensor or ODL element, '
            f'got {type(value).__name__} ({err})'
        ) from None
    # A private copy: later changes to the caller's array must not leak into
    # the operator (or desynchronise the per-device caches).
    tensor = tensor.detach().clone()
    if not (tensor.is_floating_point() or tensor.is_complex()):
        tensor = tensor.to(torch.get_default_dtype())
    return tensor


def _check_finite(tensor, name, fix):
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f'`{name}` contains NaN or infinite values; {fix}')


def _check_fits(tensor, name, target, hint):
    """Raise unless ``tensor`` broadcasts to ``target`` without enlarging it."""
    try:
        fits = torch.broadcast_shapes(tuple(tensor.shape), target) == target
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(f'`{name}` of shape {tuple(tensor.shape)} does not broadcast to '
                         f'{target}; {hint}')


def _kernel_operands(data, name, mask, coil_maps, ndim):
    """Validate the operands of a kernel; mask and maps in the precision of ``data``."""
    if not isinstance(data, torch.Tensor):
        raise TypeError(f'`{name}` must be a torch.Tensor, got {type(data).__name__}')
    if not (data.is_floating_point() or data.is_complex()):
        raise TypeError(f'`{name}` must be a floating-point or complex tensor, got '
                        f'{data.dtype}')
    needed = ndim + (coil_maps is not None)
    if data.ndim < needed:
        raise ValueError(f'`{name}` of shape {tuple(data.shape)} has fewer than the '
                         f'{needed} axes ({"coils, " if coil_maps is not None else ""}'
                         f'{ndim} image axes) the kernel needs')
    mask = torch.as_tensor(mask)
    if mask.is_complex():
        raise TypeError('`mask` must be real (sampling weights), got a complex tensor')
    mask = mask.to(device=data.device, dtype=real_dtype(data.dtype))
    if coil_maps is not None:
        coil_maps = torch.as_tensor(coil_maps)
        if coil_maps.ndim < ndim + 1:
            raise ValueError(f'`coil_maps` must have shape ([N,] C, *image shape) with '
                             f'{ndim} image axes, got {tuple(coil_maps.shape)}')
        coil_maps = coil_maps.to(device=data.device, dtype=complex_dtype(data.dtype))
    return mask, coil_maps


def coil_fourier(x, mask, coil_maps=None, ndim=2):
    """Batched multi-coil Cartesian MRI: ``y_c = M * F(S_c * x)``.

    The kernel of `MRIForward` and of the data-consistency layers of
    `odl_wasserstein.nn`, with ``F`` the orthonormal centred FFT
    (`odl_wasserstein.fft.fftn_centered`) over the last ``ndim`` axes.

    Parameters
    ----------
    x : torch.Tensor
        Images ``(..., *shape)`` with ``ndim`` image axes ``shape`` and any
        leading batch axes; real input is promoted to complex.
    mask : array-like
        Real sampling weights broadcastable to the output without enlarging
        it, e.g. ``shape``, ``(W,)`` or one per sample ``(N, 1, H, W)``.
    coil_maps : torch.Tensor, optional
        Sensitivities ``(C, *shape)``, or one set per sample
        ``(N, C, *shape)``; without them the single-coil model ``M * F(x)``.
    ndim : int, optional
        Number of image axes.

    Returns
    -------
    torch.Tensor
        Complex k-space ``(..., *shape)`` (single coil) or
        ``(..., C, *shape)``, in the precision and on the device of ``x``.

    Examples
    --------
    A constant image has only the zero frequency; each coil sees it scaled:

    >>> maps = torch.stack([torch.full((4, 4), 0.6), torch.full((4, 4), 0.8j)])
    >>> y = coil_fourier(torch.ones(1, 4, 4), torch.ones(4), maps)
    >>> y.shape
    torch.Size([1, 2, 4, 4])
    >>> y[0, :, 2, 2]
    tensor([2.4000+0.0000j, 0.0000+3.2000j])
    """
    mask, coil_maps = _kernel_operands(x, 'x', mask, coil_maps, ndim)
    batch, shape = tuple(x.shape[:x.ndim - ndim]), tuple(x.shape[x.ndim - ndim:])
    if coil_maps is None:
        out_shape = batch + shape
    else:
        out_shape = batch + (coil_maps.shape[-ndim - 1],) + shape
        _check_fits(coil_maps, 'coil_maps', out_shape,
                    'give maps (C, *shape) or one set per sample (N, C, *shape)')
        # (..., 1, *shape) * ([N,] C, *shape) -> (..., C, *shape)
        x = x.unsqueeze(-ndim - 1) * coil_maps
    _check_fits(mask, 'mask', out_shape, 'give a mask (H, W), (W,) or (N, 1, H, W)')
    return fftn_centered(x, ndim) * mask


def coil_fourier_adjoint(y, mask, coil_maps=None, ndim=2):
    """Conjugate transpose of `coil_fourier`: ``x = sum_c conj(S_c) * F^{-1}(M * y_c)``.

    Parameters
    ----------
    y : torch.Tensor
        K-space ``(..., *shape)`` (single coil) or ``(..., C, *shape)``.
    mask, coil_maps, ndim
        As for `coil_fourier`; the maps must have the ``C`` coils of ``y``.

    Returns
    -------
    torch.Tensor
        Complex images ``(..., *shape)``.

    Examples
    --------
    ``<A x, y> = <x, A^H y>`` with one mask and one set of maps per sample:

    >>> x = torch.randn(2, 6, 5, dtype=torch.complex128)
    >>> y = torch.randn(2, 3, 6, 5, dtype=torch.complex128)
    >>> mask = (torch.rand(2, 1, 6, 5) < 0.5).double()
    >>> maps = torch.randn(2, 3, 6, 5, dtype=torch.complex128)
    >>> lhs = torch.vdot(coil_fourier(x, mask, maps).flatten(), y.flatten())
    >>> rhs = torch.vdot(x.flatten(), coil_fourier_adjoint(y, mask, maps).flatten())
    >>> bool(torch.isclose(lhs, rhs))
    True
    """
    mask, coil_maps = _kernel_operands(y, 'y', mask, coil_maps, ndim)
    if coil_maps is not None:
        if coil_maps.shape[-ndim - 1] != y.shape[-ndim - 1]:
            raise ValueError(f'`coil_maps` hold {coil_maps.shape[-ndim - 1]} coils but `y` '
                             f'has {y.shape[-ndim - 1]} on its coil axis (axis {-ndim - 1})')
        _check_fits(coil_maps, 'coil_maps', tuple(y.shape),
                    'give maps (C, *shape) or one set per sample (N, C, *shape)')
    _check_fits(mask, 'mask', tuple(y.shape), 'give a mask (H, W), (W,) or (N, 1, H, W)')
    x = ifftn_centered(y * mask, ndim)
    if coil_maps is not None:
        x = (x * coil_maps.conj()).sum(dim=-ndim - 1)
    return x


class MRIForward(BatchedLinearOperator):
    """Cartesian (multi-coil) MRI forward operator ``x -> M * F(S_c * x)``.

    Single coil: ``y = M * F(x)``; with coil maps: ``y_c = M * F(S_c * x)``
    for ``c = 1, ..., n_coils``. ``F`` is the orthonormal centred FFT over
    all image axes (2-D slices or 3-D volumes) with the zero frequency at
    index ``n // 2``, ``M`` a real mask and ``S_c`` complex sensitivities.
    The conjugate transpose is
    ``A^H y = sum_c conj(S_c) * F^{-1}(M * y_c)``.

    The range has the constant weighting of the domain (the cell volume of
    an `odl.uniform_discr` space), so the orthonormal FFT is an isometry of
    the ODL spaces and ``op.adjoint`` equals the conjugate transpose for
    any physical extent of the image. In particular, with an all-ones mask
    and no coils ``op`` is unitary: ``op.adjoint(op(x)) == x``.

    Parameters
    ----------
    space : complex `odl.DiscretizedSpace` or ODL tensor space
        Image space, ``complex64`` or ``complex128``, NumPy or PyTorch
        backend, any device. For real images use ``space.complex_space``
        (embed an element with ``space.complex_space.element(x)``).
    mask : array-like
        Real, finite sampling mask (NumPy array, torch tensor or ODL
        element) of shape ``space.shape`` or broadcastable to it, e.g.
        ``(1, W)`` or ``(W,)`` for lines along the last axis; centred
        k-space convention (zero frequency at index ``n // 2``; convert a
        mask with the zero frequency at index 0 with `numpy.fft.fftshift`).
        Usually 0/1, but any real weights are allowed.
    coil_maps : array-like, optional
        Complex (or real) sensitivities of shape ``(n_coils, *space.shape)``.
        Without them the single-coil model is used and the range has no
        coil axis.

    Attributes
    ----------
    range : ODL tensor space
        ``space.shape`` (single coil) or ``(n_coils, *space.shape)``, with
        the dtype, backend, device and weighting of ``space``.

    Notes
    -----
    `forward_batch` and `transpose_batch` act on whole batches
    ``(B, *space.shape)`` / ``(B, [n_coils,] *space.shape)`` on the device
    and in the precision of their input (real input is promoted to
    complex); mask and coil maps are cached per device and dtype.

    Examples
    --------
    A mask keeping the two central columns of a 4 x 4 k-space; a constant
    image has only the zero frequency ``sum(x) / sqrt(16) = 4`` at (2, 2):

    >>> space = odl.uniform_discr([0, 0], [2, 2], (4, 4), dtype='complex128')
    >>> mask = np.array([[0, 1, 1, 0]], dtype=float)
    >>> op = MRIForward(space, mask)
    >>> op.range
    cn((4, 4), weighting=0.25)
    >>> np.abs(op(space.one()).data)
    array([[ 0.,  0.,  0.,  0.],
           [ 0.,  0.,  0.,  0.],
           [ 0.,  0.,  4.,  0.],
           [ 0.,  0.,  0.,  0.]])

    With a full mask the single-coil operator is unitary:

    >>> full = MRIForward(space, np.ones((4, 4)))
    >>> x = space.element(np.arange(16).reshape(4, 4) * (1 + 1j))
    >>> bool(np.isclose(full(x).norm(), x.norm()))
    True
    >>> bool(np.allclose(full.adjoint(full(x)).data, x.data))
    True

    Two coils with ``|S_1|^2 + |S_2|^2 = 1`` keep ``A^* A = I`` at full
    sampling; the range gets a coil axis:

    >>> coils = np.stack([np.full((4, 4), 0.6), np.full((4, 4), 0.8j)])
    >>> op = MRIForward(space, np.ones((4, 4)), coil_maps=coils)
    >>> op.n_coils, op.range.shape
    (2, (2, 4, 4))
    >>> bool(np.allclose(op.adjoint(op(x)).data, x.data))
    True

    The torch face runs on whole batches:

    >>> op.forward_batch(torch.ones(3, 4, 4)).shape  # real -> complex64
    torch.Size([3, 2, 4, 4])
    """

    def __init__(self, space, mask, coil_maps=None):
        if not (hasattr(space, 'shape') and hasattr(space, 'dtype_identifier')):
            raise TypeError(
                f'`space` must be an ODL tensor space or `uniform_discr`, got '
                f'{type(space).__name__}'
            )
        if not torch_dtype(space).is_complex:
            raise ValueError(
                f'`space` must be complex (complex64 or complex128), got dtype '
                f'{space.dtype_identifier!r}; pass `space.complex_space` and '
                'embed real images with `space.complex_space.element(x)`'
            )
        shape = tuple(space.shape)
        weighting = space_weighting(space)

        mask_t = _as_tensor(mask, 'mask')
        if mask_t.is_complex():
            raise ValueError(
                '`mask` must be real, got a complex array; pass its real part '
                'or its modulus (e.g. `np.abs(mask)`)'
            )
        try:
            broadcast = torch.broadcast_shapes(tuple(mask_t.shape), shape)
        except RuntimeError:
            broadcast = None
        if mask_t.ndim > len(shape) or broadcast != shape:
            raise ValueError(
                f'`mask` of shape {tuple(mask_t.shape)} does not broadcast to '
                f'the image shape {shape}; give a mask of shape {shape} or a '
                f'broadcastable one such as {(1,) * (len(shape) - 1) + shape[-1:]}'
            )
        _check_finite(mask_t, 'mask', 'give finite sampling weights (0/1)')

        coils_t = None
        if coil_maps is not None:
            coils_t = _as_tensor(coil_maps, 'coil_maps')
            if coils_t.ndim != len(shape) + 1 or tuple(coils_t.shape[1:]) != shape:
                raise ValueError(
                    f'`coil_maps` must have shape (n_coils, '
                    f'{", ".join(map(str, shape))}) for the image shape '
                    f'{shape}, got {tuple(coils_t.shape)}'
                )
            if coils_t.shape[0] == 0:
                raise ValueError('`coil_maps` must hold at least one coil')
            _check_finite(coils_t, 'coil_maps',
                          'replace undefined sensitivities (e.g. by 0)')

        range_shape = shape if coils_t is None else (coils_t.shape[0],) + shape
        range_space = odl.tensor_space(
            range_shape, dtype=space.dtype_identifier, impl=space.impl,
            device=space.device, weighting=weighting)
        super().__init__(space, range_space)

        self._mask = mask_t
        self._coil_maps = coils_t
        self._cache = {}

    # --- buffers ---------------------------------------------------------

    def _buffer(self, name, device, dtype):
        """``name`` ('mask' or 'coil_maps') on ``device`` in ``dtype``."""
        key = (name, torch.device(device), dtype)
        tensor = self._cache.get(key)
        if tensor is None:
            source = self._mask if name == 'mask' else self._coil_maps
            tensor = source.to(device=device, dtype=dtype)
            self._cache[key] = tensor
        return tensor

    def _mask_for(self, t):
        return self._buffer('mask', t.device, real_dtype(t.dtype))

    def _coils_for(self, t):
        return self._buffer('coil_maps', t.device, complex_dtype(t.dtype))

    # --- kernels ---------------------------------------------------------

    def _forward(self, x):
        coils = None if self._coil_maps is None else self._coils_for(x)
        return coil_fourier(x, self._mask_for(x), coils, self.domain.ndim)

    def _transpose(self, y):
        coils = None if self._coil_maps is None else self._coils_for(y)
        return coil_fourier_adjoint(y, self._mask_for(y), coils, self.domain.ndim)

    # --- properties ------------------------------------------------------

    @property
    def mask(self):
        """Sampling mask, a copy as a real tensor of shape ``space.shape``.

        It is in the real precision of the space, on the space's device.
        """
        device = getattr(self.domain, 'device', 'cpu')
        mask = self._buffer('mask', device, real_dtype(self.domain))
        return mask.expand(self.domain.shape).clone()

    @property
    def coil_maps(self):
        """Coil sensitivities ``(n_coils, *space.shape)`` (a copy), or None.

        Complex, in the precision of the space, on the space's device.
        """
        if self._coil_maps is None:
            return None
        device = getattr(self.domain, 'device', 'cpu')
        return self._buffer('coil_maps', device, torch_dtype(self.domain)).clone()

    @property
    def n_coils(self):
        """Number of coils; 1 for the single-coil model.

        Whether the range has a coil axis is told by ``coil_maps is None``.
        """
        return 1 if self._coil_maps is None else int(self._coil_maps.shape[0])

    def __repr__(self):
        shape = tuple(self.domain.shape)
        n_points = 1
        for n in shape:
            n_points *= n
        n_sampled = int(torch.count_nonzero(self._mask)) * (
            n_points // max(self._mask.numel(), 1))
        factor = n_points / n_sampled if n_sampled else float('inf')
        coils = ('None' if self._coil_maps is None
                 else f'<{self.n_coils} coils>')
        space = textwrap.indent(repr(self.domain), '    ')
        return (
            f'{type(self).__name__}(\n{space},\n'
            f'    mask=<shape {tuple(self._mask.shape)}, {n_sampled} of '
            f'{n_points} points sampled, acceleration {factor:.2f}>,\n'
            f'    coil_maps={coils}\n)'
        )

    __str__ = __repr__
