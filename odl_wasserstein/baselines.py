"""Classical reconstructions the learned methods are compared with.

- `tv_reconstruction`: total-variation regularised least squares,
  ``min_x ||A x - y||^2 + alpha ||grad x||_{2,1}`` (optionally with
  ``x >= 0``), solved with ODL's primal-dual hybrid gradient method; the TV
  baseline of the learned primal-dual papers (``alpha = 0.26`` with a
  normalised ray transform, 1000 iterations).
- `tikhonov_reconstruction`: Tikhonov-regularised least squares,
  ``min_x ||A x - y||^2 + alpha ||x||^2`` (or ``alpha ||grad x||^2``), by
  conjugate gradients on the normal equations; with TV, the classical
  baseline of Duff et al., "Solving inverse imaging problems with
  generative machine learning models" (tuned weights 0.195 and 0.0488 for
  Tikhonov, 0.0488 and 0.0061 for TV on the shapes images, 1000
  iterations).
- `wavelet_reconstruction`: l1-wavelet compressed sensing,
  ``min_x 1/2 ||A x - y||^2 + alpha ||W x||_1`` with an orthogonal wavelet
  transform ``W`` (ODL's `odl.trafos.WaveletTransform`, PyWavelets), solved
  by FISTA on the wavelet coefficients, for real or complex images; the
  CS-Wavelet baseline of Lei et al., "Wasserstein GANs for MR imaging: from
  paired to unpaired training" (section IV, BART's l1-wavelet, weight 0.05).
- `lasso_reconstruction`: the same problem in the pixel basis, the
  sparse-recovery baseline of Bora et al.'s compressed sensing with
  generative models.
- filtered back-projection is `odl_wasserstein.operators.fbp_operator`.
"""

import math

import numpy as np
import odl
import pywt

from odl_wasserstein.operators.tomo import operator_norm
from odl_wasserstein.util import check_choice, check_int, check_positive, space_weighting

__all__ = ('tv_reconstruction', 'tikhonov_reconstruction', 'wavelet_reconstruction',
           'lasso_reconstruction',
           'orthogonal_wavelet_transform')


def tv_reconstruction(op, data, alpha, n_iter=1000, nonnegative=False,
                      x0=None, callback=None):
    """Total-variation reconstruction with ODL's PDHG solver.

    Parameters
    ----------
    op : `odl.Operator`
        Linear forward operator on a 2D or 3D `odl.DiscretizedSpace`.
    data : ``op.range`` element or array-like
        Measured data.
    alpha : float
        Regularisation weight (> 0).
    n_iter : int, optional
        Number of PDHG iterations.
    nonnegative : bool, optional
        Constrain the solution to ``x >= 0``.
    x0 : ``op.domain`` element, optional
        Starting point; default zero.
    callback : callable, optional
        Called with the iterate after each iteration (ODL solver callback).

    Returns
    -------
    ``op.domain`` element

    Notes
    -----
    Norms are those of the ODL spaces (weighted by cell volumes), as in
    the authors' ODL scripts. On unit pixels (`reconstruction_space`) the
    weights are 1 and the gradient is plain differences, so the objective
    is the plain sums of Duff et al.'s TV baseline. Step sizes ``tau = sigma = 1 / ||L||`` with
    ``L = (A, grad)`` and ``||L||`` estimated by power iteration (x 1.05).

    Examples
    --------
    >>> from odl_wasserstein.operators import (
    ...     fbp_operator, ray_transform, reconstruction_space)
    >>> space = reconstruction_space(32)
    >>> op = ray_transform(space, num_angles=20, normalize=True)
    >>> phantom = odl.core.phantom.shepp_logan(space, modified=True)
    >>> data = op(phantom)
    >>> rec = tv_reconstruction(op, data, alpha=1e-3, n_iter=500)
    >>> fbp = fbp_operator(op)(data)
    >>> def error(x):
    ...     return round(float((x - phantom).norm() / phantom.norm()), 2)
    >>> error(rec), error(fbp)
    (0.23, 0.59)
    """
    alpha = check_positive(alpha, 'alpha')
    n_iter = check_int(n_iter, 'n_iter', minimum=1)
    space = op.domain
    data = op.range.element(data)
    gradient = odl.Gradient(space)
    stacked = odl.BroadcastOperator(op, gradient)
    data_fit = odl.functionals.L2NormSquared(op.range).translated(data)
    regulariser = alpha * odl.functionals.GroupL1Norm(gradient.range)
    g = odl.functionals.SeparableSum(data_fit, regulariser)
    f = (odl.functionals.IndicatorNonnegativity(space) if nonnegative
         else odl.functionals.ZeroFunctional(space))
    step = 1.0 / (1.05 * operator_norm(stacked))
    x = space.zero() if x0 is None else space.element(x0).copy()
    odl.solvers.pdhg(x, f, g, stacked, niter=n_iter, tau=step, sigma=step,
                     callback=callback)
    return x


