r"""Data-consistency layers of unrolled MRI reconstruction, eqs. (7) and (8) of Lei et al.

Lei, Mardani, Pauly and Vasanawala, "Wasserstein GANs for MR imaging: from
paired to unpaired training" (IEEE TMI 2021), section III.C: a generator
alternates networks with data-consistency (DC) steps for the multi-coil
Cartesian model ``A x = (M F(S_c x))_c`` and measurements ``b`` (masked
k-space, ``(N, C, H, W)``):

- `GradientDataConsistency`, the "soft" DC of eq. (7), a gradient step with
  a learnable step ``t``: ``x + t (A^H A x - A^H b)``;
- `HardDataConsistency`, the "hard" DC of eq. (8): ``x + A^H (b - A x)``,
  which keeps the measured k-space and the network's elsewhere.

A layer takes the operator per call, as any object with ``op(x) = A x``
(complex images ``(N, 1, H, W)`` -> ``(N, C, H, W)``) and
``op.adjoint(y) = A^H y``: `CoilFourier` (mask and coil maps per batch,
even per sample, on the kernels `odl_wasserstein.operators.coil_fourier`
and `coil_fourier_adjoint` that `odl_wasserstein.operators.MRIForward`
runs too), or `OperatorPair`, which wraps two torch callables or any linear
ODL operator. Images are complex ``(N, 1, H, W)`` inside; the layers also
take their two real channels ``(N, 2, H, W)`` (real, imaginary) and then
answer in that form, as `odl_wasserstein.nn.UndersampledFourier` does.
"""

import functools

import odl
import torch
from torch import nn

from odl_wasserstein.operators import coil_fourier, coil_fourier_adjoint
from odl_wasserstein.torch import OperatorModule
from odl_wasserstein.util import (
    channels_to_complex, check_finite, check_real, complex_to_channels, torch_dtype)

__all__ = ('CoilFourier', 'OperatorPair', 'HardDataConsistency', 'GradientDataConsistency')


def _describe(value):
    if isinstance(value, torch.Tensor):
        return f'{value.dtype} of shape {tuple(value.shape)}'
    return type(value).__name__


def _as_complex_images(x, name):
    """Complex ``(N, 1, *shape)`` from complex ``(N, 1, ...)`` or real ``(N, 2, ...)``.

    Returns the images and whether ``x`` was in the real two-channel form.
    """
    if not isinstance(x, torch.Tensor) or x.ndim < 3:
        raise ValueError(f'`{name}` must be complex images (N, 1, H, W) or their real and '
                         f'imaginary parts (N, 2, H, W), got {_describe(x)}')
    if x.is_complex():
        if x.shape[1] != 1:
            raise ValueError(f'`{name}` must hold one complex image per sample, (N, 1, H, W), '
                             f'got shape {tuple(x.shape)}')
        return x, False
    if not x.is_floating_point() or x.shape[1] != 2:
        raise ValueError(f'`{name}` in real form must be (N, 2, H, W) floats (real and '
                         f'imaginary parts), got {_describe(x)}')
    return channels_to_complex(x), True


def _restore_form(z, real_form):
    """``z`` back in the form `_as_complex_images` was given."""
    return complex_to_channels(z) if real_form else z


def _check_measurements(measurements):
    """Raise unless ``measurements`` is complex k-space ``(N, C, ...)``."""
    if not isinstance(measurements, torch.Tensor) or not measurements.is_complex():
        raise TypeError(f'`measurements` must be complex k-space (N, C, H, W), got '
                        f'{_describe(measurements)}; convert two real channels with '
                        '`odl_wasserstein.util.channels_to_complex`')
    if measurements.ndim < 3:
        raise ValueError(f'`measurements` must be k-space (N, C, H, W), got shape '
                         f'{tuple(measurements.shape)}')
    return measurements


def _apply_adjoint(operator, y, like=None):
    """``operator.adjoint(y)``, checked to be images ``(N, 1, ...)`` (of ``like``'s shape)."""
    x = operator.adjoint(y)
    shape = None if like is None else tuple(like.shape)
    if not isinstance(x, torch.Tensor) or x.ndim < 3 or x.shape[1] != 1 or (
            shape is not None and tuple(x.shape) != shape):
        raise ValueError(f'`operator.adjoint` must map k-space {tuple(y.shape)} to images '
                         f'{shape or "(N, 1, H, W)"}, got {_describe(x)}')
    return x


def _residual(operator, z, measurements):
    """``A z - b``, with the shapes of both sides checked."""
    kspace = operator(z)
    if tuple(kspace.shape) != tuple(measurements.shape):
        raise ValueError(f'`measurements` of shape {tuple(measurements.shape)} do not match '
                         f'the operator\'s k-space A x of shape {tuple(kspace.shape)}')
    return kspace - measurements


