"""Device mapping of the ``cuda-to-cpu`` library, called directly on the real
torch builtins (the wrappers are built here, never installed into torch)."""
from __future__ import annotations

import enum
import pickle

import pytest
import torch

from npatch.library.cuda_cpu import devices


@pytest.mark.parametrize("device, expected", [
    ("cuda", True), ("cuda:0", True), ("cuda:3", True), (torch.device("cuda"), True), (torch.device("cuda", 1), True),
    (0, True), (5, True), ("cpu", False), ("meta", False), (torch.device("cpu"), False), ("cudax", False),
    (True, False), (None, False), (torch.float16, False),
])
def test_is_cuda_device(device, expected):
    assert devices.is_cuda_device(device) is expected


def test_ordinals_can_be_excluded():
    assert devices.is_cuda_device(0, ordinals=False) is False
    assert devices.to_cpu(2, ordinals=False) == 2
    assert devices.to_cpu("cuda:1") == "cpu"


@pytest.mark.parametrize("name", ["zeros", "ones", "empty", "randn", "rand"])
@pytest.mark.parametrize("device", ["cuda", "cuda:1", torch.device("cuda", 0), 0])
def test_factories_map_device_keyword(name, device):
    wrapped = devices.device_kwarg(getattr(torch._C._VariableFunctions, name), {})
    out = wrapped(2, 3, device=device)
    assert out.device.type == "cpu" and out.shape == (2, 3)


def test_factory_keeps_other_arguments_and_unpins():
    tensor = devices.device_kwarg(torch._C._VariableFunctions.tensor, {})
    out = tensor([1.0, 2.0], dtype=torch.float64, device="cuda", pin_memory=True)
    assert out.dtype == torch.float64 and out.device.type == "cpu" and not out.is_pinned()
    full = devices.device_kwarg(torch._C._VariableFunctions.full, {})
    assert full((2,), 7.0, device="meta").device.type == "meta"
    assert full((2,), 7).tolist() == [7, 7]


def test_wrapper_looks_like_the_original():
    wrapped = devices.device_kwarg(torch._C._VariableFunctions.zeros, {})
    assert wrapped.__name__ == "zeros" and wrapped.__wrapped__ is torch._C._VariableFunctions.zeros


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_torchscript_compiles_a_call_to_the_wrapper():
    wrapped = devices.device_kwarg(torch._C._VariableFunctions.zeros_like, {})

    def f(x: torch.Tensor) -> torch.Tensor:
        return wrapped(x) + 1

    assert torch.jit.script(f)(torch.ones(2)).tolist() == [1.0, 1.0]


@pytest.mark.parametrize("call", [
    lambda to, x: to(x, "cuda"),
    lambda to, x: to(x, "cuda:0", non_blocking=True),
    lambda to, x: to(x, 0),
    lambda to, x: to(x, torch.device("cuda", 1), torch.float64),
    lambda to, x: to(x, device="cuda", dtype=torch.float64),
])
def test_tensor_to(call):
    to = devices.to_method(torch._C.TensorBase.to, {})
    x = torch.ones(2, dtype=torch.float32)
    out = call(to, x)
    assert out.device.type == "cpu"


def test_tensor_to_leaves_dtype_and_tensor_arguments():
    to = devices.to_method(torch._C.TensorBase.to, {})
    x = torch.ones(2)
    assert to(x, torch.float16).dtype == torch.float16
    assert to(x, torch.zeros(1, dtype=torch.int64)).dtype == torch.int64
    assert to(x, "cuda") is x  # no copy when nothing changes, as Tensor.to


def _record(*args, **kwargs):
    return args, kwargs


#: what the wrappers pass for a CUDA device: a torch.device, which torch parses faster than ``'cpu'``
CPU = torch.device("cpu")


class Ordinal(enum.IntEnum):
    RANK = 1


