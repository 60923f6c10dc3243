"""Wasserstein critic and generator losses."""

import pytest
import torch

from odl_wasserstein.adversarial import (
    CriticLoss, critic_loss, critic_values, generator_loss, gradient_penalty)


def _critic(scale=1.0):
    torch.manual_seed(3)
    critic = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Softplus(),
                                 torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 1)).double()
    with torch.no_grad():
        critic[-1].weight.mul_(scale)
    return critic


@pytest.mark.parametrize('penalty', ['two-sided', 'one-sided', 'wasserstein'])
def test_critic_loss_is_negated_distance_plus_penalty(penalty):
    critic = _critic(scale=20.0)  # gradient norms above 1: every penalty is active
    real, fake = torch.rand(6, 1, 8, 8, dtype=torch.float64), torch.rand(
        6, 1, 8, 8, dtype=torch.float64)
    result = critic_loss(critic, real, fake, penalty=penalty, penalty_weight=3.0,
                         generator=torch.Generator().manual_seed(5))
    assert isinstance(result, CriticLoss)
    distance = critic(real).mean() - critic(fake).mean()
    expected_penalty = gradient_penalty(critic, real, fake, penalty=penalty, penalty_weight=3.0,
                                        generator=torch.Generator().manual_seed(5))
    assert result.distance.item() == pytest.approx(distance.item(), rel=1e-12)
    assert result.penalty.item() == pytest.approx(expected_penalty.item(), rel=1e-12)
    assert result.loss.item() == pytest.approx(
        (-distance + expected_penalty).item(), rel=1e-12)
    assert result.penalty.item() > 0
    assert not result.distance.requires_grad and not result.penalty.requires_grad


def test_critic_loss_gradients_reach_only_the_critic():
    critic = _critic()
    generator = torch.nn.Linear(3, 64).double()
    fake = generator(torch.randn(4, 3, dtype=torch.float64)).reshape(4, 1, 8, 8)
    real = torch.rand(4, 1, 8, 8, dtype=torch.float64)
    critic_loss(critic, real, fake).loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in
               critic.parameters())
    assert all(p.grad is None for p in generator.parameters())


def test_critic_loss_without_penalty_and_bad_input():
    critic = _critic()
    real, fake = torch.rand(4, 1, 8, 8).double(), torch.rand(4, 1, 8, 8).double()
    result = critic_loss(critic, real, fake, penalty=None)
    assert result.penalty.item() == 0.0
    assert result.loss.item() == pytest.approx(-result.distance.item(), rel=1e-12)
    with pytest.raises(ValueError, match='`penalty` must be one of'):
        critic_loss(critic, real, fake, penalty='l2')
    with pytest.raises(TypeError, match='without a penalty'):
        critic_loss(critic, real, fake, penalty=None, gamma=1.0)
    with pytest.raises(ValueError, match='one value per sample'):
        critic_loss(torch.nn.Identity(), real, fake)


def test_generator_loss_gradient_is_minus_critic_gradient_over_n():
    critic = _critic()
    fake = torch.rand(5, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(generator_loss(critic, fake), fake)
    x = fake.detach().requires_grad_(True)
    (expected,) = torch.autograd.grad(critic(x).sum(), x)
    torch.testing.assert_close(grad, -expected / 5, rtol=1e-12, atol=1e-14)


def test_critic_values_shapes():
    x = torch.zeros(3, 2)
    assert critic_values(lambda t: t.sum(1), x).shape == (3,)
    assert critic_values(lambda t: t.sum(1, keepdim=True), x).shape == (3,)
    with pytest.raises(ValueError, match=r'shape \(3, 2\) for N = 3'):
        critic_values(lambda t: t, x)
    with pytest.raises(TypeError, match='must return a torch.Tensor'):
        critic_values(lambda t: 1.0, x)
