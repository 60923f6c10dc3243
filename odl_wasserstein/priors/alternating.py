"""Proximal alternating linearised minimisation (PALM) with backtracking, batched.

`palm` minimises ``H(x_1, ..., x_K) + sum_k h_k(x_k)`` over blocks of
variables, ``H`` smooth, ``h_k`` with a proximal map (or zero): each
iteration takes, block after block, one proximal gradient step
``x_k <- prox_{h_k / L_k}(x_k - grad_k H / L_k)`` whose step ``1 / L_k``
is found by backtracking on the descent lemma (Bolte, Sabach and Teboulle
2014). The step rule is the one of Duff et al.'s code: ``L_k`` starts at
1, is divided by 2 after an accepted step and multiplied by 10 after a
rejected trial, at most 60 trials. Every sample of the batch is a problem
of its own with its own ``L_k``: ``H`` returns one value per sample and
samples never interact, so a batch of restarts costs one batched
evaluation of the generator and operator per trial.
"""

import torch

from odl_wasserstein.util import check_int, check_real

__all__ = ('palm',)


def _inner(a, b):
    return (a * b).flatten(1).sum(1)


def _descent_bound(value, grad, step, lipschitz):
    """The descent lemma's upper bound of ``H`` after ``step``, per sample."""
    return value + _inner(grad, step) + 0.5 * lipschitz * step.flatten(1).square().sum(1)


def _per_sample(values, like):
    return values.reshape(-1, *([1] * (like.ndim - 1)))


def _block_step(blocks, k, smooth, prox, penalty, lipschitz, options):
    """One backtracked proximal gradient step of block ``k``, in place.

    Returns the new ``L_k`` and ``H`` at the new point (known from the
    accepted trials, so that recording it costs nothing).
    """
    variable = blocks[k].detach().requires_grad_(True)
    current = [b if j != k else variable for j, b in enumerate(blocks)]
    with torch.enable_grad():
        value = smooth(current, None)
        (grad,) = torch.autograd.grad(value.sum(), variable)
    value, updated = value.detach(), variable.detach().clone()
    reached = value.clone()
    pending = torch.arange(value.shape[0], device=value.device)
    slack = 8 * torch.finfo(value.dtype).eps
    for _ in range(options['max_backtracks']):
        size = lipschitz[pending]
        point = variable.detach()[pending] - grad[pending] / _per_sample(size, grad)
        trial = point if prox is None else prox(point, 1.0 / size, pending)
        others = [b[pending] if j != k else trial for j, b in enumerate(blocks)]
        with torch.no_grad():
            new = smooth([b.detach() for b in others], pending)
        bound = _descent_bound(value[pending], grad[pending],
                               trial - variable.detach()[pending], size)
        accepted = new <= bound + slack * bound.abs()
        if penalty is not None:
            # An inexact proximal map (TV) may not decrease the whole objective.
            before = value[pending] + penalty(variable.detach()[pending], pending)
            after = new + penalty(trial, pending)
            accepted &= after <= before + slack * before.abs()
        updated[pending[accepted]] = trial[accepted]
        reached[pending[accepted]] = new[accepted]
        lipschitz[pending[accepted]] = size[accepted] * options['shrink']
        lipschitz[pending[~accepted]] = size[~accepted] * options['grow']
        pending = pending[~accepted]
        if pending.numel() == 0:
            break
    # A sample without an accepted trial keeps its point: the objective never rises.
    blocks[k] = updated
    return lipschitz, reached


def palm(blocks, smooth, proxes=None, n_iter=200, callback=None, lipschitz=1.0,
         shrink=0.5, grow=10.0, max_backtracks=60, penalties=None):
    """Minimise ``H(blocks) + sum_k h_k(block_k)`` by PALM with backtracking.

    Parameters
    ----------
    blocks : list of torch.Tensor
        Starting points, each ``(B, ...)`` with the same ``B`` (the
        independent problems).
    smooth : callable
        ``smooth(blocks, index)``: ``H`` per sample, ``(len(index),)``,
        differentiable in every block; ``index`` (a tensor of sample
        indices, or None for all) says which samples the given blocks are
        (the problems' data must be selected the same way).
    proxes : list of callable or None, optional
        Per block, ``prox(v, step, index)`` returning
        ``argmin_u 1/2 ||u - v||^2 + step h_k(u)`` per sample (``step``
        ``(len(index),)``), or None for ``h_k = 0``.
    n_iter : int, optional
        Sweeps over the blocks.
    callback : callable, optional
        ``callback(iteration, blocks, value)`` after each sweep, ``value``
        being ``H`` per sample at ``blocks`` (and with 0 and None before
        the first sweep).
    lipschitz, shrink, grow : float, optional
        First ``L_k`` of every block and sample, its factor after an
        accepted and after a rejected trial.
    max_backtracks : int, optional
        Trials per step; a sample that accepts none keeps its point.
    penalties : list of callable or None, optional
        Per block, ``h_k(v, index)`` per sample, or None. Given, a trial
        is accepted only if it also decreases ``H + h_k``: the guard that
        keeps the objective monotone with an inexact proximal map.

    Returns
    -------
    list of torch.Tensor
        The final blocks (detached).

    Examples
    --------
    ``min_x (x - 3)^2 + |x|`` has its minimum at ``x = 2.5``:

    >>> from odl_wasserstein.priors import l1_proximal
    >>> def smooth(blocks, index):
    ...     return (blocks[0] - 3).square().sum(1)
    >>> def prox(v, step, index):
    ...     return l1_proximal(v, step)
    >>> (x,) = palm([torch.zeros(1, 1)], smooth, [prox], n_iter=50)
    >>> round(float(x), 4)
    2.5
    """
    n_iter = check_int(n_iter, 'n_iter', minimum=0)
    options = dict(shrink=check_real(shrink, 'shrink', positive=True, maximum=1),
                   grow=check_real(grow, 'grow', minimum=1, allow_inf=False),
                   max_backtracks=check_int(max_backtracks, 'max_backtracks', minimum=1))
    blocks = [b.detach().clone() for b in blocks]
    proxes = list(proxes or [None] * len(blocks))
    penalties = list(penalties or [None] * len(blocks))
    if not len(proxes) == len(penalties) == len(blocks):
        raise ValueError(f'`proxes` and `penalties` must have one entry per block '
                         f'({len(blocks)}), got {len(proxes)} and {len(penalties)}')
    start = check_real(lipschitz, 'lipschitz', positive=True)
    sizes = [torch.full((blocks[0].shape[0],), start, dtype=blocks[0].dtype,
                        device=blocks[0].device) for _ in blocks]
    if callback is not None:
        callback(0, blocks, None)
    for iteration in range(1, n_iter + 1):
        for k, (prox, penalty) in enumerate(zip(proxes, penalties)):
            sizes[k], value = _block_step(blocks, k, smooth, prox, penalty, sizes[k], options)
        if callback is not None:
            callback(iteration, blocks, value)
    return blocks
