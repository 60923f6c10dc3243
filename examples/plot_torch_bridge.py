"""
ODL operators inside PyTorch
============================

:class:`odl_wasserstein.torch.OperatorModule` turns an ODL operator into a
batched, differentiable layer. Here a batch of four phantoms is
reconstructed at once by gradient descent through the ray transform, and
a gradient penalty (a second derivative) is taken through the same layer,
which ``odl.contrib.torch`` cannot do.
"""

import matplotlib.pyplot as plt
import odl
import torch

from odl_wasserstein.operators import ray_transform, reconstruction_space
from odl_wasserstein.torch import OperatorModule

torch.manual_seed(0)
space = reconstruction_space(64)
ray = ray_transform(space, num_angles=30, normalize=True)
forward = OperatorModule(ray)

# A batch (N, C, H, W) of four shifted phantoms and their data (N, C, 30, 93).
phantom = torch.as_tensor(odl.core.phantom.shepp_logan(space, modified=True).data)
truth = torch.stack([torch.roll(phantom, (4 * k, -3 * k), (0, 1))
                     for k in range(4)])[:, None]
data = forward(truth)
print('data:', tuple(data.shape))

# %%
# Least squares with a non-negativity constraint, all four images in one
# batched call per iteration. The normalised operator has norm 1, so a step
# of 1 is stable.
x = torch.zeros_like(truth, requires_grad=True)
optimizer = torch.optim.SGD([x], lr=1.0, momentum=0.9)
for iteration in range(100):
    optimizer.zero_grad()
    loss = 0.5 * (forward(x) - data).square().sum()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        x.clamp_(min=0)
print(f'final data misfit: {loss.item():.3e}')

fig, axes = plt.subplots(2, 4, figsize=(9, 4.6))
for k in range(4):
    axes[0, k].imshow(truth[k, 0].T, cmap='gray', origin='lower', vmin=0, vmax=1)
    axes[1, k].imshow(x[k, 0].detach().T, cmap='gray', origin='lower', vmin=0, vmax=1)
    axes[0, k].set_axis_off()
    axes[1, k].set_axis_off()
axes[0, 0].set_title('truth')
axes[1, 0].set_title('100 projected gradient steps')
fig.tight_layout()

# %%
# Second derivatives: the gradient of a loss w.r.t. the input can itself be
# differentiated, as WGAN-GP gradient penalties need.
x = torch.rand(2, 1, 64, 64, requires_grad=True)
(grad,) = torch.autograd.grad(forward(x).square().sum(), x, create_graph=True)
penalty = (grad.flatten(1).norm(dim=1) - 1).square().mean()
penalty.backward()
print('penalty gradient norm:', float(x.grad.norm()))