class CoilFourier:
    """Multi-coil Cartesian MRI ``A x = (M * F(S_c x))_c`` on batches, with ``A^H``.

    ``F`` is the orthonormal centred FFT over the last two axes
    (`odl_wasserstein.fft`), ``M`` a real mask and ``S_c`` the coil maps;
    the numbers are those of `odl_wasserstein.operators.MRIForward` (the
    same kernels, `odl_wasserstein.operators.coil_fourier` and
    `coil_fourier_adjoint`). Mask and maps are fixed for a batch and may
    differ per sample. Differentiable in the images, the k-space and the
    maps.

    Parameters
    ----------
    mask : array-like
        Real sampling weights (usually 0/1), ``(H, W)``, ``(W,)`` for lines
        along the last axis, or one per sample ``(N, 1, H, W)``; centred
        k-space (zero frequency at index ``n // 2``).
    coil_maps : array-like, optional
        Sensitivities ``(C, H, W)`` or one set per sample ``(N, C, H, W)``;
        without them the single-coil model ``M * F(x)`` (``C = 1``).

    Notes
    -----
    ``op(x)``: complex images ``(N, 1, H, W)`` (real ones are promoted) to
    k-space ``(N, C, H, W)``; ``op.adjoint(y)``: ``(N, C, H, W)`` to
    ``(N, 1, H, W)``, ``sum_c conj(S_c) F^{-1}(M y_c)``. Both run in the
    precision and on the device of their input.

    Examples
    --------
    Two coils with ``|S_1|^2 + |S_2|^2 = 1`` and a full mask: ``A^H A = I``.

    >>> maps = torch.stack([torch.full((4, 4), 0.6), torch.full((4, 4), 0.8j)])
    >>> op = CoilFourier(torch.ones(4, 4), maps)
    >>> x = torch.randn(3, 1, 4, 4, dtype=torch.complex128)
    >>> op(x).shape
    torch.Size([3, 2, 4, 4])
    >>> bool(torch.allclose(op.adjoint(op(x)), x))
    True

    One mask per sample, single coil:

    >>> masks = torch.stack([torch.ones(1, 4, 4), torch.zeros(1, 4, 4)])
    >>> y = CoilFourier(masks)(x[:2])
    >>> y.shape, bool(y[1].abs().max() == 0)
    (torch.Size([2, 1, 4, 4]), True)
    """

    def __init__(self, mask, coil_maps=None):
        mask = torch.as_tensor(mask)
        if mask.is_complex():
            raise TypeError('`mask` must be real (sampling weights), got a complex tensor; '
                            'pass its modulus')
        if not mask.is_floating_point():
            mask = mask.to(torch.get_default_dtype())
        if not 1 <= mask.ndim <= 4:
            raise ValueError(f'`mask` must be (H, W), (W,) or (N, 1, H, W), got shape '
                             f'{tuple(mask.shape)}')
        check_finite(mask, 'mask')
        if coil_maps is not None:
            coil_maps = torch.as_tensor(coil_maps)
            if coil_maps.ndim not in (3, 4):
                raise ValueError(f'`coil_maps` must be (C, H, W) or (N, C, H, W), got shape '
                                 f'{tuple(coil_maps.shape)}')
            check_finite(coil_maps, 'coil_maps')
            try:
                torch.broadcast_shapes(mask.shape, coil_maps.shape)
            except RuntimeError:
                raise ValueError(f'`mask` of shape {tuple(mask.shape)} does not fit the coil '
                                 f'maps {tuple(coil_maps.shape)}') from None
        self.mask = mask
        self.coil_maps = coil_maps

    @property
    def n_coils(self):
        """Number of coils ``C`` of the k-space; 1 without coil maps."""
        return 1 if self.coil_maps is None else int(self.coil_maps.shape[-3])

    def __call__(self, x):
        """``A x``: images ``(N, 1, H, W)`` to k-space ``(N, C, H, W)``."""
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f'`x` must be complex images (N, 1, H, W), got {_describe(x)}; '
                             'convert real and imaginary channels with '
                             '`odl_wasserstein.util.channels_to_complex`')
        if self.coil_maps is None:
            return coil_fourier(x, self.mask)
        return coil_fourier(x[:, 0], self.mask, self.coil_maps)

    def adjoint(self, y):
        """``A^H y``: k-space ``(N, C, H, W)`` to images ``(N, 1, H, W)``."""
        if not isinstance(y, torch.Tensor) or y.ndim != 4 or y.shape[1] != self.n_coils:
            raise ValueError(f'`y` must be k-space (N, {self.n_coils}, H, W) for '
                             f'{self.n_coils} coil(s), got {_describe(y)}')
        if self.coil_maps is None:
            return coil_fourier_adjoint(y, self.mask)
        return coil_fourier_adjoint(y, self.mask, self.coil_maps).unsqueeze(1)

    def __repr__(self):
        maps = None if self.coil_maps is None else f'<shape {tuple(self.coil_maps.shape)}>'
        return f'{type(self).__name__}(mask=<shape {tuple(self.mask.shape)}>, coil_maps={maps})'


