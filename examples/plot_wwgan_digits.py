"""
WGAN-GP and the Wasserstein-of-Wasserstein GAN on digits
========================================================

Dukler et al., "Wasserstein of Wasserstein loss for learning generative
models" (ICML 2019), replace the Euclidean gradient penalty of WGAN-GP by
one measured in the Wasserstein-2 ground metric on pixels: the critic's
gradient ``g`` at an interpolate ``x`` is penalised through
``g^T L(x) g``, with ``L(x)`` the graph Laplacian of the pixel grid
weighted by the intensities of ``x``. Their claim is that the critic then
varies continuously as an image is translated, and is less disturbed by
pixel noise.

Here both methods train the same DCGAN generator and critic, from the same
initial weights and on the same data stream, on the handwritten digits
shipped with scikit-learn (upsampled to 16 x 16 to run in a minute on a
CPU). We then translate held-out digits down one pixel at a time and
follow the critics' values, as in the paper's Figure 4 and Table 1, and
feed them digits with 15 % salt-and-pepper noise (Figure 5).

At this size and training length (300 steps) neither critic has learned
much yet: both still rate an empty frame above a real digit, so the
curves below say little about the paper's claim. The guide page
"Adversarial training" has the 32 x 32, 2000-step runs, where the
difference shows, and their numbers.
"""

import tempfile

import matplotlib.pyplot as plt
import torch

from odl_wasserstein.adversarial import critic_continuity, critic_values
from odl_wasserstein.data import salt_and_pepper
from odl_wasserstein.experiments import load_config
from odl_wasserstein.experiments.wwgan import digits_split, load_run, train
from odl_wasserstein.metrics import sliced_wasserstein

# The shipped configurations of the comparison, made smaller.
smaller = {'data': {'size': 16}, 'model': {'filters': 16},
           'train': {'batch_size': 32, 'steps': 300, 'log_every': 50,
                     'validate_every': 300, 'device': 'cpu'}}
folder = tempfile.mkdtemp()
labels = {'wgan-gp': 'WGAN-GP', 'wwgan': 'WWGAN'}
for method in labels:
    config = load_config(f'wwgan_digits_{method.replace("-", "_")}', smaller)
    train(config, f'{folder}/{method}', progress=False)

# %%
# Samples of both generators, and the sliced Wasserstein distance between
# 500 generated and the 359 held-out digits (a sample-quality measure
# computable offline; the floor is the distance between training and
# held-out digits).
train_images, test_images = digits_split(16)
z = torch.randn(500, 64, generator=torch.Generator().manual_seed(0))
networks = {method: load_run(f'{folder}/{method}')[:2] for method in labels}
floor = sliced_wasserstein(train_images, test_images, n_projections=256,
                           generator=torch.Generator().manual_seed(0))
fig, axes = plt.subplots(2, 1, figsize=(8, 2.6), layout='constrained')
for ax, (method, (generator, critic)) in zip(axes, networks.items()):
    with torch.no_grad():
        samples = generator(z)
    distance = sliced_wasserstein(samples, test_images, n_projections=256,
                                  generator=torch.Generator().manual_seed(0))
    ax.imshow(torch.cat(list(samples[:12, 0]), dim=1), cmap='gray')
    ax.set_title(f'{labels[method]}: sliced W2 to held-out digits {float(distance):.3f} '
                 f'(train vs held-out: {float(floor):.3f})', fontsize=9)
    ax.set_axis_off()

# %%
# Each held-out digit moves down one pixel at a time until it has left the
# frame. A continuous critic gives smooth curves: a range-normalised total
# variation near 1 and few crossings of its decision level (the midpoint
# of its mean values on real and generated digits).
images = test_images[:100]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), layout='constrained')
for ax, (method, (generator, critic)) in zip(axes, networks.items()):
    with torch.no_grad():
        level = float(critic_values(critic, test_images).mean()
                      + critic_values(critic, generator(z)).mean()) / 2
    result = critic_continuity(critic, images, threshold=level)
    for curve in result['curves'][:6]:
        ax.plot(curve.numpy())
    ax.axhline(level, color='k', lw=0.8, ls='--')
    ax.set_title(f"{labels[method]}: TV {result['mean_total_variation']:.2f}, "
                 f"crossings {result['mean_zero_crossings']:.2f}", fontsize=10)
    ax.set_xlabel('shift [px]')
axes[0].set_ylabel('critic value')

# %%
# The critics on clean digits and on the same digits with 15 % of the
# pixels set to 0 or 1.
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), layout='constrained')
noisy_images = salt_and_pepper(images, 0.15, generator=torch.Generator().manual_seed(1))
for ax, (method, (generator, critic)) in zip(axes, networks.items()):
    with torch.no_grad():
        clean, noisy = critic_values(critic, images), critic_values(critic, noisy_images)
    separation = (clean.mean() - noisy.mean()).abs() / ((clean.var() + noisy.var()) / 2).sqrt()
    ax.hist(clean.numpy(), bins=25, alpha=0.6, label='clean')
    ax.hist(noisy.numpy(), bins=25, alpha=0.6, label='salt and pepper')
    ax.set_title(f'{labels[method]}: separation {float(separation):.2f} std', fontsize=10)
    ax.legend()
plt.show()
