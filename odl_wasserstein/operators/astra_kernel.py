"""Batched ASTRA projections with cached ASTRA objects.

ODL 1.0's ``astra_cpu`` backend rebuilds the ASTRA projector, data objects
and algorithm at every call, refuses float64 input, and its torch wrapper
loops over the batch one ODL call at a time. `AstraKernel` builds the ASTRA
geometry once with ODL's own conversion functions (so the results equal
ODL's `RayTransform` bit for bit on the CPU), keeps per-thread data buffers
and algorithms alive, and runs the samples of a batch concurrently on a
thread pool (ASTRA releases the GIL while it projects).

On CUDA tensors with a CUDA build of ASTRA it projects on the GPU through
ODL's ``astra_cuda`` backend, one sample at a time, with the data staying on
the device. ASTRA computes in single precision whatever the input dtype.
"""

import os
import queue
import threading
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor

from odl_wasserstein.util import check_int

import numpy as np
import odl
import torch

try:
    import astra
    from odl.applications.tomo.backends.astra_cpu import default_astra_proj_type
    from odl.applications.tomo.backends.astra_setup import (
        astra_projection_geometry, astra_projector, astra_volume_geometry)
    ASTRA_AVAILABLE = True
except ImportError:  # pragma: no cover - astra-toolbox is a hard dependency
    ASTRA_AVAILABLE = False

__all__ = ('AstraKernel', 'astra_cuda_available')


def astra_cuda_available():
    """Return True if ASTRA was built with CUDA and sees a GPU.

    Examples
    --------
    >>> isinstance(astra_cuda_available(), bool)
    True
    """
    if not ASTRA_AVAILABLE or not torch.cuda.is_available():
        return False
    try:
        return bool(astra.use_cuda())
    except Exception:  # ASTRA raises various errors when no driver is present
        return False


def _usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_POOL = None
_POOL_LOCK = threading.Lock()


def _forget_pool_in_child():
    # A forked child (e.g. a DataLoader worker) inherits the pool object but
    # not its threads: submitting to it would wait forever.
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def _thread_pool():
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=_usable_cpus(),
                                       thread_name_prefix='astra')
        return _POOL


def _delete_astra_objects(algorithm_ids, data_ids, projector_ids):
    for algorithm_id in algorithm_ids:
        astra.algorithm.delete(algorithm_id)
    if data_ids:
        astra.data2d.delete(data_ids)
    for projector_id in projector_ids:
        astra.projector.delete(projector_id)


class _Slot:
    """One worker's linked volume/sinogram buffers and FP/BP algorithms."""

    def __init__(self, kernel):
        self.volume = np.zeros(kernel.volume_shape, dtype=np.float32)
        self.sinogram = np.zeros(kernel.sinogram_shape, dtype=np.float32)
        volume_id = astra.data2d.link('-vol', kernel.vol_geom, self.volume)
        sinogram_id = astra.data2d.link('-sino', kernel.proj_geom, self.sinogram)
        self.forward_id = self._algorithm('FP', kernel.projector_id, volume_id,
                                          sinogram_id)
        self.backward_id = self._algorithm('BP', kernel.projector_id, volume_id,
                                           sinogram_id)
        kernel._ids['data'] += [volume_id, sinogram_id]
        kernel._ids['algorithm'] += [self.forward_id, self.backward_id]

    @staticmethod
    def _algorithm(name, projector_id, volume_id, sinogram_id):
        cfg = astra.astra_dict(name)
        cfg['ProjectorId'] = projector_id
        cfg['ProjectionDataId'] = sinogram_id
        key = 'VolumeDataId' if name == 'FP' else 'ReconstructionDataId'
        cfg[key] = volume_id
        return astra.algorithm.create(cfg)

    def run(self, inputs, outputs, transpose):
        source, target = ((self.sinogram, self.volume) if transpose
                          else (self.volume, self.sinogram))
        algorithm_id = self.backward_id if transpose else self.forward_id
        for x, y in zip(inputs, outputs):
            np.copyto(source, x)
            astra.algorithm.run(algorithm_id)
            np.copyto(y, target)


