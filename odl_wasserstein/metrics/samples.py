"""Distances between sets of samples, for generative models.

`sliced_wasserstein`: the sliced Wasserstein distance between two sets of
samples (generated and real images), computable offline, unlike FID.
"""

import torch

from odl_wasserstein.util import as_generator, check_finite, check_int, check_real, to_tensor

__all__ = ('sliced_wasserstein',)


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
    generator : torch.Generator or int, optional
        Source (or seed) of the directions (CPU); fix it to compare runs.

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
    p = check_real(p, 'p', minimum=1)
    check_finite(x, 'x')
    check_finite(y, 'y')
    x = x.to(torch.float64).flatten(1)
    y = y.to(device=x.device, dtype=torch.float64).flatten(1)
    directions = torch.randn(x.shape[1], n_projections, generator=as_generator(generator),
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
