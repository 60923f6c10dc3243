r"""Stable application of Gibbs kernels ``K = exp(-C / eps)`` in the log domain.

Every Sinkhorn step applies ``K`` (or ``K^T``) to ``w * exp(s)`` with
non-negative weights ``w`` (a measure) and log-scalings ``s`` (a dual
potential over ``eps``) and needs the logarithm of the result:

.. math::
    \mathrm{out}_i = \log \sum_j K_{ij}\, w_j\, e^{s_j}.

An *engine* computes this for one cost, eps and boundary mode; every
engine follows the protocol `KernelEngine` (a ``name``, the call, and
``unresolved``), and `choose_engine` picks one:

- `FFTEngine`: any translation-invariant cost, by FFT convolution in
  ``O(n log n)``; the kernel is applied to ``w * exp(s - M)`` with a
  per-sample shift ``M``, and results below the FFT's round-off floor
  (``1e-6`` of the maximum in float32, ``1e-14`` in float64) are clamped
  there, so nothing overflows or becomes NaN; accuracy is limited where
  mass must travel over costs above about ``14 eps`` (float32) or
  ``32 eps`` (float64).
- `SeparableEngine`: costs ``sum_a h(d_a)``, exactly in the log domain with
  one log-sum-exp per axis (``O(n * n_a)`` per axis); stable for any eps.
- `DenseEngine`: any cost, exactly in the log domain with the dense cost
  matrix (``O(n^2)`` memory), for small grids; stable for any eps.

`log_apply` wraps an engine in an autograd function whose backward pass is
again a stable kernel application, ``dL/dw_j = e^{s_j} (K^T (u e^{-out}))_j``,
so gradients are finite and correct also at pixels without mass (where
autograd through ``log w`` would give ``0 * inf``).
"""

import math
import typing
import weakref

import torch

from odl_wasserstein.fft import FFTConvolution

__all__ = ('KernelEngine', 'FFTEngine', 'SeparableEngine', 'DenseEngine', 'choose_engine',
           'log_apply', 'ENGINES', 'FFT_FLOOR', 'FFT_RANGE', 'FLOAT32_TOL')

ENGINES = ('auto', 'fft', 'separable', 'dense')
"""The values of ``method``: an engine's name, or ``'auto'`` (see `choose_engine`)."""
#: Relative round-off floor of FFT convolutions per working precision.
FFT_FLOOR = {torch.float32: 1e-6, torch.float64: 1e-14}
#: Largest ``max C / eps`` the FFT resolves at float32 / float64 round-off.
FFT_RANGE = {torch.float32: 13.0, torch.float64: 32.0}
#: Smallest tolerance that float32 FFTs reach; tighter runs use float64 FFTs.
FLOAT32_TOL = 1e-4


class KernelEngine(typing.Protocol):
    """What a kernel engine provides (`FFTEngine`, `SeparableEngine`, `DenseEngine`).

    Attributes
    ----------
    name : str
        ``'fft'``, ``'separable'`` or ``'dense'``.
    """

    name: str

    def __call__(self, w, s, transpose=False, kind='K', clamp=True):
        """``log sum_j K_ij w_j exp(s_j)`` (``K^T`` if ``transpose``; ``C * K`` for
        ``kind='KC'``) for weights ``w >= 0`` and log-scalings ``s`` of shape
        ``(B, *shape)``; ``clamp=False`` returns ``-inf`` instead of a round-off
        floor (engines without one ignore it)."""

    def unresolved(self, out):
        """Mask of the results of a call that sit at the engine's round-off floor."""

#: Elements per chunk of the log-domain engines (bounds their memory).
_CHUNK_ELEMENTS = 2 ** 24