def _odl_forward(module, coil_axis, x):
    y = module(x)  # (N, 1, *range.shape)
    return y[:, 0] if coil_axis else y


def _odl_adjoint(module, coil_axis, y):
    return module(y.unsqueeze(1) if coil_axis else y)


class OperatorPair:
    """A linear operator for the DC layers from two torch callables, ``A`` and ``A^H``.

    Parameters
    ----------
    forward, adjoint : callable
        ``forward(x)``: complex images ``(N, 1, *shape)`` to measurements;
        ``adjoint(y)``: measurements back to ``(N, 1, *shape)``. ``adjoint``
        must be the adjoint of ``forward`` for the DC steps to be what
        their docstrings say.

    See Also
    --------
    from_odl : the pair of a linear ODL operator.

    Examples
    --------
    The single-coil MRI operator ``M F`` from two lambdas:

    >>> from odl_wasserstein.fft import fftn_centered, ifftn_centered
    >>> mask = torch.tensor([0.0, 1.0, 1.0, 0.0])
    >>> op = OperatorPair(lambda x: mask * fftn_centered(x, 2),
    ...                   lambda y: ifftn_centered(mask * y, 2))
    >>> x = torch.randn(2, 1, 4, 4, dtype=torch.complex128)
    >>> bool(torch.allclose(op(x), CoilFourier(mask)(x)))
    True
    """

    def __init__(self, forward, adjoint):
        for name, value in (('forward', forward), ('adjoint', adjoint)):
            if not callable(value):
                raise TypeError(f'`{name}` must be callable, got {type(value).__name__}')
        self.forward = forward
        self._adjoint = adjoint

    @classmethod
    def from_odl(cls, operator):
        """The pair ``(A, A*)`` of a linear ODL operator with a complex domain.

        Both run through `odl_wasserstein.torch.OperatorModule` (batched and
        differentiable; the package's operators run their torch kernels).
        Images are ``(N, 1, *operator.domain.shape)``; measurements are
        ``(N, *operator.range.shape)`` when the range has one axis more than
        the domain (the coil axis of `odl_wasserstein.operators.MRIForward`
        with coil maps: ``(N, C, H, W)``), else ``(N, 1, *range.shape)``.
        The adjoint is ODL's, for the weighted inner products of the spaces:
        ``(w_range / w_domain) A^H``, which is ``A^H`` for `MRIForward`,
        whose range has the weighting of its domain.

        Examples
        --------
        >>> from odl_wasserstein.operators import MRIForward
        >>> space = odl.uniform_discr([0, 0], [1, 1], (4, 4), dtype='complex64')
        >>> maps = np.stack([np.full((4, 4), 0.6), np.full((4, 4), 0.8j)])
        >>> op = OperatorPair.from_odl(MRIForward(space, np.ones((4, 4)), maps))
        >>> x = torch.randn(3, 1, 4, 4, dtype=torch.complex64)
        >>> op(x).shape, op.adjoint(op(x)).shape
        (torch.Size([3, 2, 4, 4]), torch.Size([3, 1, 4, 4]))
        """
        if not isinstance(operator, odl.Operator):
            raise TypeError(f'`operator` must be an `odl.Operator`, got '
                            f'{type(operator).__name__}')
        if not operator.is_linear:
            raise ValueError(f'`operator` must be linear, got {operator!r}')
        if not torch_dtype(operator.domain).is_complex:
            raise ValueError('`operator` must act on a complex space (the DC layers work on '
                             'complex images); build it on `space.complex_space`')
        coil_axis = len(operator.range.shape) == len(operator.domain.shape) + 1
        return cls(functools.partial(_odl_forward, OperatorModule(operator), coil_axis),
                   functools.partial(_odl_adjoint, OperatorModule(operator.adjoint), coil_axis))

    def __call__(self, x):
        """``A x``."""
        return self.forward(x)

    def adjoint(self, y):
        """``A^H y``."""
        return self._adjoint(y)