_TIKHONOV_REGULARISERS = ('identity', 'gradient')


def tikhonov_reconstruction(op, data, alpha, n_iter=1000, x0=None, callback=None,
                            regulariser='identity'):
    r"""Tikhonov reconstruction by conjugate gradients on the normal equations.

    Solves

    .. math::
        \min_x \|A x - y\|^2 + \alpha \|R x\|^2,
        \quad\text{i.e.}\quad (A^* A + \alpha R^* R)\, x = A^* y,

    with :math:`R` the identity (``regulariser='identity'``, Duff et al.'s
    Tikhonov baseline) or ODL's `odl.Gradient` (``'gradient'``, forward
    differences with zero padding, as in `tv_reconstruction`), by
    conjugate gradients stopped at a relative residual of ten machine
    epsilons (ODL's `odl.solvers.conjugate_gradient` has no such stop and
    overflows after convergence in single precision).

    Parameters
    ----------
    op : `odl.Operator`
        Linear forward operator with an adjoint, on an
        `odl.DiscretizedSpace`.
    data : ``op.range`` element or array-like
        Measured data.
    alpha : float
        Regularisation weight (> 0).
    n_iter : int, optional
        Number of conjugate-gradient iterations (CG stops early when the
        residual vanishes).
    x0 : ``op.domain`` element, optional
        Starting point; default zero.
    callback : callable, optional
        Called with the iterate after each iteration (ODL solver callback).
    regulariser : {'identity', 'gradient'}, optional
        The operator :math:`R`.

    Returns
    -------
    ``op.domain`` element

    Notes
    -----
    Norms are those of the ODL spaces, as in `tv_reconstruction` and Duff
    et al.'s ODL scripts: :math:`\|u\|^2 = w \sum_i u_i^2` with
    :math:`w` the space's cell volume (1 for ``odl.rn``). On unit pixels
    (``reconstruction_space(56)``, the authors' 56 x 56 space on
    ``[-28, 28]^2``) every weight is 1 and the objective is the plain sums
    of the paper, ``sum (Ax - y)_i^2 + alpha sum x_j^2``; on a space of
    cell volume :math:`w` with data in ``rn(m)`` it is
    ``sum (Ax - y)_i^2 + alpha w sum x_j^2``. ODL's gradient divides the
    differences by the cell side, so on unit pixels it is plain
    differences too.

    Examples
    --------
    With ``A = I`` the solution is ``y / (1 + alpha)``:

    >>> space = odl.uniform_discr([0, 0], [4, 4], (4, 4))
    >>> y = space.element(np.full((4, 4), 3.0))
    >>> x = tikhonov_reconstruction(odl.IdentityOperator(space), y, alpha=0.5)
    >>> float(x.data[0, 0])
    2.0

    Duff et al.'s compressed-sensing set-up (140 measurements of 56 x 56
    unit pixels, operator of norm 1) with their tuned weight; the
    solution fits the data and is small, as the weights say:

    >>> from odl_wasserstein.operators import paper_operator, reconstruction_space
    >>> space = reconstruction_space(56)
    >>> op = paper_operator('compressed_sensing', space)
    >>> image = odl.core.phantom.shepp_logan(space, modified=True)
    >>> rec = tikhonov_reconstruction(op, op(image), alpha=0.195, n_iter=100)
    >>> def size(x):
    ...     return round(float(x.norm()), 2)
    >>> size(op(rec) - op(image)) < size(op(image)), size(rec) < size(image)
    (True, True)
    """
    alpha = check_positive(alpha, 'alpha')
    n_iter = check_int(n_iter, 'n_iter', minimum=1)
    check_choice(regulariser, 'regulariser', _TIKHONOV_REGULARISERS)
    space = op.domain
    if not isinstance(space, odl.DiscretizedSpace):
        raise TypeError(f'`op.domain` must be an `odl.DiscretizedSpace` (e.g. from '
                        f'`reconstruction_space`), got {space!r}')
    data = op.range.element(data)
    if regulariser == 'identity':
        penalty = odl.IdentityOperator(space)
    else:
        gradient = odl.Gradient(space)
        penalty = gradient.adjoint @ gradient
    normal = op.adjoint @ op + alpha * penalty
    x = space.zero() if x0 is None else space.element(x0).copy()
    _conjugate_gradient(normal, x, op.adjoint(data), n_iter, callback)
    return x


