"""Sphinx configuration of the odl_wasserstein documentation."""

import os
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import odl_wasserstein  # noqa: E402

project = 'odl_wasserstein'
author = 'odl_wasserstein developers'
copyright = '2026, odl_wasserstein developers'
version = release = odl_wasserstein.__version__

extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.autosummary',
    'sphinx.ext.mathjax',
    'sphinx.ext.viewcode',
    'numpydoc',
    'sphinx_gallery.gen_gallery',
]

templates_path = ['_templates']
exclude_patterns = ['_build', 'auto_examples/*.ipynb', 'auto_examples/*.py',
                    'auto_examples/*.zip', 'auto_examples/*.json']
default_role = 'py:obj'
html_theme = 'alabaster'
html_static_path = ['_static']

autosummary_generate = True
autodoc_default_options = {'members': True, 'inherited-members': False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# Gallery execution: all examples by default; CI may restrict the set with
# ODL_WASSERSTEIN_GALLERY_PATTERN (a regular expression on file paths) or
# switch execution off with ODL_WASSERSTEIN_GALLERY_RUN=0.
sphinx_gallery_conf = {
    'examples_dirs': str(ROOT / 'examples'),
    'gallery_dirs': 'auto_examples',
    'filename_pattern': os.environ.get('ODL_WASSERSTEIN_GALLERY_PATTERN', r'/plot_'),
    'plot_gallery': os.environ.get('ODL_WASSERSTEIN_GALLERY_RUN', '1') != '0',
    'download_all_examples': False,
    'remove_config_comments': True,
    'abort_on_example_error': True,
    'within_subsection_order': 'FileNameSortKey',
}

# ODL warns about slow CPU projections at paper size; not a docs problem.
warnings.filterwarnings('ignore', message="The 'astra_cpu' backend may be too slow")
