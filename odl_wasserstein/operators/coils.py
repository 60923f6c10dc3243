"""Coil sensitivities from the calibration region, and SVD coil compression.

The multi-coil Cartesian model of Lei et al., "Wasserstein GANs for MR
imaging: from paired to unpaired training" (eqs. (7)-(8),
``y_c = M F(S_c x)``), needs the sensitivities ``S_c`` of the coils; the
paper extracts them with ESPIRiT (Uecker et al., MRM 71(3), 2014,
doi:10.1002/mrm.24751) from the fully sampled 20 x 20 centre of its
variable-density Poisson masks, and its knee data have 8 coils.

- `estimate_coil_maps`: the low-resolution ratio estimate of the
  sensitivities (coil images of the windowed calibration region divided
  by their root sum of squares). ESPIRiT is not implemented.
- `compress_coils`: SVD (principal component) coil compression per slice
  (Huang et al., "Software compression for multi-channel MRI", MRI 26(1),
  2008, doi:10.1016/j.mri.2007.04.010), e.g. the 15 coils of fastMRI knee
  data to the paper's 8.

K-space is centred (zero frequency at ``n // 2``, the convention of
`odl_wasserstein.fft.fftn_centered`), complex, coils on axis ``-3``.
"""

import math
import numbers

import torch

from odl_wasserstein.fft import ifftn_centered
from odl_wasserstein.operators.masks import _centred_band
from odl_wasserstein.util import check_finite, check_int, check_real

__all__ = ('estimate_coil_maps', 'compress_coils')

# Fraction of the calibration half-width over which the window tapers.
_TAPER = 0.5


def _check_kspace(kspace):
    if not isinstance(kspace, torch.Tensor) or not kspace.is_complex():
        raise TypeError('`kspace` must be a complex tensor (N, C, H, W) or (C, H, W), got '
                        f'{getattr(kspace, "dtype", type(kspace).__name__)}')
    if kspace.ndim not in (3, 4):
        raise ValueError('`kspace` must have shape (N, C, H, W) or (C, H, W) (coils on '
                         f'axis -3), got {tuple(kspace.shape)}')
    check_finite(kspace, 'kspace')
    return kspace


def _check_calibration(calibration, shape):
    if isinstance(calibration, numbers.Integral) and not isinstance(calibration, bool):
        calibration = (calibration, calibration)
    try:
        sizes = tuple(calibration)
    except TypeError:
        sizes = ()
    if (len(sizes) != 2 or not all(isinstance(c, numbers.Integral)
                                   and not isinstance(c, bool) and c >= 1 for c in sizes)):
        raise ValueError(f'`calibration` must be a positive int or a pair of them (the '
                         f'fully sampled centre, e.g. 20), got {calibration!r}')
    if sizes[0] > shape[0] or sizes[1] > shape[1]:
        raise ValueError(f'`calibration` {sizes} is larger than the k-space {tuple(shape)}; '
                         'use a smaller calibration region')
    return tuple(int(c) for c in sizes)