class _LogWeights:
    """``log w`` with ``-inf`` where ``w == 0``, cached for the last weights.

    The weights of a Sinkhorn run (the two measures) are the same at every
    iteration; caching saves two elementwise passes per kernel application.
    """

    def __init__(self, size=4):
        self._entries, self._size = [], size

    def __call__(self, w):
        # Identity (not the storage address, which the allocator reuses)
        # and the in-place version counter identify the weights.
        for ref, version, value in self._entries:
            if ref() is w and version == w._version:
                return value
        value = torch.where(w > 0, torch.log(w.clamp_min(torch.finfo(w.dtype).tiny)),
                            torch.full_like(w, -math.inf))
        self._entries = [(weakref.ref(w), w._version, value)] + self._entries[:self._size - 1]
        return value


def _sample_dims(x, ndim):
    return tuple(range(x.ndim - ndim, x.ndim))


class FFTEngine:
    """Kernel application by FFT convolution (any translation-invariant cost).

    Parameters
    ----------
    cost : `odl_wasserstein.transport.costs.GridCost`
    eps : float
        Entropic regularisation, in the units of the cost.
    boundary : {'zero', 'periodic'}
    work_dtype : torch.dtype
        Precision of the FFTs (float32 or float64).
    """

    name = 'fft'

    def __init__(self, cost, eps, boundary, work_dtype):
        self.cost, self.eps, self.boundary = cost, float(eps), boundary
        self.work_dtype = work_dtype
        self.floor = FFT_FLOOR[work_dtype]
        c = cost.kernel_cost(boundary, torch.float64)
        gibbs = torch.exp(-c / self.eps)
        self._conv = {
            'K': FFTConvolution(gibbs.to(work_dtype), cost.shape, boundary),
            'KC': FFTConvolution((c * gibbs).to(work_dtype), cost.shape, boundary),
        }
        self._log_weights = _LogWeights()

    def __call__(self, w, s, transpose=False, kind='K', clamp=True):
        # Forward only (see `log_apply`): temporaries are updated in place.
        # ``clamp=False`` returns -inf (an exact zero) below the round-off
        # floor instead of the floor itself: backward passes need that, since
        # raising a negligible sum to the floor at a pixel with a large
        # potential would multiply it by e^(potential / eps) and overflow.
        dims = _sample_dims(s, self.cost.ndim)
        t = s + self._log_weights(w)
        shift = t.amax(dim=dims, keepdim=True)
        # Samples without weights (e.g. in the backward pass) give zeros.
        shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
        x = t.sub_(shift).exp_()  # = w exp(s - shift) <= 1
        conv = self._conv[kind]
        z = (conv.transpose if transpose else conv)(x.to(self.work_dtype))
        # Values below the round-off floor are noise (possibly negative).
        top = z.amax(dim=dims, keepdim=True).clamp_min_(torch.finfo(z.dtype).tiny)
        floor = top.mul_(self.floor)
        if clamp:
            z = torch.maximum(z, floor, out=z)
        else:
            z = z.masked_fill_(z <= floor, 0.0)
        return z.log_().to(s.dtype).add_(shift)

    def unresolved(self, out):
        """Mask of results clamped at the round-off floor (per sample)."""
        dims = _sample_dims(out, self.cost.ndim)
        top = out.amax(dim=dims, keepdim=True)
        return out <= top + math.log(self.floor) + 1e-3


