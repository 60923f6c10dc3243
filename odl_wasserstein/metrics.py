"""Image quality metrics as the papers define them.

- `psnr`: peak signal-to-noise ratio ``10 log10(R^2 / MSE)`` with data range
  ``R`` (the learned primal-dual papers use ``R = 1``, i.e. the range of
  the ground truth in their phantoms).
- `ssim`: structural similarity with scikit-image's defaults, which the
  papers use: 7 x 7 uniform window, ``K1 = 0.01``, ``K2 = 0.03``, sample
  covariances, averaged over the windows that lie inside the image.
- `transport_distance`: a shape-sensitive distance in pixels, the square
  root of the debiased Sinkhorn divergence with the squared Euclidean cost
  between the normalised images (an entropic W2). Unlike PSNR it sees how
  far mass is from where it should be, not only how much differs.
- `sliced_transport_distance`: the sliced Wasserstein-1 distance in pixels
  between the normalised images, exact and fast at any image size (sorting,
  no Sinkhorn iterations): the mean over directions of the 1-D transport
  distance between the images' projections.
- `peak_intensity`: a high quantile of the image, relative to the
  reference's; smearing lowers it (Proposition 1 of the Wasserstein-loss
  paper).

For generative models and their critics:

- `sliced_wasserstein`: the sliced Wasserstein distance between two sets of
  samples (generated and real images), computable offline, unlike FID;
- `critic_continuity`, with `translation_sequence`, `total_variation_1d`
  and `zero_crossings`: how a critic's value changes as an image is
  translated one pixel at a time (Dukler et al. 2019, Table 1).

The image metrics are batched torch code: inputs ``(..., H, W)`` give one value per
leading index. They accept tensors, NumPy arrays and ODL elements.
"""

import math

import torch
import torch.nn.functional as F

from odl_wasserstein.adversarial.penalties import critic_values
from odl_wasserstein.util import check_finite, check_int, to_tensor

__all__ = ('psnr', 'ssim', 'transport_distance', 'sliced_transport_distance',
           'peak_intensity', 'sliced_wasserstein', 'translation_sequence',
           'total_variation_1d', 'zero_crossings', 'critic_continuity')


def _pair(x, reference):
    x = to_tensor(x)
    reference = to_tensor(reference)
    if x.shape != reference.shape:
        raise ValueError(
            f'`x` and `reference` must have the same shape, got '
            f'{tuple(x.shape)} and {tuple(reference.shape)}'
        )
    if x.is_complex() or reference.is_complex():
        raise TypeError('metrics are defined for real images; pass magnitudes')
    dtype = torch.promote_types(torch.promote_types(x.dtype, reference.dtype),
                                torch.float32)
    x, reference = x.to(dtype), reference.to(device=x.device, dtype=dtype)
    check_finite(x, 'x')
    check_finite(reference, 'reference')
    return x, reference


def _data_range(reference, data_range, ndim):
    if data_range is None:
        dims = tuple(range(-ndim, 0))
        return reference.amax(dim=dims) - reference.amin(dim=dims)
    if data_range <= 0:
        raise ValueError(f'`data_range` must be positive, got {data_range}')
    return torch.as_tensor(float(data_range), dtype=reference.dtype,
                           device=reference.device)


def psnr(x, reference, data_range=None):
    """Peak signal-to-noise ratio in dB, per image.

    Parameters
    ----------
    x, reference : array-like, shape ``(..., H, W)``
        Reconstruction and ground truth.
    data_range : float, optional
        Peak value ``R``; default ``reference.max() - reference.min()`` per
        image.

    Returns
    -------
    torch.Tensor
        Shape ``(...)``; ``inf`` where ``x == reference``.

    Examples
    --------
    >>> reference = torch.zeros(8, 8)
    >>> reference[2:6, 2:6] = 1
    >>> round(float(psnr(reference + 0.1, reference)), 4)
    20.0
    """
    x, reference = _pair(x, reference)
    if x.ndim < 2:
        raise ValueError(f'images must have at least 2 axes, got {x.ndim}')
    peak = _data_range(reference, data_range, 2)
    mse = (x - reference).square().mean(dim=(-2, -1))
    return 10 * torch.log10(peak.square() / mse)