def _conjugate_gradient(op, x, rhs, n_iter, callback=None, rtol=None):
    """Conjugate gradients for ``op x = rhs`` in place, stopped at a relative residual.

    ODL 1.0's `odl.solvers.conjugate_gradient` stops only at an exactly
    zero residual or step. In single precision, and with ASTRA's
    projector pair (adjoint to 4e-6, not exactly), the iteration goes on
    after convergence, loses conjugacy and overflows (a 30-angle ray
    transform at 56 x 56 gives inf within 300 iterations). Here it stops
    once ``||r|| <= rtol ||rhs||`` (``rtol`` default ten times the dtype's
    machine epsilon) or when ``op`` stops looking positive definite.
    """
    if rtol is None:
        rtol = 10 * float(np.finfo(x.dtype_identifier).eps)
    r = rhs - op(x)
    p = r.copy()
    residual = r.norm() ** 2
    stop = (rtol * rhs.norm()) ** 2
    for _ in range(n_iter):
        if residual <= stop:
            return
        d = op(p)
        curvature = p.inner(d)
        if not curvature > 0:
            return
        step = residual / curvature
        x.lincomb(1, x, step, p)
        r.lincomb(1, r, -step, d)
        residual, previous = r.norm() ** 2, residual
        p.lincomb(1, r, residual / previous, p)
        if callback is not None:
            callback(x)


def _periodized_levels(shape):
    """The most levels for which every side stays even: ``2**levels`` divides it."""
    return min((side & -side).bit_length() - 1 for side in shape)


def orthogonal_wavelet_transform(space, wavelet='db4', nlevels=None):
    """ODL's wavelet transform, made orthogonal: orthogonal wavelet, periodization.

    With an orthogonal wavelet and PyWavelets' ``'periodization'`` mode
    (ODL's ``pad_mode='pywt_periodic'``), and every side of the image
    divisible by ``2**nlevels``, the coefficients are an orthonormal basis
    expansion of the pixel array: ``W`` is square, ``W^-1 = W^T``, and ODL's
    ``W.adjoint`` (``W^-1`` divided by the cell volume) is exact. In ODL 1.0
    the other padding modes and other sizes give more coefficients than
    pixels, and ``W.adjoint`` is then silently wrong.

    Parameters
    ----------
    space : `odl.DiscretizedSpace`
        Real or complex image space (complex images are transformed as real
        and imaginary parts).
    wavelet : str or `pywt.Wavelet`, optional
        An orthogonal wavelet: ``'haar'``, ``'dbN'``, ``'symN'``, ``'coifN'``.
    nlevels : int, optional
        Number of decomposition levels; default the most that PyWavelets
        allows for the wavelet's length and that keep the transform square.

    Returns
    -------
    `odl.trafos.WaveletTransform`
        From ``space`` to coefficient vectors of ``space.size`` entries.

    Examples
    --------
    >>> space = odl.uniform_discr([0, 0], [1, 1], (16, 16))
    >>> transform = orthogonal_wavelet_transform(space, 'haar')
    >>> transform.nlevels, transform.range.size
    (4, 256)
    >>> x = space.element(np.arange(256.0).reshape(16, 16))
    >>> bool(np.isclose(transform(x).norm(), float(np.linalg.norm(x.data))))
    True
    """
    if not isinstance(space, odl.DiscretizedSpace):
        raise TypeError(f'`space` must be an `odl.DiscretizedSpace` (e.g. from '
                        f'`odl.uniform_discr`), got {type(space).__name__}')
    nlevels = check_int(nlevels, 'nlevels', minimum=1, allow_none=True)
    try:
        wavelet = wavelet if isinstance(wavelet, pywt.Wavelet) else pywt.Wavelet(wavelet)
    except (ValueError, TypeError) as err:
        raise ValueError(f'`wavelet` must name a PyWavelets wavelet such as \'db4\' or '
                         f'\'haar\' ({err})') from None
    if not wavelet.orthogonal:
        raise ValueError(f'`wavelet` must be orthogonal (haar, dbN, symN, coifN), got '
                         f'{wavelet.name!r}; the l1 proximal step needs W^-1 = W^T')
    most = _periodized_levels(space.shape)
    if most == 0:
        raise ValueError(f'the image shape {space.shape} has an odd side; an orthogonal '
                         'wavelet transform needs even sides, so crop or pad the images')
    if nlevels is None:
        nlevels = max(1, min(most, pywt.dwtn_max_level(space.shape, wavelet)))
    elif nlevels > most:
        raise ValueError(f'`nlevels` {nlevels} needs sides divisible by {2 ** nlevels}, '
                         f'got shape {space.shape}; pass `nlevels` <= {most}')
    # ODL 1.0 names PyWavelets' 'periodization' 'pywt_periodic' (its docstring
    # says 'pywt_per', which it refuses).
    return odl.trafos.WaveletTransform(space, wavelet, nlevels, pad_mode='pywt_periodic')


