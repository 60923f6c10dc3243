"""Shared pytest configuration.

ODL's own pytest plugin is disabled (``-p no:odl_plugins`` in setup.cfg: it
breaks pytest 9), so the doctest namespace and fixtures are provided here.
"""

import numpy as np
import odl
import pytest
import torch


# Tests work on small tensors, for which torch's intra-op threads cost more
# than they save (and much more on a loaded machine); ASTRA's projection
# threads are separate and unaffected.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    doctest_namespace['np'] = np
    doctest_namespace['odl'] = odl
    doctest_namespace['torch'] = torch


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state."""
    torch.manual_seed(0)
    np.random.seed(0)
