"""Tests of the noise model, the TV baseline and the demo command."""

import json

import odl
import pytest
import torch

from odl_wasserstein.baselines import tv_reconstruction
from odl_wasserstein.cli import main
from odl_wasserstein.data import add_gaussian_noise
from odl_wasserstein.operators import fbp_operator, ray_transform, reconstruction_space


def test_noise_level_per_sample_and_reproducible():
    data = torch.stack([torch.full((100, 100), 1.0), torch.full((100, 100), -4.0)])
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    noisy = add_gaussian_noise(data, 0.05, dim=(-2, -1), generator=g1)
    assert torch.equal(noisy, add_gaussian_noise(data, 0.05, dim=(-2, -1), generator=g2))
    stds = (noisy - data).std(dim=(-2, -1))
    torch.testing.assert_close(stds, torch.tensor([0.05, 0.2]), rtol=0.03, atol=0)
    with pytest.raises(ValueError, match='level'):
        add_gaussian_noise(data, -1.0)
    with pytest.raises(ValueError, match='NaN'):
        add_gaussian_noise(torch.tensor([float('nan')]))


def test_tv_beats_fbp_on_piecewise_constant_phantom():
    space = reconstruction_space(48)
    op = ray_transform(space, num_angles=15, normalize=True)
    phantom = odl.core.phantom.shepp_logan(space, modified=True)
    data = op(phantom)
    alpha = 1e-3
    tv = tv_reconstruction(op, data, alpha=alpha, n_iter=300, nonnegative=True)
    fbp = fbp_operator(op)(data)
    assert float(tv.data.min()) >= 0

    gradient = odl.Gradient(space)

    def objective(x):
        return ((op(x) - data).norm() ** 2
                + alpha * odl.functionals.GroupL1Norm(gradient.range)(gradient(x)))

    # The phantom is feasible, so the minimiser's objective is no larger.
    assert objective(tv) <= objective(phantom) * (1 + 1e-3)
    # Measured: relative errors 0.36 (TV) and 0.57 (FBP, Hann).
    assert (tv - phantom).norm() < 0.7 * (fbp - phantom).norm()
    with pytest.raises(ValueError, match='alpha'):
        tv_reconstruction(op, data, alpha=0)


def test_demo_command_trains_both_losses_and_evaluates(tmp_path, capsys):
    """The flagship demo end to end, with 2 training steps per model."""
    main(['demo', '--output', str(tmp_path), '--steps', '2', '--samples', '1', '--quiet'])
    report = json.loads((tmp_path / 'metrics.json').read_text())
    assert list(report['methods']) == ['FBP', 'TV', 'MSE', 'Wasserstein']
    assert report['config']['data']['size'] == 128
    assert (tmp_path / 'reconstructions.png').stat().st_size > 10_000
    for label in ('mse', 'wasserstein'):
        assert (tmp_path / label / 'checkpoints' / 'step_000002.pt').is_file()
    tv = report['methods']['TV']
    # TV reconstructs the shifted phantom that generated the data.
    assert tv['shifted']['psnr']['mean'] > tv['target']['psnr']['mean']
    out = capsys.readouterr().out
    assert 'Wasserstein' in out and 'SW [px]' in out
    # Running it again continues the finished runs instead of retraining.
    checkpoint = tmp_path / 'mse' / 'checkpoints' / 'step_000002.pt'
    written = checkpoint.stat().st_mtime_ns
    main(['demo', '--output', str(tmp_path), '--steps', '2', '--samples', '1', '--quiet'])
    again = json.loads((tmp_path / 'metrics.json').read_text())
    assert checkpoint.stat().st_mtime_ns == written

    def measures(report):
        return {label: {k: v for k, v in entry.items() if k != 'seconds_per_image'}
                for label, entry in report['methods'].items()}

    assert measures(again) == measures(report)


def test_wwgan_command_trains_both_penalties_and_evaluates(tmp_path, capsys):
    """The WGAN-GP vs WWGAN comparison end to end, 2 steps per run at 16 x 16."""
    main(['wwgan', '--output', str(tmp_path), '--steps', '2', '--size', '16',
          '--filters', '4', '--quiet'])
    out = capsys.readouterr().out
    assert 'WGAN-GP' in out and 'WWGAN' in out and 'wwgan_metrics.json' in out
    report = json.loads((tmp_path / 'wwgan_metrics.json').read_text())
    assert report['methods']['WWGAN']['steps'] == 2
    assert report['methods']['WGAN-GP']['wall_seconds'] > 0
    with pytest.raises(SystemExit) as error:
        main(['wwgan', '--output', str(tmp_path), '--steps', '2', '--size', '12'])
    assert error.value.code == 2