def _fista(coefficients, proximal, gradient, step, n_iter, callback=None):
    """FISTA (Beck and Teboulle 2009) in place on ``coefficients``.

    ODL 1.0's `odl.solvers.accelerated_proximal_gradient` multiplies ODL
    elements by NumPy scalars, which raises in ODL 1.0, so the loop is here.
    """
    momentum_point, previous = coefficients.copy(), coefficients.copy()
    t = 1.0
    for _ in range(n_iter):
        previous.assign(coefficients)
        proximal(momentum_point - step * gradient(momentum_point), out=coefficients)
        t, t_previous = (1 + math.sqrt(1 + 4 * t * t)) / 2, t
        beta = (t_previous - 1) / t
        momentum_point.lincomb(1 + beta, coefficients, -beta, previous)
        if callback is not None:
            callback(coefficients)


def wavelet_reconstruction(op, data, alpha, wavelet='db4', nlevels=None, n_iter=200,
                           x0=None, callback=None):
    r"""l1-wavelet compressed-sensing reconstruction by FISTA.

    Solves

    .. math::
        \min_x \frac{1}{2} \sum_i |(A x)_i - y_i|^2 + \alpha \sum_j |(W x)_j|

    for real or complex images, ``W`` an orthogonal wavelet transform
    (`orthogonal_wavelet_transform`): FISTA on the coefficients
    ``c = W x``, whose proximal step is the soft-threshold of the modulus,
    ``c -> max(|c| - t alpha, 0) c / |c|``, then ``x = W^-1 c``. All
    coefficients, the coarsest approximation included, are penalised.

    Parameters
    ----------
    op : `odl.Operator`
        Linear forward operator on a real or complex `odl.DiscretizedSpace`
        whose sides are even (e.g. `odl_wasserstein.operators.MRIForward`);
        domain and range with constant weightings.
    data : ``op.range`` element or array-like
        Measured data.
    alpha : float
        Regularisation weight (> 0), in the units of the sums above.
    wavelet : str or `pywt.Wavelet`, optional
        Orthogonal wavelet.
    nlevels : int, optional
        Decomposition levels; default the most that keep ``W`` orthogonal.
    n_iter : int, optional
        Number of FISTA iterations.
    x0 : ``op.domain`` element, optional
        Starting point; default zero.
    callback : callable, optional
        Called with the image iterate after each iteration.

    Returns
    -------
    ``op.domain`` element

    Notes
    -----
    The sums are over array entries, as BART and SigPy state this problem,
    so ``alpha`` does not depend on the physical size of the image (ODL's
    weighted norms cancel: the data term is the squared ``op.range`` norm
    divided by its weighting). This differs from `tv_reconstruction`,
    which keeps ODL's norms as the learned primal-dual authors' scripts do.
    The step is ``1 / (1.05 L)`` with ``L = ||A||^2`` (entrywise), ``||A||``
    estimated by power iteration; ``L = 1`` for `MRIForward` with a 0/1
    mask and no coils.

    Lei et al.'s baseline is BART's l1-wavelet with weight 0.05; BART
    rescales the data by its own estimate before solving and uses randomly
    shifted Daubechies wavelets, so its 0.05 is not this ``alpha``: tune
    ``alpha`` on a validation set as they did.
    The transform runs in PyWavelets on the CPU (through NumPy).

    References
    ----------
    Beck, A. and Teboulle, M. "A fast iterative shrinkage-thresholding
    algorithm for linear inverse problems." SIAM J. Imaging Sci. 2 (2009).
    https://doi.org/10.1137/080716542

    Examples
    --------
    With ``A = I`` the solution is ``W^-1 soft(W y, alpha)``; a constant
    image has a single Haar coefficient, ``4 * 8 = 32`` here, so
    ``alpha = 16`` halves it:

    >>> space = odl.uniform_discr([0, 0], [1, 1], (8, 8), dtype='complex128')
    >>> y = space.element(np.full((8, 8), 4 + 0j))
    >>> x = wavelet_reconstruction(odl.IdentityOperator(space), y, alpha=16,
    ...                            wavelet='haar', n_iter=100)
    >>> np.round(x.data[0, :3], 6)
    array([ 2.+0.j,  2.+0.j,  2.+0.j])
    """
    _check_l1_problem(op, alpha, n_iter)
    transform = orthogonal_wavelet_transform(op.domain, wavelet, nlevels)
    return _l1_synthesis_fista(op, transform, data, alpha, n_iter, x0, callback)