class AstraKernel:
    """2D ASTRA forward and back-projection of batches of images.

    Parameters
    ----------
    vol_space : `odl.DiscretizedSpace`
        2D image space (isotropic pixels).
    geometry : `odl.applications.tomo.Geometry`
        2D parallel-beam or fan-beam geometry.
    proj_type : str, optional
        ASTRA CPU projector type; default ``'linear'`` for parallel beams and
        ``'line_fanflat'`` for fan beams, as in ODL.
    num_threads : int, optional
        Number of samples projected concurrently on the CPU. Default: the
        number of usable CPU cores.

    Notes
    -----
    `apply` with ``transpose=False`` equals ODL's ``RayTransform`` on the
    CPU; with ``transpose=True`` it is the unweighted transpose (ASTRA's
    back-projection), i.e. ODL's adjoint divided by ``w_range / w_domain``.

    Examples
    --------
    >>> space = odl.uniform_discr([-16, -16], [16, 16], (32, 32), dtype='float32')
    >>> geometry = odl.applications.tomo.parallel_beam_geometry(space, 10)
    >>> kernel = AstraKernel(space, geometry)
    >>> kernel.apply(torch.ones(3, 32, 32), transpose=False).shape
    torch.Size([3, 10, 47])
    """

    def __init__(self, vol_space, geometry, proj_type=None, num_threads=None):
        if not ASTRA_AVAILABLE:
            raise ImportError('astra-toolbox is required for the ray transform')
        if geometry.ndim != 2:
            raise ValueError(
                f'only 2D geometries are supported on the CPU, got a '
                f'{geometry.ndim}D geometry'
            )
        self.vol_space = vol_space
        self.geometry = geometry
        self.proj_type = proj_type or default_astra_proj_type(geometry)
        self.num_threads = check_int(num_threads or _usable_cpus(), 'num_threads', minimum=1)
        self.vol_geom = astra_volume_geometry(vol_space, 'cpu')
        self.proj_geom = astra_projection_geometry(geometry, 'cpu')
        self.volume_shape = tuple(vol_space.shape)
        self.sinogram_shape = tuple(geometry.partition.shape)
        self.projector_id = astra_projector(
            self.proj_type, self.vol_geom, self.proj_geom, 2)
        self._ids = {'algorithm': [], 'data': [], 'projector': [self.projector_id]}
        self._finalizer = weakref.finalize(
            self, _delete_astra_objects, self._ids['algorithm'],
            self._ids['data'], self._ids['projector'])
        self._slots = queue.SimpleQueue()
        self._slot_lock = threading.Lock()
        self._cuda_ops = {}

    def __getstate__(self):
        # ASTRA objects live in this process only: pickle the description
        # and rebuild them on unpickling (DataLoader workers, torchrun).
        return {'vol_space': self.vol_space, 'geometry': self.geometry,
                'proj_type': self.proj_type, 'num_threads': self.num_threads}

    def __setstate__(self, state):
        self.__init__(**state)

    def _acquire_slot(self):
        try:
            return self._slots.get_nowait()
        except queue.Empty:
            with self._slot_lock:  # ASTRA object creation is not thread-safe
                return _Slot(self)

    def _run_chunk(self, inputs, outputs, transpose):
        slot = self._acquire_slot()
        try:
            slot.run(inputs, outputs, transpose)
        finally:
            self._slots.put(slot)

    def _apply_cpu(self, x, transpose):
        out_shape = self.volume_shape if transpose else self.sinogram_shape
        inputs = x.detach().to(device='cpu', dtype=torch.float32).contiguous().numpy()
        outputs = np.empty((len(inputs),) + out_shape, dtype=np.float32)
        chunks = np.array_split(np.arange(len(inputs)),
                                min(self.num_threads, max(len(inputs), 1)))
        chunks = [c for c in chunks if len(c)]
        if len(chunks) <= 1:
            self._run_chunk(inputs, outputs, transpose)
        else:
            futures = [
                _thread_pool().submit(self._run_chunk, inputs[c[0]:c[-1] + 1],
                                      outputs[c[0]:c[-1] + 1], transpose)
                for c in chunks
            ]
            for future in futures:
                future.result()
        return torch.from_numpy(outputs)

    def _cuda_operator(self, device):
        op = self._cuda_ops.get(device)
        if op is None:
            space = odl.uniform_discr_frompartition(
                self.vol_space.partition, dtype='float32', impl='pytorch',
                device=str(device))
            op = odl.applications.tomo.RayTransform(space, self.geometry,
                                                    impl='astra_cuda')
            self._cuda_ops[device] = op
        return op

    def _apply_cuda(self, x, transpose):
        op = self._cuda_operator(x.device)
        x = x.detach().to(torch.float32).contiguous()
        if transpose:
            # ODL's adjoint carries the weight ratio; the kernel is unweighted.
            scale = op.domain.weighting.const / op.range.weighting.const
            outs = [op.adjoint(op.range.element(xi)).data * scale for xi in x]
        else:
            outs = [op(op.domain.element(xi)).data for xi in x]
        return torch.stack(outs)

    def apply(self, x, transpose=False):
        """Project a batch (or back-project with ``transpose=True``).

        Parameters
        ----------
        x : torch.Tensor
            Images ``(B, *volume_shape)`` or sinograms
            ``(B, *sinogram_shape)``, real, any float dtype and device.
        transpose : bool
            If True, apply the unweighted back-projection.

        Returns
        -------
        torch.Tensor
            Result on the device and in the dtype of ``x``; computed in
            float32 by ASTRA.
        """
        if x.is_cuda:
            if astra_cuda_available():
                out = self._apply_cuda(x, transpose)
            else:
                warnings.warn(
                    'ASTRA has no CUDA support here: the ray transform copies '
                    'CUDA tensors to the CPU and back', RuntimeWarning,
                    stacklevel=3)
                out = self._apply_cpu(x, transpose)
        else:
            out = self._apply_cpu(x, transpose)
        return out.to(device=x.device, dtype=x.dtype)
