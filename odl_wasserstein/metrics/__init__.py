"""Metrics: image quality as the papers define it, and distances between sample sets.

- `odl_wasserstein.metrics.images`: `psnr`, `snr`, `ssim`, the shape-sensitive
  `transport_distance` and `sliced_transport_distance`, `peak_intensity`;
- `odl_wasserstein.metrics.samples`: `sliced_wasserstein` between a
  generator's samples and real ones.

The diagnostics of critics (continuity along translations) are in
`odl_wasserstein.adversarial.diagnostics`.
"""

from .images import *
from .samples import *

__all__ = ()
__all__ += images.__all__
__all__ += samples.__all__
