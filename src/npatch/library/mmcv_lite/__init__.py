"""Pure-PyTorch stand-ins for the compiled ops of mmcv (``mmcv._ext``).

``mmcv-lite`` is mmcv without its C++/CUDA extension: every ``mmcv.ops``
module calls ``ext_loader.load_ext('_ext', [...])`` at import and the ops
call into that extension.  The ``mmcv-lite`` manifest stubs ``mmcv._ext`` so
the modules import, and points the ops that detectors need at the functions
here.  Each one keeps the signature and the numerics of the mmcv kernel it
replaces (the kernels ship in ``mmcv/ops/csrc``), so a model built for mmcv
gives the same results on a CPU.

One op per module: :mod:`.nms`, :mod:`.soft_nms`, :mod:`.roi_align`,
:mod:`.focal_loss`, :mod:`.msda`.  Nothing here imports mmcv.
"""

__all__: list[str] = []