def ssim(x, reference, data_range=None, win_size=7, k1=0.01, k2=0.03):
    """Structural similarity (scikit-image's default definition), per image.

    Parameters
    ----------
    x, reference : array-like, shape ``(..., H, W)``
        Reconstruction and ground truth, ``H, W >= win_size``.
    data_range : float, optional
        Dynamic range ``R`` in the constants ``(K R)^2``; default
        ``reference.max() - reference.min()`` per image.
    win_size : int, optional
        Odd side of the uniform window.
    k1, k2 : float, optional
        Stabilising constants.

    Returns
    -------
    torch.Tensor
        Shape ``(...)``, values in ``[-1, 1]``, 1 for identical images.

    Examples
    --------
    >>> reference = torch.linspace(0, 1, 64).reshape(8, 8)
    >>> float(ssim(reference, reference))
    1.0
    >>> bool(ssim(reference.flip(0), reference) < 0)
    True
    """
    x, reference = _pair(x, reference)
    if win_size % 2 != 1 or win_size < 3:
        raise ValueError(f'`win_size` must be an odd int >= 3, got {win_size}')
    if x.ndim < 2 or min(x.shape[-2:]) < win_size:
        raise ValueError(
            f'images must be at least {win_size} x {win_size}, got shape '
            f'{tuple(x.shape)}'
        )
    batch_shape = x.shape[:-2]
    peak = _data_range(reference, data_range, 2).reshape(-1, 1, 1, 1)
    x = x.reshape(-1, 1, *x.shape[-2:])
    reference = reference.reshape(-1, 1, *reference.shape[-2:])

    def mean(t):
        return F.avg_pool2d(t, win_size, stride=1)

    n = win_size ** 2
    covariance_norm = n / (n - 1)
    mu_x, mu_y = mean(x), mean(reference)
    var_x = covariance_norm * (mean(x * x) - mu_x * mu_x)
    var_y = covariance_norm * (mean(reference * reference) - mu_y * mu_y)
    cov_xy = covariance_norm * (mean(x * reference) - mu_x * mu_y)
    c1, c2 = (k1 * peak) ** 2, (k2 * peak) ** 2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)
             / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2)))
    return index.mean(dim=(-3, -2, -1)).reshape(batch_shape)


def transport_distance(x, reference, eps=1.0, tol=1e-5):
    """Entropic Wasserstein-2 distance in pixels between normalised images.

    ``sqrt(S(x+, r+))`` with ``S`` the debiased Sinkhorn divergence
    (`odl_wasserstein.transport.sinkhorn_divergence`) for the squared
    Euclidean cost in pixel units, ``x+ = max(x, 0)`` normalised to unit
    mass (mass differences are not measured here; compare means for that).

    Parameters
    ----------
    x, reference : array-like, shape ``(..., H, W)``
    eps : float, optional
        Entropic blur in squared pixels (``sqrt(eps)`` pixels).
    tol : float, optional
        Sinkhorn tolerance.

    Returns
    -------
    torch.Tensor
        Shape ``(...)``, in pixels.

    Examples
    --------
    A blob moved by 3 pixels is 3 pixels away:

    >>> y, x = torch.meshgrid(torch.arange(24.0), torch.arange(24.0), indexing='ij')
    >>> blob = torch.exp(-((y - 12) ** 2 + (x - 8) ** 2) / 4)
    >>> moved = torch.exp(-((y - 12) ** 2 + (x - 11) ** 2) / 4)
    >>> round(float(transport_distance(moved, blob)), 2)
    3.0
    """
    from odl_wasserstein.transport import SquaredEuclideanCost, sinkhorn_divergence

    x, reference = _pair(x, reference)
    batch = x.shape[:-2]
    cost = SquaredEuclideanCost(tuple(x.shape[-2:]))
    flat_x = x.clamp_min(0).reshape((-1,) + tuple(x.shape[-2:]))
    flat_r = reference.clamp_min(0).reshape(flat_x.shape)
    divergence = sinkhorn_divergence(flat_x.double(), flat_r.double(), cost, eps,
                                     normalize=True, tol=tol)
    return divergence.clamp_min(0).sqrt().to(x.dtype).reshape(batch)


