"""Replacement code for the ``cuda-to-cpu`` manifest: CUDA programs, unmodified, on a CPU.

The manifest points one op at each CUDA entry point a training script
reaches; this package holds what those ops install.  The decisions, and why:

* **CUDA looks present.**  ``torch.cuda.is_available()`` is True and
  ``device_count()`` is the number of local ranks (``LOCAL_WORLD_SIZE``, set
  by torchrun; 1 otherwise), so code that hard-codes ``.cuda()``,
  ``set_device(local_rank)`` or ``assert torch.cuda.is_available()`` takes
  the path it was written for, and every device the script names is mapped
  to the CPU where a tensor is made or moved.  A script that picks
  ``'cuda' if is_available() else 'cpu'`` runs the same way.
* **Devices map at the edges** (:mod:`.devices`): tensor factories, ``.to``,
  ``.cuda``, ``new_*``, ``torch.load(map_location=...)``, ``with
  torch.device('cuda')`` / ``set_default_device``.  ``'cuda'``, ``'cuda:N'``,
  ``torch.device('cuda', N)`` and a bare ``int`` (an ordinal means a CUDA
  device in these APIs) become ``'cpu'``.  ``torch.device('cuda')`` itself is
  a C type and is left alone: creating one is harmless, using it is mapped.
  ``Tensor.is_cuda`` stays False (tensors really are on the CPU).
* **torch.accelerator agrees with torch.cuda** (:mod:`.accelerator`): its
  functions are the same stand-ins, ``current_accelerator()`` is
  ``device('cuda')``; legacy typed constructors (``torch.cuda.FloatTensor``)
  are the CPU types, ``torch.Generator(device='cuda')`` is a CPU generator,
  and CUDA graphs run eagerly (``replay`` raises, saying why).  What is
  handled, passed through or unsupported, for every public name of the
  installed torch: :mod:`.coverage`.
* **The device generator is the CPU generator** (:mod:`.cuda_api`):
  ``torch.cuda.manual_seed(_all)`` seeds ``torch.default_generator`` and the
  CUDA RNG state is the CPU one, so seeding code keeps its effect.
* **Timing and memory stay truthful** (:mod:`.cuda_api`, :mod:`.streams`):
  CPU work is synchronous, so ``synchronize`` is a no-op and ``Event``
  timing measures wall-clock time between ``record`` calls; CUDA memory
  counters are 0 (nothing is allocated on a GPU), ``mem_get_info`` reports
  host memory.
* **AMP is a pass-through** (:mod:`.amp`): CUDA autocast regions run in
  float32 (CPU bfloat16 is slow and changes numerics; the manifest option
  ``cpu_autocast = true`` runs them under CPU autocast in bfloat16 instead),
  and a CUDA ``GradScaler`` is created disabled, which is exactly a
  pass-through: ``scale`` returns the loss, ``step`` calls
  ``optimizer.step``, ``unscale_``/``update`` do nothing.
* **torch.compile traces the mapped calls** (:mod:`npatch.library.dynamo`):
  ``x.cuda()`` and the other wrapped ``Tensor`` methods stay in one graph,
  and dynamo never compiles a frame of this package's functions on its own
  (the ``autocast.__init__`` wrapper, re-entered after a graph break, crashed
  it).  In a graph, dynamo makes its own autocast node, which builds its
  autocast object through the wrapped ``__init__``, so regions map as in
  eager code.
* **Distributed runs over gloo** (:mod:`.distributed`): ``nccl`` becomes
  ``gloo``, DDP's ``device_ids``/``output_device`` and FSDP's ``device_id``
  are dropped (CPU modules take none), ``'cuda'`` device meshes are CPU
  meshes (FSDP2, tensor parallel), ``DataParallel`` becomes a transparent wrapper, and
  ``SyncBatchNorm`` synchronises its statistics with a differentiable
  all-reduce, which the stock module refuses to do on the CPU.  At exit,
  gloo's worker threads are let finish before the interpreter winds down:
  with torch 2.13 a loaded machine otherwise aborts a DDP run after its last
  line now and then (``bench/gloo_exit_race.py`` counts it).

Modules of this package are imported by the runtime while ``torch`` itself
may still be importing (``torch.cuda`` and ``torch.distributed`` finish
before ``torch`` does): they ``import torch`` (the partial module) and
nothing below it, and touch torch attributes only inside functions.
"""

__all__: list[str] = []
