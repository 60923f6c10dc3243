"""The WGAN-GP vs WWGAN experiment, end to end at toy size."""

import json

import pytest
import torch

from odl_wasserstein.experiments import wwgan


def test_methods_share_everything_but_the_penalty():
    a = wwgan.GANSettings(method='wgan-gp', size=16, filters=4)
    b = wwgan.GANSettings(method='wwgan', size=16, filters=4)
    (g1, d1), (g2, d2) = wwgan.build_gan(a), wwgan.build_gan(b)
    for x, y in ((g1, g2), (d1, d2)):
        for p, q in zip(x.state_dict().values(), y.state_dict().values()):
            assert torch.equal(p, q)
    assert wwgan.METHODS['wgan-gp'] == {'penalty': 'two-sided', 'penalty_weight': 10.0}
    assert wwgan.METHODS['wwgan'] == {'penalty': 'wasserstein', 'penalty_weight': 4.0}


def test_digits_split_is_disjoint_and_fixed():
    train, test = wwgan.digits_split(8, test_fraction=0.25, seed=3)
    assert train.shape == (1348, 1, 8, 8) and test.shape == (449, 1, 8, 8)
    flat_train = {tuple(x.flatten().tolist()) for x in train}
    # The digits hold a few exact duplicates; held-out images are almost all new.
    assert sum(tuple(x.flatten().tolist()) in flat_train for x in test) < 5
    again = wwgan.digits_split(8, test_fraction=0.25, seed=3)[1]
    assert torch.equal(test, again)


def test_train_evaluate_and_resume(tmp_path):
    common = dict(size=16, filters=4, latent_dim=8, batch_size=4, n_critic=2, steps=2,
                  log_every=1, validate_every=2, checkpoint_every=1, device='cpu')
    runs = {}
    for method in wwgan.METHODS:
        folder = tmp_path / method
        result = wwgan.train_gan(dict(method=method, **common), folder, progress=False)
        assert result.step == 2
        runs[method.upper()] = folder
    report = wwgan.evaluate_gans(runs, tmp_path, n_images=5, n_generated=20)
    assert set(report['methods']) == {'WGAN-GP', 'WWGAN'}
    for entry in report['methods'].values():
        assert entry['steps'] == 2
        assert entry['total_variation']['mean'] >= 1.0 or entry['total_variation']['mean'] == 0
        assert 0 <= entry['zero_crossings']['mean'] <= 16
        assert entry['sliced_wasserstein'] > 0 and entry['seconds_per_step'] > 0
        assert entry['separation'] >= 0
    assert report['reference']['sliced_wasserstein_train_vs_test'] > 0
    assert json.loads((tmp_path / 'wwgan_metrics.json').read_text()) == report
    assert (tmp_path / 'wwgan_critics.png').read_bytes()[:4] == b'\x89PNG'
    table = wwgan.format_gan_report(report)
    assert 'WGAN-GP' in table and 'WWGAN' in table and 'train vs test' in table

    # Continuing to more steps resumes; changing a setting other than steps is refused.
    with pytest.warns(UserWarning, match='max_steps=2, this run has 3'):
        result = wwgan.train_gan(dict(method='wwgan', **{**common, 'steps': 3}),
                                 runs['WWGAN'], resume=True, progress=False)
    assert result.step == 3 and result.resumed_from.name == 'step_000002.pt'
    with pytest.raises(ValueError, match=r"differs from the settings in \['lr'\]"):
        wwgan.train_gan(dict(method='wwgan', **{**common, 'lr': 1e-3}), runs['WWGAN'],
                        resume=True, progress=False)


def test_settings_errors(tmp_path):
    with pytest.raises(ValueError, match='`method` must be one of'):
        wwgan.GANSettings(method='gan')
    with pytest.raises(ValueError, match=r"unknown GAN settings \['epochs'\]"):
        wwgan.GANSettings.from_dict({'epochs': 3})
    with pytest.raises(FileNotFoundError, match='settings.json'):
        wwgan.load_gan(tmp_path)