def sliced_transport_distance(x, reference, n_directions=64):
    r"""Sliced Wasserstein-1 distance in pixels between normalised images.

    For ``n_directions`` equispaced directions ``theta`` in ``[0, pi)``,
    each image's pixel masses are projected onto the line of ``theta`` and
    the exact 1-D transport distance ``int |F(s) - G(s)| ds`` between the
    projections (``F``, ``G`` their cumulative distributions) is taken;
    the result is the mean over directions. The images are ``max(x, 0)``
    normalised to unit mass, so only where mass sits counts, not how much
    there is. Exact, and ``O(n_directions * HW log HW)``, so it suits large
    images where `transport_distance` needs many Sinkhorn iterations.

    A translation by ``d`` pixels gives ``2 d / pi``: the mean of
    ``d |cos(angle)|`` over directions.

    Parameters
    ----------
    x, reference : array-like, shape ``(..., H, W)``
    n_directions : int, optional
        Number of projection directions.

    Returns
    -------
    torch.Tensor
        Shape ``(...)``, in pixels.

    Examples
    --------
    A point moved by 10 pixels:

    >>> point = torch.zeros(32, 32)
    >>> point[5, 5] = 1
    >>> moved = torch.roll(point, 10, dims=0)
    >>> distance = sliced_transport_distance(moved, point, n_directions=360)
    >>> round(float(distance), 2), round(20 / math.pi, 2)
    (6.37, 6.37)
    """
    x, reference = _pair(x, reference)
    if int(n_directions) != n_directions or n_directions < 1:
        raise ValueError(f'`n_directions` must be a positive int, got {n_directions!r}')
    batch, shape = x.shape[:-2], tuple(x.shape[-2:])
    dtype = torch.float64
    masses = []
    for name, image in (('x', x), ('reference', reference)):
        image = image.to(dtype).clamp_min(0).reshape((-1,) + shape).flatten(1)
        total = image.sum(dim=1, keepdim=True)
        if bool((total <= 0).any()):
            raise ValueError(f'`{name}` has no positive mass in some image; the '
                             'transport distance between normalised images needs it')
        masses.append(image / total)
    rows = torch.arange(shape[0], dtype=dtype, device=x.device)
    cols = torch.arange(shape[1], dtype=dtype, device=x.device)
    grid = torch.stack(torch.meshgrid(rows, cols, indexing='ij')).flatten(1)  # (2, HW)
    angles = torch.arange(int(n_directions), dtype=dtype, device=x.device) * (
        math.pi / n_directions)
    directions = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)  # (A, 2)
    positions, order = torch.sort(directions @ grid, dim=1)  # (A, HW)
    gaps = positions.diff(dim=1)  # (A, HW - 1)
    difference = masses[0] - masses[1]  # (B, HW)
    distances = []
    for sorted_order, gap in zip(order, gaps):
        cumulative = difference[:, sorted_order].cumsum(dim=1)[:, :-1]
        distances.append((cumulative.abs() * gap).sum(dim=1))
    result = torch.stack(distances, dim=1).mean(dim=1)
    return result.to(x.dtype).reshape(batch)


def peak_intensity(x, reference, quantile=0.999):
    """High-quantile intensity of ``x`` relative to that of ``reference``.

    1 for an image as peaked as the reference; a smeared image (the MSE
    optimum under misalignment) has a lower value.

    Examples
    --------
    >>> reference = torch.zeros(32, 32)
    >>> reference[10:12, :] = 1
    >>> float(peak_intensity(reference, reference))
    1.0
    >>> smeared = torch.nn.functional.avg_pool2d(reference[None], 5, 1, 2)[0]
    >>> round(float(peak_intensity(smeared, reference)), 2)
    0.4
    """
    x, reference = _pair(x, reference)
    dims_x = x.reshape(x.shape[:-2] + (-1,))
    dims_r = reference.reshape(dims_x.shape)
    return (torch.quantile(dims_x, quantile, dim=-1)
            / torch.quantile(dims_r, quantile, dim=-1))


