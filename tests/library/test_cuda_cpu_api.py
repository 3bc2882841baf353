"""``torch.cuda`` stand-ins, streams/events, AMP and distributed helpers of the
``cuda-to-cpu`` library, called directly (nothing is installed into torch)."""
from __future__ import annotations

import time

import pytest
import torch

from npatch.library.cuda_cpu import amp, cuda_api, distributed, streams


@pytest.fixture
def fresh_device():
    saved = cuda_api._current
    yield
    cuda_api._current = saved


@pytest.fixture
def cpu_rng():
    state = torch.get_rng_state()
    yield
    torch.set_rng_state(state)


def test_availability_and_count(monkeypatch):
    assert cuda_api.is_available() is True
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert cuda_api.device_count() == 1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert cuda_api.device_count() == 4
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "junk")
    assert cuda_api.device_count() == 1


@pytest.mark.usefixtures("fresh_device")
def test_set_device_and_device_contexts():
    cuda_api.set_device(2)
    assert cuda_api.current_device() == 2
    cuda_api.set_device("cuda:1")
    assert cuda_api.current_device() == 1
    cuda_api.set_device(torch.device("cuda", 3))
    assert cuda_api.current_device() == 3
    cuda_api.set_device("cuda")
    assert cuda_api.current_device() == 3
    with cuda_api.device(0):
        assert cuda_api.current_device() == 0
    assert cuda_api.current_device() == 3
    with cuda_api.device_of(torch.ones(1)):
        assert cuda_api.current_device() == 3
    with pytest.raises(ValueError, match="CUDA device"):
        cuda_api.set_device(1.5)


def test_device_description():
    props = cuda_api.get_device_properties(0)
    assert props.total_memory > 0 and props.multi_processor_count >= 1 and (props.major, props.minor) == (0, 0)
    assert "cuda-to-cpu" in cuda_api.get_device_name()
    assert cuda_api.get_device_capability() == (0, 0)
    free, total = cuda_api.mem_get_info()
    assert 0 <= free <= total
    assert cuda_api.is_bf16_supported() and cuda_api.utilization() == 0
    assert cuda_api.synchronize() is None and cuda_api.init() is None and cuda_api.ipc_collect() is None


@pytest.mark.usefixtures("cpu_rng")
def test_seeding_the_device_seeds_the_cpu_generator():
    cuda_api.manual_seed(123)
    a = torch.rand(3)
    cuda_api.manual_seed_all(123)
    assert torch.equal(a, torch.rand(3))
    assert cuda_api.initial_seed() == 123
    torch.manual_seed(7)  # calls torch.cuda.manual_seed_all: no recursion with the stand-in either
    cuda_api.manual_seed_all(7)
    assert cuda_api.initial_seed() == 7


@pytest.mark.usefixtures("cpu_rng")
def test_rng_state_round_trip_and_foreign_state():
    state = cuda_api.get_rng_state()
    first = torch.rand(2)
    cuda_api.set_rng_state(state)
    assert torch.equal(first, torch.rand(2))
    states = cuda_api.get_rng_state_all()
    assert len(states) == cuda_api.device_count()
    cuda_api.set_rng_state_all(states)
    with pytest.warns(RuntimeWarning, match="CUDA RNG state"):
        cuda_api.set_rng_state(torch.zeros(16, dtype=torch.uint8))  # a real GPU's Philox state


def test_memory_counters():
    assert cuda_api.memory_zero() == 0 and cuda_api.memory_zero("cuda:0") == 0
    assert cuda_api.memory_nothing() is None
    assert cuda_api.memory_stats() == {}
    assert "no CUDA memory" in cuda_api.memory_summary(abbreviated=True)
    assert cuda_api.set_per_process_memory_fraction(0.5) is None
    assert "no GPU processes" in cuda_api.list_gpu_processes()


def test_nvtx_is_silent():
    assert cuda_api.nvtx_range_push("x") == 0 and cuda_api.nvtx_range_pop() == 0
    assert cuda_api.nvtx_range_start("x") == 0
    assert cuda_api.nvtx_range_end(0) is None and cuda_api.nvtx_mark("m") is None


def test_event_timing():
    start, end = streams.Event(enable_timing=True), streams.Event(enable_timing=True)
    with pytest.raises(RuntimeError, match="recorded"):
        start.elapsed_time(end)
    start.record()
    time.sleep(0.01)
    end.record(streams.current_stream())
    end.synchronize()
    assert start.elapsed_time(end) >= 5.0 and start.query() and end.wait() is None


