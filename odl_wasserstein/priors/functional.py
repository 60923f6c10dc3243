r"""The soft generative regulariser as an ODL functional.

`GenerativeRegulariser` is the ``x``-part of the soft formulation of Duff
et al. (REFERENCE_SETTINGS section 6),

.. math::
    R(x) = \min_z \; l\, m \|z\|^2 + l \|G(z) - x\|^2,

on an `odl.DiscretizedSpace` (``\|\cdot\|`` its norm, the cell-volume
weighted one; on unit pixels the plain sums of `latent_search`). Its value
solves the inner problem with `latent_search` (the hard form with the
identity operator scaled by the cell volume), warm-started from the last
solution; its gradient is Danskin's, ``\nabla R(x) = 2 l (x - G(z^*(x)))``
in ODL's inner product. It drops into ODL's smooth solvers next to a data
term, e.g. ``odl.solvers.steepest_descent`` on
``L2NormSquared.translated(y) @ A + R``, or as the smooth part of
``odl.solvers.proximal_gradient``.
"""

import math

import odl
import torch

from odl_wasserstein.priors.search import latent_dimension, latent_search
from odl_wasserstein.util import check_int, check_real, space_weighting, to_element, to_tensor

__all__ = ('GenerativeRegulariser',)


class _ScaledIdentity(torch.nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return self.scale * x


class GenerativeRegulariser(odl.functionals.Functional):
    """``R(x) = min_z l m ||z||^2 + l ||G(z) - x||^2``, value and gradient.

    Parameters
    ----------
    space : `odl.DiscretizedSpace`
        Real image space; ``G``'s images ``(1, 1, *space.shape)``.
    generator : torch.nn.Module
        ``G``: ``(N, latent_dim)`` -> ``(N, 1, *space.shape)``.
    weight, latent_weight : float, optional
        ``l`` and ``m`` (Duff et al.'s shapes-VAE soft values, 0.39 and
        0.625, by default).
    n_iter, restarts : int, optional
        Iterations and restarts of each inner search (restarts only for
        the first one; later ones start from the previous ``z^*``).
    optimizer : {'palm', 'adam', 'lbfgs'}, optional
    seed : int, optional
        Seed of the first inner search's starts.

    Attributes
    ----------
    latent : torch.Tensor
        ``z^*`` of the last evaluation, ``(latent_dim,)`` (None before).

    Notes
    -----
    The inner problem is non-convex, so ``R`` is evaluated at a local
    minimiser; the value and the gradient at one ``x`` use the same
    ``z^*`` (solved once per point). ``R`` is not convex and has no
    proximal map here.

    Examples
    --------
    With a linear generator onto the first two pixels of three, ``R``
    penalises the third pixel: ``R(x) ~ l x_3^2``, gradient ``2 l x_3``.

    >>> space = odl.uniform_discr(0, 3, 3)
    >>> G = torch.nn.Sequential(torch.nn.Linear(2, 3, bias=False),
    ...                         torch.nn.Unflatten(1, (1, 3)))
    >>> with torch.no_grad():
    ...     _ = G[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
    >>> R = GenerativeRegulariser(space, G, weight=0.5, latent_weight=1e-8, latent_dim=2)
    >>> x = space.element([1.0, 2.0, 3.0])
    >>> round(R(x), 4)
    4.5
    >>> [round(float(v), 4) for v in R.gradient(x)]
    [0.0, 0.0, 3.0]
    """

    def __init__(self, space, generator, weight=0.39, latent_weight=0.625, n_iter=200,
                 restarts=4, optimizer='palm', seed=0, latent_dim=None):
        if not isinstance(space, odl.DiscretizedSpace) or space.is_complex:
            raise TypeError(f'`space` must be a real odl.DiscretizedSpace, got {space!r}')
        super().__init__(space, linear=False)
        self.generator = generator
        self.weight = check_real(weight, 'weight', positive=True)
        self.latent_weight = check_real(latent_weight, 'latent_weight', minimum=0)
        self.n_iter = check_int(n_iter, 'n_iter', minimum=1)
        self.restarts = check_int(restarts, 'restarts', minimum=1)
        self.optimizer, self.seed = optimizer, seed
        self.latent_dim = latent_dimension(generator, latent_dim)
        self._scale = math.sqrt(space_weighting(space))
        self._solved = None  # (x tensor, z*, G(z*)) of the last point
        self.latent = None

    def _inner(self, x):
        """``(z*, G(z*))`` for ``x``, solved once per point."""
        parameter = next(self.generator.parameters(), torch.zeros(()))
        image = to_tensor(x, dtype=parameter.dtype, device=parameter.device)
        if self._solved is not None and torch.equal(self._solved[0], image):
            return self._solved[1:]
        if not bool(torch.isfinite(image).all()):
            raise ValueError('GenerativeRegulariser: `x` contains NaN or infinite values')
        warm = None if self.latent is None else self.latent[None]
        # m ||z||^2 + ||G(z) - x||^2_w is the hard form with A = sqrt(w) I, a = m.
        result = latent_search(
            self.generator, _ScaledIdentity(self._scale), self._scale * image[None, None],
            'hard', latent_weight=self.latent_weight, n_iter=self.n_iter,
            restarts=1 if warm is not None else self.restarts, init=warm,
            optimizer=self.optimizer, latent_dim=self.latent_dim, generator_seed=self.seed)
        self.latent = result.latent[0]
        self._solved = (image.clone(), result.latent[0], result.generated[0, 0])
        return self._solved[1:]

    def _call(self, x):
        z, generated = self._inner(x)
        image = to_tensor(x, dtype=generated.dtype, device=generated.device)
        misfit = self._scale ** 2 * float((generated - image).square().sum())
        return self.weight * (self.latent_weight * float(z.square().sum()) + misfit)

    @property
    def gradient(self):
        """Danskin's gradient ``x -> 2 l (x - G(z*(x)))`` in ODL's inner product."""
        functional = self

        class GenerativeRegulariserGradient(odl.Operator):
            def __init__(self):
                super().__init__(functional.domain, functional.domain, linear=False)

            def _call(self, x):
                _, generated = functional._inner(x)
                image = to_tensor(x, dtype=generated.dtype, device=generated.device)
                return to_element(2 * functional.weight * (image - generated), self.range)

        return GenerativeRegulariserGradient()