class HardDataConsistency(nn.Module):
    r"""Hard data consistency, eq. (8): ``x + A^H (b - A x)``.

    No parameters. ``operator`` is `CoilFourier`, `OperatorPair` or any
    object with ``operator(x)`` and ``operator.adjoint(y)``.

    Notes
    -----
    For ``A x = (M F(S_c x))_c`` with a 0/1 mask, the orthonormal FFT and
    maps with ``sum_c |S_c|^2 = 1`` (``A^H A = I`` at full sampling), the
    output equals the paper's eq. (8),
    ``sum_c conj(S_c) F^{-1}{ b_c + (1 - M) F(S_c x) }`` for masked
    measurements ``b = M b``: the measured k-space of every coil is put in,
    the rest kept, and the coils combined.

    For one coil (or any ``A`` whose ``A^H A`` is an orthogonal projection)
    the layer is the projection onto ``{x : A x = b}``: applying it twice
    equals applying it once, and ``M F(out) = b`` on the mask. For several
    coils the k-space replacement of each coil is exact, but the coil
    combination ``sum_c conj(S_c) F^{-1}(.)`` of the corrected k-spaces is
    not: ``A out = b`` does not hold in general (an image rarely has coil
    images that match ``b`` where sampled *and* the network elsewhere), so
    the layer is not idempotent. With maps that do not satisfy
    ``sum_c |S_c|^2 = 1`` (e.g. zero outside the body) the layer keeps
    ``x`` where ``sum_c |S_c|^2 = 0``, where eq. (8) gives 0.

    Input ``x``: complex ``(N, 1, H, W)`` or real ``(N, 2, H, W)``
    (real, imaginary; the output is then in the same form);
    ``measurements``: complex ``(N, C, H, W)``.

    Examples
    --------
    With a full mask the measured image comes back whatever ``x``:

    >>> op = CoilFourier(torch.ones(4, 4))
    >>> truth = torch.randn(2, 1, 4, 4, dtype=torch.complex128)
    >>> layer = HardDataConsistency()
    >>> bool(torch.allclose(layer(torch.zeros_like(truth), op(truth), op), truth))
    True
    >>> layer(torch.zeros(2, 2, 4, 4, dtype=torch.float64), op(truth), op).shape
    torch.Size([2, 2, 4, 4])
    """

    def forward(self, x, measurements, operator):
        """Return ``x + A^H (b - A x)`` in the form of ``x``."""
        z, real_form = _as_complex_images(x, 'x')
        residual = _residual(operator, z, _check_measurements(measurements))
        return _restore_form(z - _apply_adjoint(operator, residual, like=z), real_form)


class GradientDataConsistency(nn.Module):
    r"""Soft data consistency, eq. (7): ``x + t (A^H A x - x0)``, ``t`` learnable.

    With ``x0 = A^H b`` (the zero-filled image) this is a gradient step of
    size ``-t`` on ``1/2 ||A x - b||^2``, whose gradient is
    ``A^H (A x - b) = A^H A x - x0``; the authors' code starts from
    ``t = -2``. The step is learned as it is, without sign constraint.

    Parameters
    ----------
    step : float, optional
        Initial value of ``t``.

    Attributes
    ----------
    t : `torch.nn.Parameter`
        The step, a real scalar (in the default dtype; ``.double()`` for
        float64).

    Notes
    -----
    ``x`` and ``x0``: complex ``(N, 1, H, W)`` or real ``(N, 2, H, W)``
    (each in either form; the output is in the form of ``x``).

    Examples
    --------
    A step from 0 with ``t = -1`` and a full mask reaches the zero-filled
    image:

    >>> op = CoilFourier(torch.ones(4, 4))
    >>> x0 = torch.randn(1, 1, 4, 4, dtype=torch.complex64)
    >>> layer = GradientDataConsistency(step=-1.0)
    >>> bool(torch.allclose(layer(torch.zeros_like(x0), x0, op), x0))
    True
    >>> layer.t
    Parameter containing:
    tensor(-1., requires_grad=True)
    """

    def __init__(self, step=-2.0):
        super().__init__()
        self.t = nn.Parameter(torch.tensor(check_real(step, 'step')))

    def forward(self, x, x0, operator):
        """Return ``x + t (A^H A x - x0)`` in the form of ``x``."""
        z, real_form = _as_complex_images(x, 'x')
        z0, _ = _as_complex_images(x0, 'x0')
        if z0.shape != z.shape:
            raise ValueError(f'`x0` of shape {tuple(z0.shape)} (as complex images) does not '
                             f'match `x` of shape {tuple(z.shape)}')
        gram = _apply_adjoint(operator, operator(z), like=z)
        return _restore_form(z + self.t.to(z.real.dtype) * (gram - z0), real_form)
