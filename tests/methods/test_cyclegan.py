"""The OT-cycleGAN and conventional cycleGAN recipes: hand-written steps, pools, resume."""

import pytest
import torch

from odl_wasserstein.adversarial import ImagePool, gradient_penalty
from odl_wasserstein.methods import CycleGANRecipe, OTCycleGANRecipe
from odl_wasserstein.nn import UndersampledFourier
from odl_wasserstein.training import Trainer


def critic(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, stride=2), torch.nn.LeakyReLU(0.2),
                               torch.nn.Flatten(), torch.nn.Linear(27, 1)).double()


def generator(seed):
    torch.manual_seed(seed)
    return torch.nn.Conv2d(2, 2, 3, padding=1).double()


def line_sampler(y):
    """A random line mask per call from torch's global random state (resumable)."""
    return (torch.rand(y.shape[-1], dtype=torch.float64) < 0.5).double()


def batches(n=4, seed=0):
    rng = torch.Generator().manual_seed(seed)
    data = []
    for _ in range(n):
        mask = (torch.rand(8, generator=rng, dtype=torch.float64) < 0.4).double()
        clean = torch.randn(1, 2, 8, 8, generator=rng, dtype=torch.float64)
        other = torch.randn(1, 2, 8, 8, generator=rng, dtype=torch.float64)
        data.append({'x': clean, 'y': UndersampledFourier()(other, mask), 'mask': mask})
    return data


def ot_recipe(**options):
    return OTCycleGANRecipe(generator(1), UndersampledFourier(), critic(2),
                            mask_sampler=line_sampler, **options)


def test_one_step_is_the_authors_order(tmp_path):
    """Generator first, then 5 critic updates on the same fake, halved WGAN-GP critic loss."""
    batch = batches(1)[0]
    recipe = ot_recipe(lr=1e-3)
    Trainer(recipe, [batch], max_steps=1, output_dir=tmp_path, device='cpu', seed=11,
            progress=False).fit()

    g, d, forward = generator(1), critic(2), UndersampledFourier()
    g_opt = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.5, 0.9))
    d_opt = torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.5, 0.9))
    torch.manual_seed(11)
    x, y = batch['x'], batch['y']
    fake_y = forward(x, line_sampler(y))
    fake_x = g(y)
    rec_x, rec_y = g(fake_y), forward(fake_x, batch['mask'])
    loss = -d(fake_x).mean() + 0.5 * ((x - rec_x).abs().mean() + (y - rec_y).abs().mean())
    g_opt.zero_grad()
    loss.backward()
    g_opt.step()
    fake = fake_x.detach()
    for _ in range(5):
        critic_loss = 0.5 * (d(fake).mean() - d(x).mean()
                             + gradient_penalty(d, x, fake, penalty_weight=5.0))
        d_opt.zero_grad()
        critic_loss.backward()
        d_opt.step()
    for mine, reference in ((recipe.modules['generator'], g), (recipe.modules['critic_x'], d)):
        for p, q in zip(mine.parameters(), reference.parameters()):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-12)


def test_conventional_cyclegan_step_with_two_generators_and_lsgan(tmp_path):
    batch = batches(1)[0]
    recipe = CycleGANRecipe(generator(1), generator(3), critic(2), critic(4), pool_size=0)
    assert sorted(recipe.optimizers()) == ['critic_x', 'critic_y', 'generator']
    result = Trainer(recipe, [batch], max_steps=1, output_dir=tmp_path, device='cpu',
                     seed=5, progress=False).fit()

    g, f, dx, dy = generator(1), generator(3), critic(2), critic(4)
    g_opt = torch.optim.Adam([*g.parameters(), *f.parameters()], lr=2e-4, betas=(0.5, 0.999))
    dx_opt = torch.optim.Adam(dx.parameters(), lr=2e-4, betas=(0.5, 0.999))
    dy_opt = torch.optim.Adam(dy.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x, y = batch['x'], batch['y']
    fake_y, fake_x = f(x), g(y)
    loss = (((dx(fake_x) - 1) ** 2).mean() + ((dy(fake_y) - 1) ** 2).mean()
            + 10 * ((x - g(fake_y)).abs().mean() + (y - f(fake_x)).abs().mean()))
    g_opt.zero_grad()
    loss.backward()
    g_opt.step()
    for d, opt, real, fake in ((dx, dx_opt, x, fake_x), (dy, dy_opt, y, fake_y)):
        critic_loss = ((d(real) - 1) ** 2).mean() / 2 + (d(fake.detach()) ** 2).mean() / 2
        opt.zero_grad()
        critic_loss.backward()
        opt.step()
    assert result.history[-1]['loss'] == pytest.approx(loss.item(), rel=1e-12)
    for mine, reference in ((recipe.modules['forward'], f), (recipe.modules['critic_y'], dy)):
        for p, q in zip(mine.parameters(), reference.parameters()):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-12)


def test_resume_is_exact_with_pool_and_per_step_masks(tmp_path):
    data = batches(3)

    def trainer(folder, crash=None):
        recipe = ot_recipe(pool_size=2, n_critic=2)
        if crash is not None:
            original = recipe.training_step

            def training_step(trainer, batch, step):
                if step == crash:
                    raise RuntimeError('simulated crash')
                return original(trainer, batch, step)
            recipe.training_step = training_step
        return Trainer(recipe, data, max_steps=6, output_dir=tmp_path / folder, device='cpu',
                       seed=3, log_every=1, checkpoint_every=2, progress=False)

    full = trainer('full').fit()
    with pytest.raises(RuntimeError, match='simulated crash'):
        trainer('cut', crash=3).fit()
    resumed_trainer = trainer('cut')
    resumed = resumed_trainer.fit(resume=True)
    assert resumed.resumed_from.name == 'step_000002.pt'
    strip = lambda history: [{k: v for k, v in e.items() if k != 'time'} for e in history]
    assert strip(resumed.history) == strip(full.history)
    assert len({e['loss'] for e in full.history}) == 6
    pool = resumed_trainer.recipe.pools['critic_x']
    assert len(pool) == 2


def test_image_pool_swaps_half_the_time_once_full():
    pool = ImagePool(size=3)
    torch.manual_seed(0)
    swapped = 0
    for k in range(400):
        out = pool.query(torch.full((1, 1), float(k)))
        swapped += int(out.item() != k)
    # After 3 fills, each query swaps with probability 1/2: 397 draws.
    assert abs(swapped - 397 / 2) < 4 * (397 / 4) ** 0.5
    restored = ImagePool(size=3)
    restored.load_state_dict(pool.state_dict())
    state = torch.get_rng_state()
    a = pool.query(torch.full((1, 1), -1.0))
    torch.set_rng_state(state)
    assert torch.equal(restored.query(torch.full((1, 1), -1.0)), a)


def test_errors():
    with pytest.raises(ValueError, match='needs `critic_y`'):
        CycleGANRecipe(generator(1), generator(2), critic(3))
    with pytest.raises(KeyError, match="under 'mask'"):
        recipe = ot_recipe()
        recipe.remeasure(type('T', (), {'module': lambda self, name: UndersampledFourier()})(),
                         torch.zeros(1, 2, 8, 8, dtype=torch.float64), {'x': 0, 'y': 0})
    with pytest.raises(ValueError, match='`penalty` must be one of'):
        ot_recipe(penalty='gp')
