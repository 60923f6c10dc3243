"""
CT reconstruction with the papers' set-up
=========================================

The learned primal-dual papers measure a 128 x 128 image (unit pixels) with
a parallel-beam ray transform over 30 angles and 183 detector bins,
normalised to operator norm 1, and add white Gaussian noise with a standard
deviation of 5 % of the mean absolute data. This example builds that set-up
with :mod:`odl_wasserstein.operators` and compares the two classical
baselines: filtered back-projection with a Hann filter and total-variation
regularisation solved by ODL's PDHG.
"""

import matplotlib.pyplot as plt
import odl
import torch

from odl_wasserstein.baselines import tv_reconstruction
from odl_wasserstein.data import add_gaussian_noise
from odl_wasserstein.metrics import psnr, ssim
from odl_wasserstein.operators import (
    fbp_operator, ray_transform, reconstruction_space)
from odl_wasserstein.util import to_tensor

space = reconstruction_space(128)
ray = ray_transform(space, num_angles=30, normalize=True)
print('sinogram shape:', ray.range.shape, ' 1 / ||R|| =', round(ray.scalar, 5))

phantom = odl.core.phantom.shepp_logan(space, modified=True)
noisy = add_gaussian_noise(to_tensor(ray(phantom)), 0.05,
                           generator=torch.Generator().manual_seed(0))
data = ray.range.element(noisy.numpy())

# %%
# Filtered back-projection inverts the *normalised* transform: the helper
# undoes the scaling. TV is slower but removes streaks and noise.
fbp = fbp_operator(ray, filter_type='Hann')(data)
tv = tv_reconstruction(ray, data, alpha=3e-3, n_iter=300, nonnegative=True)

fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
for ax, (title, image) in zip(axes, [('phantom', phantom), ('FBP (Hann)', fbp),
                                     ('TV (PDHG)', tv)]):
    quality = ''
    if image is not phantom:
        p = float(psnr(to_tensor(image), to_tensor(phantom), data_range=1))
        s = float(ssim(to_tensor(image), to_tensor(phantom), data_range=1))
        quality = f'\nPSNR {p:.1f} dB, SSIM {s:.2f}'
    ax.imshow(image.data.T, cmap='gray', origin='lower', vmin=0, vmax=1)
    ax.set_title(title + quality)
    ax.set_axis_off()
fig.tight_layout()
