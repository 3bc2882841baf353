"""What ``cuda-to-cpu`` does with each public name of ``torch.cuda`` and ``torch.accelerator``.

A name is *handled* when an op of the manifest targets it (the manifest is
the list; tests/library/test_cuda_cpu_coverage.py reads it), *passed
through* when it works as it is on a CPU build (or is a submodule whose
functions are handled one by one), or *unsupported*, with the reason.  The
test derives the public names from the installed torch (``__all__``) and
fails on a name that is in none of the three, so a new torch release shows
what it added.
"""
from __future__ import annotations

#: names that work unchanged on a CPU build, with why
PASSED_THROUGH: dict[str, str] = {
    "torch.cuda.amp": "submodule: its autocast and GradScaler are subclasses of the torch.amp classes the manifest wraps",
    "torch.cuda.graphs": "submodule: CUDAGraph, graph, make_graphed_callables... are handled one by one",
    "torch.cuda.memory": "submodule: its functions are handled one by one",
    "torch.cuda.nvtx": "submodule: its functions are handled one by one",
    "torch.cuda.random": "submodule: its functions are handled one by one",
    "torch.cuda.streams": "submodule: Stream, Event, ExternalStream are handled",
    "torch.cuda.tunable": "TunableOp settings: setting and reading them works on a CPU build and changes nothing",
    "torch.cuda.CudaError": "an exception class: `except torch.cuda.CudaError` works as written",
    "torch.cuda.DeferredCudaCallError": "an exception class: `except` clauses work as written",
    "torch.cuda.cudaStatus": "constants (SUCCESS, ERROR_NOT_READY)",
    "torch.cuda.has_half": "a constant (True), true of the CPU as well",
    "torch.cuda.has_magma": "a constant (False on a CPU build): code then takes its non-MAGMA path",
}

#: names a CPU cannot stand in for, with why; using one fails as it does without the manifest
UNSUPPORTED: dict[str, str] = {
    "torch.cuda.cudart": "the CUDA runtime library's own bindings: there is no CUDA runtime to call",
    "torch.cuda.check_error": "checks a cudaError_t code from the CUDA runtime, which is absent",
    "torch.cuda.profiler": "starts and stops the CUDA profiler (cudaProfilerStart): use torch.profiler on the CPU",
    "torch.cuda.nccl": "direct NCCL calls on CUDA tensors; torch.distributed's 'nccl' backend is mapped to gloo instead",
    "torch.cuda.jiterator": "compiles CUDA C++ kernels at run time: no CPU equivalent",
    "torch.cuda.sparse": "legacy CUDA sparse tensor types with no CPU counterpart in torch.cuda's namespace",
    "torch.cuda.caching_allocator_alloc": "hands out raw CUDA device pointers",
    "torch.cuda.caching_allocator_delete": "frees raw CUDA device pointers",
    "torch.cuda.caching_allocator_enable": "switches CUDA's caching allocator, which a CPU run does not use",
    "torch.cuda.caching_allocator_disabled": "switches CUDA's caching allocator, which a CPU run does not use",
    "torch.cuda.CUDAPluggableAllocator": "loads a CUDA allocator from a shared library",
    "torch.cuda.change_current_allocator": "installs a CUDA allocator",
    "torch.cuda.MemPool": "a pool of the CUDA caching allocator",
    "torch.cuda.use_mem_pool": "routes allocations to a CUDA MemPool",
    "torch.cuda.GreenContext": "partitions a GPU's streaming multiprocessors",
    "torch.cuda.current_blas_handle": "a cuBLAS handle pointer: only CUDA kernels can use it",
    "torch.cuda.current_solver_handle": "a cuSOLVER handle pointer: only CUDA kernels can use it",
    "torch.cuda.get_stream_from_external": "wraps a cudaStream_t pointer made by another CUDA library",
    "torch.accelerator.get_device_capability": "a backend-defined dict that torch 2.13 defines for no CPU device; "
                                               "torch.cuda.get_device_capability answers (0, 0)",
}


__all__ = ["PASSED_THROUGH", "UNSUPPORTED"]
