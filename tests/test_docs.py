"""The documentation builds without warnings, gallery included."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_sphinx_build_without_warnings(tmp_path):
    result = subprocess.run(
        [sys.executable, '-m', 'sphinx', '-W', '--keep-going', '-q', '-b', 'html',
         '-d', str(tmp_path / 'doctrees'), str(ROOT / 'doc'), str(tmp_path / 'html')],
        capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, 'MPLBACKEND': 'Agg'})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = tmp_path / 'html'
    assert (html / 'api.html').exists()
    gallery = (html / 'auto_examples' / 'index.html').read_text()
    for example in ('plot_ct_reconstruction', 'plot_mri_forward', 'plot_blur_psf',
                    'plot_torch_bridge', 'plot_wwgan_digits', 'plot_generative_priors'):
        assert example in gallery
    api = (html / 'api' / 'generated' / 'odl_wasserstein.torch.module.html').read_text()
    assert 'OperatorModule' in api