def _taper(n, width, dtype):
    """Tukey window on the ``width`` central points of ``n``, zero outside.

    Flat over the inner half of the band, a cosine taper over the outer
    half, zero half a point beyond the band's ends (so its first and last
    points keep a small weight).
    """
    offset = (torch.arange(n, dtype=torch.float64) - n // 2).abs()
    edge = width / 2 + 0.5
    flat = (1 - _TAPER) * edge
    weight = torch.cos(math.pi / 2 * ((offset - flat) / (edge - flat)).clamp(0, 1)) ** 2
    inside = torch.zeros(n, dtype=torch.bool)
    inside[_centred_band(n, width)] = True
    return torch.where(inside, weight, 0).to(dtype)


def estimate_coil_maps(kspace, calibration=20, threshold=0.05):
    """Coil sensitivities from the calibration region: the low-resolution ratio estimate.

    The fully sampled ``calibration`` rectangle at the centre of k-space
    (the calibration square of
    `odl_wasserstein.operators.masks.poisson_disc_mask`: indices
    ``n // 2 - c // 2, ..., n // 2 - c // 2 + c - 1`` on each axis) is
    multiplied by a separable Tukey window (flat over the inner half of
    each half-width, a cosine taper over the outer half), which limits the
    ringing of the truncated calibration data, zero-padded to the full
    size and transformed to low-resolution coil images ``l_c``. The maps
    are

    .. math::
        S_c = \\frac{l_c}{\\sqrt{\\sum_d |l_d|^2}}

    where the root sum of squares (RSS) exceeds ``threshold`` times its
    maximum over the slice, and 0 elsewhere. Where defined,
    ``sum_c |S_c|^2 = 1``.

    If the true sensitivities ``T_c`` vary little over the resolution of
    the calibration data, ``l_c ~ T_c (h * x)`` for the image ``x`` and
    the window's point-spread function ``h``, so ``S_c ~ T_c e^{i phi}``
    with ``phi`` the phase of the low-resolution image: the maps carry
    the image's smooth phase, common to all coils, and the coil
    combination ``sum_c conj(S_c) F^{-1}(y_c)`` of fully sampled data
    ``y_c = F(T_c x)`` is about ``e^{-i phi} x``, the image with that
    phase removed; its magnitude is at most the RSS image
    ``sqrt(sum_c |F^{-1} y_c|^2)`` (Cauchy-Schwarz), with equality where
    the maps are exact. Relative phases
    ``S_c conj(S_d)`` and magnitudes ``|S_c|`` estimate the true ones.

    The maps are set to zero outside the support ``RSS > threshold max``
    rather than normalised there, because the ratio of noise and ringing
    outside the object is no sensitivity; ESPIRiT likewise crops its maps
    to the object, so zero-filled images and coil-combined labels are zero
    in the background as with the paper's maps. ESPIRiT itself (eigen-
    vectors of the calibration matrix) is not implemented.

    Parameters
    ----------
    kspace : torch.Tensor
        Complex centred multi-coil k-space ``(N, C, H, W)`` or
        ``(C, H, W)``, fully sampled at least on the calibration region
        (undersampled data with zeros elsewhere are fine).
    calibration : int or (int, int), optional
        Size of the fully sampled central region used, at most ``(H, W)``;
        20 is the paper's at 256 x 320
        (`odl_wasserstein.data.scaled_calibration` scales it).
    threshold : float, optional
        Support threshold relative to the largest RSS of the slice, in
        ``[0, 1)``.

    Returns
    -------
    torch.Tensor
        Maps of the shape and dtype of ``kspace``.

    Raises
    ------
    TypeError
        If ``kspace`` is not a complex tensor.
    ValueError
        If it has the wrong rank or non-finite values, ``calibration`` is
        not a positive size within the k-space, ``threshold`` is out of
        range, or a slice's calibration region is zero.

    Examples
    --------
    Maps estimated from the simulated k-space of a birdcage coil array are
    normalised on the object and zero in the background:

    >>> from odl_wasserstein.data import (
    ...     birdcage_coil_maps, simulate_kspace, simulated_subject_image)
    >>> image = simulated_subject_image(0, 64)[None, None]
    >>> kspace = simulate_kspace(image, birdcage_coil_maps(64, 8))
    >>> maps = estimate_coil_maps(kspace, calibration=16)
    >>> maps.shape, maps.dtype
    (torch.Size([1, 8, 64, 64]), torch.complex64)
    >>> power = maps.abs().square().sum(1)
    >>> round(float(power[0, 32, 32]), 5), float(power[0, 0, 0])
    (1.0, 0.0)
    """
    kspace = _check_kspace(kspace)
    calibration = _check_calibration(calibration, kspace.shape[-2:])
    threshold = check_real(threshold, 'threshold', minimum=0)
    if threshold >= 1:
        raise ValueError(f'`threshold` must be in [0, 1) (relative to the largest RSS), '
                         f'got {threshold}')
    real = kspace.real.dtype
    window = (_taper(kspace.shape[-2], calibration[0], real)[:, None]
              * _taper(kspace.shape[-1], calibration[1], real)[None, :])
    low = ifftn_centered(kspace * window.to(kspace.device), 2)
    rss = low.abs().square().sum(-3, keepdim=True).sqrt()
    peak = rss.amax(dim=(-3, -2, -1), keepdim=True)
    if not bool((peak > 0).all()):
        raise ValueError('`kspace` is zero on the calibration region of a slice; the '
                         'calibration region must be fully sampled (check `calibration` '
                         'and the mask)')
    support = rss > threshold * peak
    return torch.where(support, low / torch.where(support, rss, 1), 0)


def compress_coils(kspace, num_coils):
    """SVD coil compression to ``num_coils`` virtual coils, slice by slice.

    For each slice, the ``C`` coils are the rows of the ``C x (H W)``
    matrix ``K``; with the eigenvectors ``u_1, u_2, ...`` of ``K K^H``
    (the left singular vectors of ``K``) ordered by decreasing eigenvalue,
    the virtual coils are ``u_j^H K`` for ``j <= num_coils``: the
    principal components of the coil signals, which keep the largest
    possible part of the energy ``||K||^2`` (the sum of the kept
    eigenvalues). The compression is linear across coils only, so it
    commutes with the FFT and acts alike on k-space and coil images. With
    ``num_coils = C`` it is a unitary change of coils per slice, which
    keeps the root-sum-of-squares image exactly.

    Parameters
    ----------
    kspace : torch.Tensor
        Complex multi-coil k-space (or coil images) ``(N, C, H, W)`` or
        ``(C, H, W)``.
    num_coils : int
        Number of virtual coils, ``1 <= num_coils <= C``.

    Returns
    -------
    torch.Tensor
        ``(N, num_coils, H, W)`` or ``(num_coils, H, W)``, dtype of
        ``kspace``; virtual coil 0 holds the most energy.

    Raises
    ------
    TypeError
        If ``kspace`` is not a complex tensor or ``num_coils`` not an int.
    ValueError
        If ``kspace`` has the wrong rank or non-finite values, or
        ``num_coils`` exceeds its coils.

    Examples
    --------
    Two coils that see the same image up to a factor are one virtual coil:

    >>> image = torch.randn(6, 6, dtype=torch.complex64)
    >>> kspace = torch.stack([image, (2 - 1j) * image])
    >>> one = compress_coils(kspace, 1)
    >>> one.shape
    torch.Size([1, 6, 6])
    >>> bool(torch.isclose(one.norm(), kspace.norm()))
    True
    """
    kspace = _check_kspace(kspace)
    coils = kspace.shape[-3]
    num_coils = check_int(num_coils, 'num_coils', 1)
    if num_coils > coils:
        raise ValueError(f'`num_coils` must be at most the {coils} coils of `kspace`, got '
                         f'{num_coils}')
    # Eigenvectors of the small C x C covariance, in double precision: the
    # same subspace as the SVD of the C x (H W) matrix, at a fraction of the cost.
    flat = kspace.reshape(kspace.shape[:-2] + (-1,)).to(torch.complex128)
    _, vectors = torch.linalg.eigh(flat @ flat.mH)
    basis = vectors.flip(-1)[..., :num_coils]
    compressed = basis.mH @ flat
    return compressed.reshape(kspace.shape[:-3] + (num_coils,) + kspace.shape[-2:]).to(
        kspace.dtype)