@pytest.mark.parametrize("args, kwargs, expected", [
    ((), {}, ((), {})),
    (("cuda",), {}, ((CPU,), {})),
    (("cuda:0",), {}, ((CPU,), {})),
    (("cuda:2", torch.float16), {"copy": True}, ((CPU, torch.float16), {"copy": True})),
    (("cuda",), {"non_blocking": True}, ((CPU,), {"non_blocking": True})),
    (("cuda", torch.float16, True, True), {}, ((CPU, torch.float16, True, True), {})),
    ((0,), {}, ((CPU,), {})),
    ((3, torch.float64), {}, ((CPU, torch.float64), {})),
    ((Ordinal.RANK,), {}, ((CPU,), {})),
    ((True,), {}, ((True,), {})),
    ((None,), {}, ((None,), {})),
    (("cudax",), {}, (("cudax",), {})),
    (("cpu",), {}, (("cpu",), {})),
    (("meta",), {}, (("meta",), {})),
    ((torch.device("cuda"),), {}, ((CPU,), {})),
    ((torch.device("cuda", 1),), {}, ((CPU,), {})),
    ((torch.device("cpu"),), {}, ((torch.device("cpu"),), {})),
    ((torch.device("meta"),), {}, ((torch.device("meta"),), {})),
    ((torch.float16,), {}, ((torch.float16,), {})),
    ((torch.float16,), {"non_blocking": True}, ((torch.float16,), {"non_blocking": True})),
    (([1],), {}, (([1],), {})),
    ((), {"device": "cuda", "dtype": torch.float16}, ((), {"device": CPU, "dtype": torch.float16})),
    ((), {"device": 2}, ((), {"device": CPU})),
    ((), {"device": torch.device("cuda", 0)}, ((), {"device": CPU})),
    ((), {"device": "meta"}, ((), {"device": "meta"})),
    ((), {"device": "cpu", "copy": True}, ((), {"device": "cpu", "copy": True})),
    ((), {"device": None}, ((), {"device": None})),
    ((), {"dtype": torch.float16}, ((), {"dtype": torch.float16})),
    ((), {"memory_format": torch.channels_last}, ((), {"memory_format": torch.channels_last})),
    ((), {"first": "cuda", "self": 1}, ((), {"first": "cuda", "self": 1})),
])
def test_to_passes_exactly_what_it_was_given_but_cuda_devices(args, kwargs, expected):
    to = devices.to_method(_record, {})
    for _ in range(2):  # the second call answers from the remembered devices
        out = to("self", *args, **dict(kwargs))
        assert out == (("self", *expected[0]), expected[1])
        assert [type(a) for a in out[0]] == [type(a) for a in ("self", *expected[0])]


def test_to_passes_a_tensor_argument_itself():
    to = devices.to_method(_record, {})
    other = torch.zeros(1, dtype=torch.int64)
    for _ in range(2):
        args, kwargs = to("self", other, non_blocking=True)
        assert args[1] is other and kwargs == {"non_blocking": True}


@pytest.mark.parametrize("kwargs, expected", [
    ({}, {}), ({"device": "cuda:1"}, {"device": CPU}), ({"device": 3}, {"device": CPU}),
    ({"device": Ordinal.RANK}, {"device": CPU}), ({"device": True}, {"device": True}),
    ({"device": "cpu", "pin_memory": True}, {"device": "cpu", "pin_memory": False}),
    ({"device": [0]}, {"device": [0]}), ({"device": torch.device("cuda")}, {"device": CPU}),
    ({"pin_memory": False, "dtype": None}, {"pin_memory": False, "dtype": None}), ({"device": None}, {"device": None}),
])
def test_factory_passes_exactly_what_it_was_given_but_cuda_devices(kwargs, expected):
    factory = devices.device_kwarg(_record, {})
    for _ in range(2):
        out = factory(2, 3, **dict(kwargs))
        assert out == ((2, 3), expected)
        assert {k: type(v) for k, v in out[1].items()} == {k: type(v) for k, v in expected.items()}


#: ``x.to(...)`` with CUDA arguments, and the call a CPU program makes instead
TO_CALLS = [
    (("cuda",), {}, ("cpu",), {}),
    (("cuda:0",), {}, ("cpu",), {}),
    ((torch.device("cuda"),), {}, ("cpu",), {}),
    ((torch.device("cuda", 1),), {}, ("cpu",), {}),
    ((0,), {}, ("cpu",), {}),
    ((1, torch.float64), {}, ("cpu", torch.float64), {}),
    (("cuda", torch.float16, True, True), {}, ("cpu", torch.float16, True, True), {}),
    (("cuda",), {"non_blocking": True}, ("cpu",), {"non_blocking": True}),
    (("cuda",), {"copy": True}, ("cpu",), {"copy": True}),
    (("cuda",), {"memory_format": torch.channels_last}, ("cpu",), {"memory_format": torch.channels_last}),
    ((), {"device": "cuda", "dtype": torch.float64}, (), {"device": "cpu", "dtype": torch.float64}),
    ((), {"device": 0, "copy": True}, (), {"device": "cpu", "copy": True}),
    ((torch.float16,), {}, (torch.float16,), {}),
    ((torch.float16,), {"copy": True}, (torch.float16,), {"copy": True}),
    ((), {"dtype": torch.float16}, (), {"dtype": torch.float16}),
    (("cpu",), {}, ("cpu",), {}),
    (("meta",), {}, ("meta",), {}),
    ((), {"device": "meta"}, (), {"device": "meta"}),
]