def lasso_reconstruction(op, data, alpha, n_iter=200, x0=None, callback=None):
    r"""The Lasso in the pixel basis by FISTA: the sparse-recovery baseline of Bora et al.

    Solves

    .. math::
        \min_x \frac{1}{2} \sum_i |(A x)_i - y_i|^2 + \alpha \sum_j |x_j|,

    sums over array entries as in `wavelet_reconstruction` (the same
    solver, with the pixels as the coefficients), whatever the cell
    volume. Bora et al. ("Compressed sensing using generative models",
    ICML 2017) compare their latent search on MNIST with this Lasso.

    Parameters
    ----------
    op : `odl.Operator`
        Linear forward operator on a real or complex `odl.DiscretizedSpace`,
        domain and range with constant weightings.
    data : ``op.range`` element or array-like
    alpha : float
        Weight of the l1 term (> 0).
    n_iter : int, optional
        FISTA iterations.
    x0 : ``op.domain`` element, optional
    callback : callable, optional
        Called with the image iterate after each iteration.

    Returns
    -------
    ``op.domain`` element

    Examples
    --------
    With ``A = I`` the solution is the soft threshold of the data:

    >>> space = odl.uniform_discr(0, 4, 4)
    >>> x = lasso_reconstruction(odl.IdentityOperator(space), [3.0, -0.5, 0.2, -2.0],
    ...                          alpha=1.0, n_iter=100)
    >>> np.round(x.data, 6)
    array([ 2.,  0.,  0., -1.])
    """
    _check_l1_problem(op, alpha, n_iter)
    return _l1_synthesis_fista(op, odl.FlatteningOperator(op.domain), data, alpha, n_iter,
                               x0, callback)


def _check_l1_problem(op, alpha, n_iter):
    check_positive(alpha, 'alpha')
    check_int(n_iter, 'n_iter', minimum=1)
    if not isinstance(op.domain, odl.DiscretizedSpace):
        raise TypeError(f'`op.domain` must be an `odl.DiscretizedSpace` (e.g. from '
                        f'`odl.uniform_discr`), got {op.domain!r}')


def _l1_synthesis_fista(op, transform, data, alpha, n_iter, x0, callback):
    """FISTA on the coefficients of an orthonormal ``transform`` (plain l1 and l2 sums)."""
    synthesis = transform.inverse
    data = op.range.element(data)
    range_weight = space_weighting(op.range)
    # ||.||^2 / weight is the plain sum of squares whatever the cell volume.
    data_fit = (0.5 / range_weight) * odl.functionals.L2NormSquared(op.range).translated(data)
    smooth = data_fit @ (op @ synthesis)
    regulariser = alpha * odl.functionals.L1Norm(transform.range)
    step = 1.0 / (1.05 * _lipschitz_constant(op))
    coefficients = (transform.range.zero() if x0 is None
                    else transform(op.domain.element(x0)))
    report = None if callback is None else (lambda c: callback(synthesis(c)))
    _fista(coefficients, regulariser.proximal(step), smooth.gradient, step, n_iter,
           report)
    return synthesis(coefficients)


def _lipschitz_constant(op):
    """``||A||^2`` with entrywise (unweighted) norms: the gradient's Lipschitz constant."""
    weights = space_weighting(op.domain) / space_weighting(op.range)
    return operator_norm(op) ** 2 * weights