class _LogDomainEngine:
    """Shared chunked log-sum-exp machinery of the exact engines."""

    def __init__(self):
        self._log_weights = _LogWeights()

    def unresolved(self, out):
        """Exact engines resolve every value."""
        return torch.zeros_like(out, dtype=torch.bool)

    def _lse_last(self, t, log_matrix):
        """``log sum_j exp(t[..., j] + log_matrix[i, j])`` over the last axis."""
        n_out, n_in = log_matrix.shape
        rows = max(1, _CHUNK_ELEMENTS // max(n_out * n_in, 1))
        flat = t.reshape(-1, n_in)
        out = torch.empty(flat.shape[0], n_out, dtype=t.dtype, device=t.device)
        for start in range(0, flat.shape[0], rows):
            block = flat[start:start + rows]
            out[start:start + rows] = torch.logsumexp(
                block[:, None, :] + log_matrix[None], dim=-1)
        return out.reshape(t.shape[:-1] + (n_out,))


class SeparableEngine(_LogDomainEngine):
    """Exact log-domain kernel application for separable costs.

    ``K_ij = prod_a exp(-h(d_a) / eps)``: one log-sum-exp per axis with the
    ``n_a x n_a`` matrix of that axis.
    """

    name = 'separable'

    def __init__(self, cost, eps, boundary, dtype, device):
        if not cost.separable:
            raise ValueError(f'{cost!r} is not separable')
        super().__init__()
        self.cost, self.eps, self.boundary = cost, float(eps), boundary
        self._axis_costs = []
        for axis, n in enumerate(cost.shape):
            kernel = cost.axis_kernel_cost(axis, boundary, torch.float64)
            i = torch.arange(n)
            m = i[:, None] - i[None, :]
            if boundary == 'periodic':
                m = (m + n // 2) % n - n // 2
            matrix = kernel[kernel.shape[0] // 2 + m]  # C[i, j] = h(x_j - x_i)
            self._axis_costs.append(matrix.to(device=device, dtype=dtype))

    def _axis_log_matrix(self, axis, transpose, weighted):
        c = self._axis_costs[axis]
        c = c.T if transpose else c
        log_matrix = -c / self.eps
        if weighted:
            log_matrix = log_matrix + torch.log(c)  # log 0 = -inf: zero cost
        return log_matrix

    def _apply_axes(self, t, transpose, weighted_axis):
        ndim = self.cost.ndim
        for axis in range(ndim):
            moved = t.movedim(t.ndim - ndim + axis, -1)
            log_matrix = self._axis_log_matrix(axis, transpose, axis == weighted_axis)
            t = self._lse_last(moved, log_matrix).movedim(-1, t.ndim - ndim + axis)
        return t

    def __call__(self, w, s, transpose=False, kind='K', clamp=True):
        t = s + self._log_weights(w)
        if kind == 'K':
            return self._apply_axes(t, transpose, None)
        # C = sum_a C_a: one pass per axis with that axis weighted by C_a.
        terms = [self._apply_axes(t, transpose, a) for a in range(self.cost.ndim)]
        return torch.logsumexp(torch.stack(terms), dim=0)


class DenseEngine(_LogDomainEngine):
    """Exact log-domain kernel application with the dense cost matrix."""

    name = 'dense'

    def __init__(self, cost, eps, boundary, dtype, device):
        super().__init__()
        self.cost, self.eps, self.boundary = cost, float(eps), boundary
        c = cost.matrix(boundary, dtype, device)
        self._log_matrix = {'K': -c / self.eps}
        self._log_matrix['KC'] = self._log_matrix['K'] + torch.log(c)

    def __call__(self, w, s, transpose=False, kind='K', clamp=True):
        ndim = self.cost.ndim
        batch = s.shape[:s.ndim - ndim]
        log_matrix = self._log_matrix[kind]
        t = (s + self._log_weights(w)).reshape(batch + (-1,))
        return self._lse_last(t, log_matrix.T if transpose else log_matrix
                              ).reshape(s.shape)


class _LogApply(torch.autograd.Function):
    """``log K(w e^s)`` with the stable backward of the module docstring."""

    @staticmethod
    def forward(ctx, w, s, engine, transpose, kind):
        with torch.no_grad():
            out = engine(w, s, transpose, kind)
        ctx.engine, ctx.transpose, ctx.kind = engine, transpose, kind
        ctx.save_for_backward(w, s, out)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        w, s, out = ctx.saved_tensors
        engine = ctx.engine
        grad_w = torch.zeros_like(s)
        # Sums clamped at the round-off floor do not depend on the input.
        grad_out = grad_out.masked_fill(engine.unresolved(out), 0.0)
        # K^T (u e^{-out}) for the signed upstream gradient u, split by sign
        # so that every kernel application has non-negative weights.
        for sign, part in ((1.0, grad_out.clamp_min(0)), (-1.0, (-grad_out).clamp_min(0))):
            if bool((part > 0).any()):
                back = engine(part, -out, not ctx.transpose, ctx.kind, clamp=False)
                grad_w = grad_w + sign * torch.exp(s + back)
        grad_s = w * grad_w
        return (grad_w if ctx.needs_input_grad[0] else None,
                grad_s if ctx.needs_input_grad[1] else None, None, None, None)


def choose_engine(cost, eps, boundary='zero', method='auto', dtype=torch.float64,
                  device='cpu', tol=None):
    """The engine ``method`` names, or the one ``'auto'`` picks.

    ``'auto'`` takes the FFT engine whenever the whole kernel is resolvable
    at FFT precision (``max C / eps <= FFT_RANGE``), else the exact
    separable engine for separable costs, else the FFT engine in float64
    (which clamps what it cannot resolve and says so through
    ``unresolved``). FFTs run in float32 only for float32 data whose kernel
    float32 resolves and whose tolerance ``tol`` (None: a fixed number of
    iterations) float32 can reach.

    Parameters
    ----------
    cost : `odl_wasserstein.transport.costs.GridCost`
    eps : float
    boundary : {'zero', 'periodic'}, optional
    method : {'auto', 'fft', 'separable', 'dense'}, optional
    dtype : torch.dtype, optional
        Precision of the data.
    device : str or torch.device, optional
    tol : float, optional

    Returns
    -------
    `KernelEngine`

    Examples
    --------
    >>> from odl_wasserstein.transport.costs import SquaredEuclideanCost
    >>> cost = SquaredEuclideanCost((16, 16))
    >>> cost = cost / cost.max_value()
    >>> choose_engine(cost, 0.1).name, choose_engine(cost, 1e-3).name
    ('fft', 'separable')
    """
    ratio = cost.max_value(boundary) / eps
    if method == 'auto':
        method = ('separable' if cost.separable and ratio > FFT_RANGE[torch.float64]
                  else 'fft')
    if method == 'fft':
        single = (dtype == torch.float32 and ratio <= FFT_RANGE[torch.float32]
                  and (tol is None or tol >= FLOAT32_TOL))
        return FFTEngine(cost, eps, boundary, torch.float32 if single else torch.float64)
    if method == 'separable':
        if not cost.separable:
            raise ValueError(f"method='separable' needs a separable cost, got {cost!r}; "
                             "use method='auto', 'fft' or 'dense'")
        return SeparableEngine(cost, eps, boundary, dtype, device)
    if method == 'dense':
        return DenseEngine(cost, eps, boundary, dtype, device)
    raise ValueError(f'`method` must be one of {ENGINES}, got {method!r}')


def log_apply(engine, w, s, transpose=False, kind='K'):
    """Differentiable ``log sum_j K_ij w_j exp(s_j)`` (``K^T`` if ``transpose``).

    Parameters
    ----------
    engine : `FFTEngine`, `SeparableEngine` or `DenseEngine`
    w : torch.Tensor
        Non-negative weights ``(B, *shape)``.
    s : torch.Tensor
        Log-scalings ``(B, *shape)``.
    transpose : bool, optional
        Apply ``K^T``.
    kind : {'K', 'KC'}, optional
        ``'KC'`` applies the cost-weighted kernel ``C * K`` (for ``<C, P>``).

    Returns
    -------
    torch.Tensor
        ``(B, *shape)``.

    Examples
    --------
    >>> from odl_wasserstein.transport.costs import SquaredEuclideanCost
    >>> cost = SquaredEuclideanCost((5,))
    >>> dense = DenseEngine(cost, 0.5, 'zero', torch.float64, 'cpu')
    >>> separable = SeparableEngine(cost, 0.5, 'zero', torch.float64, 'cpu')
    >>> w = torch.tensor([[0.0, 1.0, 0.0, 2.0, 0.0]], dtype=torch.float64)
    >>> s = torch.zeros_like(w)
    >>> bool(torch.allclose(log_apply(dense, w, s), log_apply(separable, w, s)))
    True
    """
    if torch.is_grad_enabled() and (w.requires_grad or s.requires_grad):
        return _LogApply.apply(w, s, engine, transpose, kind)
    with torch.no_grad():
        return engine(w, s, transpose, kind)