@pytest.mark.parametrize("args, kwargs, cpu_args, cpu_kwargs", TO_CALLS)
def test_tensor_to_answers_as_the_cpu_call(args, kwargs, cpu_args, cpu_kwargs):
    to = devices.to_method(torch._C.TensorBase.to, {})
    x = torch.arange(24.0).reshape(1, 2, 3, 4)
    for _ in range(2):
        out, native = to(x, *args, **kwargs), x.to(*cpu_args, **cpu_kwargs)
        assert (out is x) == (native is x)
        assert (out.device, out.dtype, out.stride()) == (native.device, native.dtype, native.stride())
        if out.device.type == "cpu":
            assert torch.equal(out, native)
    other = torch.zeros(1, dtype=torch.int64)
    assert to(x, other).dtype == torch.int64 and to(x, other, copy=True).data_ptr() != x.data_ptr()


def test_module_to_and_cuda():
    to = devices.to_method(torch.nn.Module.to, {})
    model = torch.nn.Linear(2, 2)
    assert to(model, "cuda:0") is model and to(model, 1, torch.float64) is model
    assert model.weight.dtype == torch.float64
    assert devices.module_cuda(model) is model and model.weight.device.type == "cpu"
    to_empty = devices.device_kwarg(torch.nn.Module.to_empty, {})
    assert to_empty(torch.nn.Linear(2, 2, device="meta"), device="cuda").weight.device.type == "cpu"


def test_tensor_cuda_and_pin_memory():
    x = torch.ones(2, 3)
    assert devices.tensor_cuda(x) is x
    assert devices.tensor_cuda(x, 1, non_blocking=True) is x
    assert devices.tensor_cuda(x.unsqueeze(0).unsqueeze(0), memory_format=torch.channels_last).is_contiguous(
        memory_format=torch.channels_last)
    assert devices.tensor_pin_memory(x) is x
    leaf = torch.ones(2, requires_grad=True)
    devices.tensor_cuda(leaf).sum().backward()
    assert leaf.grad.tolist() == [1.0, 1.0]


def _gpu_checkpoint(path):
    """A checkpoint whose storages say ``cuda:0``, as one saved on a GPU does."""
    original = torch.serialization.location_tag
    torch.serialization.location_tag = lambda storage: "cuda:0"
    try:
        torch.save({"w": torch.arange(3.0)}, path)
    finally:
        torch.serialization.location_tag = original


@pytest.mark.parametrize("map_location", [
    None, "cuda", "cuda:1", torch.device("cuda", 0), 0, {"cuda:0": "cuda:1"}, lambda storage, loc: storage.cuda(),
])
def test_load_maps_every_cuda_location_to_cpu(tmp_path, map_location):
    path = tmp_path / "gpu.pt"
    _gpu_checkpoint(path)
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(path)
    load = devices.load(torch.serialization.load, {})
    out = load(path, map_location) if map_location is not None else load(path)
    assert out["w"].tolist() == [0.0, 1.0, 2.0] and out["w"].device.type == "cpu"


def test_load_keeps_other_locations(tmp_path):
    path = tmp_path / "cpu.pt"
    torch.save({"w": torch.ones(2)}, path)
    load = devices.load(torch.serialization.load, {})
    assert load(path, map_location="meta")["w"].device.type == "meta"
    assert load(path, "cpu", pickle_module=pickle, weights_only=False)["w"].tolist() == [1.0, 1.0]


def test_device_context_and_constructors():
    from torch.utils import _device

    init = devices.device_context_init(_device.DeviceContext.__init__, {})
    context = _device.DeviceContext.__new__(_device.DeviceContext)
    init(context, "cuda:1")
    assert context.device == torch.device("cpu")

    wrapped_zeros = devices.device_kwarg(torch._C._VariableFunctions.zeros, {})
    constructors = devices.device_constructors(lambda: {wrapped_zeros}, {})
    found = constructors()
    assert torch._C._VariableFunctions.zeros in found and wrapped_zeros in found
    assert constructors() is found