def test_streams():
    side = streams.Stream(priority=-1)
    assert side == streams.current_stream() == streams.default_stream() and side.device.type == "cpu"
    side.wait_stream(streams.current_stream())
    event = side.record_event()
    side.wait_event(event)
    assert side.query() and side.synchronize() is None and event._time is not None
    with streams.stream(side):
        pass
    with side:
        pass
    assert streams.ExternalStream(1234).query()
    record = streams.record_stream(lambda t, s: "original", {})
    assert record(torch.ones(1), side) is None
    assert record(torch.ones(1, device="meta"), side) == "original"


def _fresh_autocast(wrapper, *args, **kwargs):
    obj = torch.amp.autocast.__new__(torch.amp.autocast)
    wrapper(obj, *args, **kwargs)
    return obj


def test_autocast_cuda_regions_run_in_float32():
    init = amp.autocast_init(torch.amp.autocast.__init__, {"cpu": False})
    region = _fresh_autocast(init, "cuda", dtype=torch.float16)
    assert region.device == "cuda" and region._enabled is False
    with region:
        assert not torch.is_autocast_enabled("cuda")
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    assert _fresh_autocast(init, "cpu")._enabled is True


def test_autocast_cuda_regions_on_cpu_autocast():
    init = amp.autocast_init(torch.amp.autocast.__init__, {"cpu": True, "dtype": "bfloat16"})
    region = _fresh_autocast(init, "cuda", torch.float16)
    assert region.device == "cpu" and region.fast_dtype == torch.bfloat16
    with region:
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16


def test_grad_scaler_is_a_pass_through():
    init = amp.grad_scaler_init(torch.amp.GradScaler.__init__, {})
    scaler = torch.amp.GradScaler.__new__(torch.amp.GradScaler)
    init(scaler, "cuda", 2.0**10)
    assert not scaler.is_enabled() and scaler.get_scale() == 1.0
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.weight.detach().clone()
    loss = model(torch.ones(1, 2)).sum()
    assert scaler.scale(loss) is loss
    loss.backward()
    scaler.unscale_(optimizer)
    scaler.step(optimizer)
    scaler.update()
    assert not torch.equal(before, model.weight)
    assert scaler.state_dict() == {}
    scaler.load_state_dict({"scale": 65536.0, "growth_factor": 2.0})
    kept = torch.amp.GradScaler.__new__(torch.amp.GradScaler)
    init(kept, "cpu", enabled=True)
    assert kept.is_enabled()


@pytest.mark.parametrize("backend, expected", [
    ("nccl", "gloo"), ("NCCL", "gloo"), ("cuda:nccl", "gloo"), ("cpu:gloo,cuda:nccl", "gloo"), (None, "gloo"),
    ("gloo", "gloo"), ("mpi", "mpi"),
])
def test_backend_mapping(backend, expected):
    assert distributed._gloo(backend) == expected


def test_rebinding_wrappers_edit_arguments_by_name():
    seen = {}

    def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1,
                           store=None, group_name="", pg_options=None, device_id=None):
        seen.update(backend=backend, device_id=device_id, rank=rank)

    distributed.init_process_group(init_process_group, {})("nccl", rank=1, device_id=torch.device("cuda", 1))
    assert seen == {"backend": "gloo", "device_id": None, "rank": 1}

    def barrier(group=None, async_op=False, device_ids=None):
        seen.update(device_ids=device_ids)

    distributed.barrier(barrier, {})(device_ids=[0])
    assert seen["device_ids"] is None

    def new_group(ranks=None, timeout=None, backend=None, pg_options=None, device_id=None):
        seen.update(group_backend=backend)

    wrapped = distributed.new_group(new_group, {})
    wrapped([0, 1], None, "nccl")
    assert seen["group_backend"] == "gloo"
    wrapped([0, 1])
    assert seen["group_backend"] is None

    def ddp(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True):
        seen.update(ddp=(device_ids, output_device, dim))

    distributed.ddp_init(ddp, {})(object(), torch.nn.Linear(1, 1), [0], 0, 1)
    assert seen["ddp"] == (None, None, 1)


def test_data_parallel_is_transparent():
    model = torch.nn.Linear(2, 1)
    parallel = torch.nn.DataParallel.__new__(torch.nn.DataParallel)
    distributed.data_parallel_init(parallel, model, device_ids=[0, 1], output_device=0)
    x = torch.ones(3, 2)
    assert torch.equal(parallel(x), model(x)) and parallel.module is model


def test_sync_batchnorm_outside_a_process_group_is_the_original():
    forward = distributed.sync_batchnorm_forward(lambda self, x: "original", {})
    bn = torch.nn.SyncBatchNorm(3)
    assert forward(bn, torch.ones(2, 3)) == "original"
    assert distributed.ddp_accept_sync_batchnorm(object(), bn) is None
