"""
Widefield microscopy blur with the Born & Wolf PSF
==================================================

The deconvolution experiment of the OT-cycleGAN paper blurs 3D volumes
with the Born & Wolf point-spread function (NA 1.4, oil immersion
n = 1.5, emission at 400, 500 and 600 nm). This example draws the PSF's
in-focus and axial sections for the three wavelengths and blurs a 3D
volume of random filaments with
:class:`~odl_wasserstein.operators.Convolution`.
"""

import matplotlib.pyplot as plt
import numpy as np
import odl

from odl_wasserstein.operators import Convolution, born_wolf_psf

pixel, axial = 100.0, 200.0  # nm
fig, axes = plt.subplots(2, 3, figsize=(9, 5.6))
for column, wavelength in enumerate([400.0, 500.0, 600.0]):
    psf = born_wolf_psf((21, 21, 21), wavelength, numerical_aperture=1.4,
                        refractive_index=1.5, pixel_size=pixel,
                        axial_pixel_size=axial)
    axes[0, column].imshow(psf[10] ** 0.5, cmap='magma')
    axes[0, column].set_title(f'{wavelength:.0f} nm, in focus (sqrt)', fontsize=9)
    axes[1, column].imshow(psf[:, 10] ** 0.5, cmap='magma', aspect=axial / pixel)
    axes[1, column].set_title('x-z section (sqrt)', fontsize=9)
for ax in axes.ravel():
    ax.set_axis_off()
fig.tight_layout()

# %%
# Blur a volume of thin random filaments with the 500 nm PSF. The PSF sums
# to 1, so the periodic blur keeps the total intensity.
rng = np.random.default_rng(0)
shape = (32, 64, 64)
volume = np.zeros(shape)
for _ in range(12):
    start, direction = rng.uniform(0, 1, 3) * shape, rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    for t in np.linspace(0, 60, 240):
        index = tuple(np.round(start + t * direction).astype(int) % shape)
        volume[index] = 1.0
space = odl.uniform_discr([0, 0, 0], [shape[0] * axial, shape[1] * pixel,
                                      shape[2] * pixel], shape)
blur = Convolution(space, born_wolf_psf((21, 21, 21), 500.0, pixel_size=pixel,
                                        axial_pixel_size=axial),
                   boundary='periodic')
blurred = blur(volume)
print('total intensity before/after:', volume.sum(), round(float(blurred.data.sum()), 6))

fig, axes = plt.subplots(1, 2, figsize=(8, 4))
axes[0].imshow(volume.max(axis=0), cmap='gray')
axes[0].set_title('filaments (max projection)')
axes[1].imshow(blurred.data.max(axis=0), cmap='gray')
axes[1].set_title('blurred, 500 nm')
for ax in axes:
    ax.set_axis_off()
fig.tight_layout()
