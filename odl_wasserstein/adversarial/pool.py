"""A pool of earlier generated samples for the critic (Shrivastava et al. 2017).

CycleGAN (Zhu et al. 2017) and the OT-cycleGAN code train the critic on a
history of generated images rather than only on the newest ones: a pool of
up to 50 images; while it is not full, every new image is stored and
returned; once full, each new image is, with probability 1/2, swapped for a
random stored one (which is returned instead), else returned as it is.
`ImagePool` does this with torch's global random state, and its content is
part of `ImagePool.state_dict`, so that a resumed run draws exactly what
the uninterrupted one would have.
"""

import torch

from odl_wasserstein.util import check_int, check_real

__all__ = ('ImagePool',)


class ImagePool:
    """History of generated samples, queried one batch at a time.

    Parameters
    ----------
    size : int, optional
        Largest number of stored samples; 0 disables the pool (queries
        return their input).
    swap_probability : float, optional
        Chance that a new sample is swapped for a stored one once full.

    Examples
    --------
    >>> pool = ImagePool(size=2)
    >>> first = pool.query(torch.zeros(1, 1, 2, 2))   # stored, returned
    >>> second = pool.query(torch.ones(1, 1, 2, 2))
    >>> len(pool), bool((first == 0).all()), bool((second == 1).all())
    (2, True, True)
    >>> _ = torch.manual_seed(0)
    >>> third = pool.query(torch.full((1, 1, 2, 2), 2.0))
    >>> sorted(float(x[0, 0, 0]) for x in pool.images + [third[0]])
    [0.0, 1.0, 2.0]
    """

    def __init__(self, size=50, swap_probability=0.5):
        self.size = check_int(size, 'size')
        self.swap_probability = check_real(swap_probability, 'swap_probability', minimum=0,
                                           maximum=1)
        self.images = []

    def __len__(self):
        return len(self.images)

    def query(self, samples):
        """Samples ``(N, ...)`` for the critic: the new ones or stored ones they replace.

        The samples are detached; the pool keeps copies.
        """
        samples = samples.detach()
        if self.size == 0:
            return samples
        returned = []
        for sample in samples:
            if len(self.images) < self.size:
                self.images.append(sample.clone())
                returned.append(sample)
            elif float(torch.rand(())) < self.swap_probability:
                index = int(torch.randint(len(self.images), ()))
                returned.append(self.images[index])
                self.images[index] = sample.clone()
            else:
                returned.append(sample)
        return torch.stack(returned)

    def state_dict(self):
        """The stored samples (a list of tensors) and the settings."""
        return {'size': self.size, 'swap_probability': self.swap_probability,
                'images': [image.cpu() for image in self.images]}

    def load_state_dict(self, state):
        """Restore the samples of `state_dict` (on the device of ``state``'s tensors)."""
        self.size = check_int(state['size'], 'size')
        self.swap_probability = float(state['swap_probability'])
        self.images = [image.clone() for image in state['images']]

    def to(self, device):
        """Move the stored samples to ``device``; return self."""
        self.images = [image.to(device) for image in self.images]
        return self