def sliced_wasserstein(x, y, n_projections=128, p=2, generator=None):
    r"""Sliced Wasserstein-p distance between two sets of samples.

    The samples (images, or any arrays) are points of ``R^d`` with
    ``d = prod(x.shape[1:])``, each set carrying uniform weights. For
    ``n_projections`` random unit directions ``theta``, the exact 1-D
    Wasserstein-p distance between the projected sets is computed by
    matching quantiles (the sets may have different sizes); the result is
    ``(mean_theta W_p^p)^(1/p)``, POT's ``ot.sliced_wasserstein_distance``.
    It compares a generator's samples with real ones without a trained
    feature network (FID needs an Inception model, which is not
    available offline).

    Parameters
    ----------
    x : array-like, shape ``(N, ...)``
    y : array-like, shape ``(M, ...)``, the same trailing shape
    n_projections : int, optional
    p : float, optional
        Order, ``>= 1``.
    generator : torch.Generator, optional
        Source of the directions (CPU); fix it to compare runs.

    Returns
    -------
    torch.Tensor
        Scalar, float64.

    Examples
    --------
    Two sets that differ by a constant vector ``v``: every projection is a
    shift by ``<theta, v>``.

    >>> x = torch.randn(100, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    >>> float(sliced_wasserstein(x, x))
    0.0
    >>> d = sliced_wasserstein(x + 1.0, x, n_projections=4000,
    ...                        generator=torch.Generator().manual_seed(1))
    >>> round(float(d), 1)  # ||v|| / sqrt(d) = 4 / 4 for W2 on average
    1.0
    """
    x, y = to_tensor(x), to_tensor(y)
    if x.ndim < 2 or x.shape[1:] != y.shape[1:]:
        raise ValueError('`x` and `y` must be sample sets (N, ...) and (M, ...) with the '
                         f'same sample shape, got {tuple(x.shape)} and {tuple(y.shape)}')
    if x.shape[0] == 0 or y.shape[0] == 0:
        raise ValueError('`x` and `y` must hold at least one sample each')
    n_projections = check_int(n_projections, 'n_projections', minimum=1)
    if not p >= 1:
        raise ValueError(f'`p` must be >= 1, got {p!r}')
    check_finite(x, 'x')
    check_finite(y, 'y')
    x = x.to(torch.float64).flatten(1)
    y = y.to(device=x.device, dtype=torch.float64).flatten(1)
    directions = torch.randn(x.shape[1], n_projections, generator=generator,
                             dtype=torch.float64)
    directions = (directions / directions.norm(dim=0, keepdim=True)).to(x.device)
    xs = torch.sort(x @ directions, dim=0).values  # (N, P)
    ys = torch.sort(y @ directions, dim=0).values  # (M, P)
    n, m = xs.shape[0], ys.shape[0]
    # Quantile levels in integer units of 1 / (n m), so that the index of
    # each level's quantile is exact integer arithmetic, free of round-off.
    levels = torch.unique(torch.cat([torch.arange(1, n + 1) * m, torch.arange(1, m + 1) * n]))
    widths = torch.diff(levels, prepend=levels.new_zeros(1)).to(torch.float64) / (n * m)
    index_x = ((levels + m - 1) // m - 1).to(x.device)
    index_y = ((levels + n - 1) // n - 1).to(x.device)
    gaps = (xs[index_x] - ys[index_y]).abs() ** p  # (levels, P)
    per_projection = (widths.to(x.device)[:, None] * gaps).sum(dim=0)
    return per_projection.mean() ** (1.0 / p)


def translation_sequence(image, max_shift=None, axis=-2, fill=0.0):
    """Shift an image one pixel at a time, filling what is uncovered.

    Step ``k`` moves every pixel ``k`` positions along ``axis`` (towards
    higher indices: downwards for the default row axis); the ``k`` first
    rows become ``fill`` and the last ``k`` leave the image, as in the
    perturbation experiment of Dukler et al. (2019), section 4.1.

    Parameters
    ----------
    image : array-like, shape ``(C, H, W)`` or ``(C, D, H, W)``
    max_shift : int, optional
        Largest shift; default the image's size along ``axis`` (the image
        has then moved out entirely).
    axis : int, optional
        Spatial axis of the shift (negative: counted from the end).
    fill : float, optional
        Value of the uncovered pixels (the background).

    Returns
    -------
    torch.Tensor, shape ``(max_shift + 1, *image.shape)``
        Shifts ``0, 1, ..., max_shift``.

    Examples
    --------
    >>> image = torch.arange(1.0, 5.0).reshape(1, 4, 1)
    >>> translation_sequence(image, max_shift=2)[:, 0, :, 0]
    tensor([[1., 2., 3., 4.],
            [0., 1., 2., 3.],
            [0., 0., 1., 2.]])
    """
    image = to_tensor(image)
    if image.ndim not in (3, 4):
        raise ValueError('`image` must be one image (C, H, W) or (C, D, H, W), got shape '
                         f'{tuple(image.shape)}')
    if not -image.ndim < axis < image.ndim or axis % image.ndim == 0:
        raise ValueError(f'`axis` must be a spatial axis of an image of shape '
                         f'{tuple(image.shape)} (not the channel axis 0), got {axis!r}')
    axis = axis % image.ndim
    length = image.shape[axis]
    max_shift = length if max_shift is None else check_int(max_shift, 'max_shift')
    frames = [image]
    for shift in range(1, max_shift + 1):
        kept = image.narrow(axis, 0, max(length - shift, 0))
        filler_shape = list(image.shape)
        filler_shape[axis] = min(shift, length)
        filler = torch.full(filler_shape, float(fill), dtype=image.dtype, device=image.device)
        frames.append(torch.cat([filler, kept], dim=axis))
    return torch.stack(frames)


def total_variation_1d(curves, normalize='range'):
    """Total variation ``sum_k |c_{k+1} - c_k|`` of curves, optionally normalised.

    Parameters
    ----------
    curves : array-like, shape ``(..., K)``
    normalize : {'range', None}, optional
        ``'range'`` divides by ``max c - min c``: 1 for a monotone curve, and
        the more a curve oscillates, the larger (0 for a constant curve).

    Returns
    -------
    torch.Tensor, shape ``(...)``

    Examples
    --------
    >>> curves = torch.tensor([[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 0.0, 1.0]])
    >>> total_variation_1d(curves, normalize=None).tolist()
    [3.0, 3.0]
    >>> total_variation_1d(curves).tolist()
    [1.0, 3.0]
    """
    curves = to_tensor(curves)
    if normalize not in ('range', None):
        raise ValueError(f"`normalize` must be 'range' or None, got {normalize!r}")
    variation = curves.diff(dim=-1).abs().sum(dim=-1)
    if normalize is None:
        return variation
    spread = curves.amax(dim=-1) - curves.amin(dim=-1)
    return torch.where(spread > 0, variation / torch.where(spread > 0, spread, 1.0),
                       torch.zeros_like(variation))


def zero_crossings(curves, threshold=0.0):
    """Number of sign changes of ``c - threshold`` along the last axis.

    Values exactly at the threshold are skipped, so a curve that passes
    through it (``+, 0, -``) crosses once and one that touches it
    (``+, 0, +``) does not cross.

    Parameters
    ----------
    curves : array-like, shape ``(..., K)``
    threshold : float or array-like broadcastable to ``(...)``, optional

    Returns
    -------
    torch.Tensor, shape ``(...)``, int64

    Examples
    --------
    >>> zero_crossings(torch.tensor([1.0, -1.0, 2.0, 3.0, -0.5])).item()
    3
    >>> zero_crossings(torch.tensor([1.0, -1.0, 2.0, 3.0, -0.5]), threshold=2.5).item()
    2
    >>> zero_crossings(torch.tensor([[1.0, 0.0, -1.0], [1.0, 0.0, 1.0]])).tolist()
    [1, 0]
    """
    curves = to_tensor(curves)
    centred = curves - torch.as_tensor(threshold, dtype=curves.dtype,
                                       device=curves.device)[..., None]
    signs = torch.sign(centred).reshape(-1, curves.shape[-1])
    counts = []
    for row in signs:
        nonzero = row[row != 0]
        counts.append(int((nonzero[1:] != nonzero[:-1]).sum()))
    return torch.tensor(counts, dtype=torch.int64, device=curves.device).reshape(
        curves.shape[:-1])


def critic_continuity(critic, images, max_shift=None, axis=-2, fill=0.0, threshold=0.0,
                      batch_size=64):
    """Critic values along one-pixel translations of images (Dukler et al. 2019, Table 1).

    Each image is translated one pixel at a time (`translation_sequence`),
    the sequence is fed to the critic, and the resulting curve is measured
    by its normalised total variation (`total_variation_1d` with
    ``'range'``: 1 for a monotone curve) and its number of zero crossings
    about ``threshold`` (`zero_crossings`). A critic that is continuous
    with respect to translations has few crossings and a total variation
    near 1.

    The paper reports "total variation (normalized)" and "zero crossings"
    without defining the normalisation or the level of the crossings; here
    the variation is normalised by each curve's range and the level is a
    parameter. A WGAN critic is defined up to an additive constant, so a
    meaningful level is the critic's decision threshold, e.g. the midpoint
    of its mean values on real and on generated images.

    Parameters
    ----------
    critic : callable
        Maps ``(N, C, ...)`` to one value per sample.
    images : array-like, shape ``(N, C, H, W)`` or ``(N, C, D, H, W)``
    max_shift, axis, fill :
        See `translation_sequence`.
    threshold : float, optional
        Level of the zero crossings.
    batch_size : int, optional
        Images translated and evaluated together.

    Returns
    -------
    dict
        ``'curves'`` ``(N, max_shift + 1)``, ``'total_variation'`` ``(N,)``,
        ``'zero_crossings'`` ``(N,)`` (tensors) and their means
        ``'mean_total_variation'``, ``'mean_zero_crossings'`` (floats).

    Examples
    --------
    A critic that sums the top half of the image decreases monotonically
    as the image moves down:

    >>> critic = lambda x: x[:, :, :4].flatten(1).sum(1) - 2.0
    >>> result = critic_continuity(critic, torch.ones(2, 1, 8, 8))
    >>> result['curves'][0, :5].tolist()
    [30.0, 22.0, 14.0, 6.0, -2.0]
    >>> result['mean_total_variation'], result['mean_zero_crossings']
    (1.0, 1.0)
    """
    images = to_tensor(images)
    if images.ndim not in (4, 5):
        raise ValueError('`images` must be a batch (N, C, H, W) or (N, C, D, H, W), got '
                         f'shape {tuple(images.shape)}')
    if axis >= 0:
        raise ValueError(f'`axis` must count from the end (e.g. -2 for rows), got {axis!r}')
    batch_size = check_int(batch_size, 'batch_size', minimum=1)
    curves = []
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            chunk = images[start:start + batch_size]
            sequences = torch.stack([translation_sequence(image, max_shift, axis, fill)
                                     for image in chunk])  # (B, K, C, ...)
            values = critic_values(critic, sequences.flatten(0, 1))
            curves.append(values.reshape(sequences.shape[:2]).to(torch.float64))
    curves = torch.cat(curves)
    variation = total_variation_1d(curves)
    crossings = zero_crossings(curves, threshold)
    return {'curves': curves, 'total_variation': variation, 'zero_crossings': crossings,
            'mean_total_variation': float(variation.mean()),
            'mean_zero_crossings': float(crossings.to(torch.float64).mean())}
