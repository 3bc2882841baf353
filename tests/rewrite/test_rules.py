"""Each rule kind as before/after pairs (and code that must stay as it is)."""
from __future__ import annotations

import textwrap

import pytest

from rewrite_helpers import rewrite_text, rw

RENAME_SYNC = rw("sync", "rename", from_="torch.cuda.synchronize", to="torch.npu.synchronize")
RENAME_CUDA = rw("cuda", "rename", from_="torch.cuda", to="torch.npu")


def check(rule, before: str, after: str | None = None) -> None:
    """``before`` becomes ``after`` (None: stays unchanged), with and without the
    engine's shortcuts, and a second run changes nothing."""
    before = textwrap.dedent(before).lstrip("\n")
    expected = before if after is None else textwrap.dedent(after).lstrip("\n")
    got = rewrite_text(before, rule)
    assert got == expected
    assert rewrite_text(before, rule, optimize=False) == expected
    assert rewrite_text(got, rule) == got


# -- rename ---------------------------------------------------------------------------
@pytest.mark.parametrize("before, after", [
    ("import torch\ntorch.cuda.synchronize()\n", "import torch\ntorch.npu.synchronize()\n"),
    ("import torch as T\nT.cuda.synchronize()\n", "import torch as T\nT.npu.synchronize()\n"),
    ("from torch.cuda import synchronize as s\ns()\n", "from torch.npu import synchronize as s\ns()\n"),
    ("from torch.cuda import synchronize\nsynchronize()\n", "from torch.npu import synchronize\nsynchronize()\n"),
    ("import torch.cuda as tc\ntc.synchronize()\n", "import torch.cuda as tc\nimport torch\ntorch.npu.synchronize()\n"),
    ("@torch.cuda.synchronize\ndef f(): pass\nimport torch\n", "@torch.npu.synchronize\ndef f(): pass\nimport torch\n"),
])
def test_rename_matches_every_import_spelling(before, after):
    check(RENAME_SYNC, before, after)


def test_rename_from_torch_import_cuda_spells_out_the_new_name_and_imports_it():
    check(RENAME_SYNC, """
        from torch import cuda
        cuda.synchronize()
    """, """
        from torch import cuda
        import torch
        torch.npu.synchronize()
    """)


def test_rename_does_not_touch_shadowing_locals_or_other_receivers():
    check(RENAME_SYNC, """
        import torch

        def f(torch):
            torch.cuda.synchronize()

        def g():
            torch = make()
            torch.cuda.synchronize()

        class A:
            def synchronize(self):
                self.cuda.synchronize()
        x.cuda.synchronize()
        synchronize()
    """)


def test_rename_leaves_unrelated_imports_and_names_alone():
    check(RENAME_SYNC, """
        from mylib import cuda
        import numpy as torch
        cuda.synchronize()
        torch.cuda.synchronize()
    """)


def test_rename_of_a_module_moves_from_imports_keeping_bindings():
    check(RENAME_CUDA, """
        import torch
        from torch import cuda, nn
        from torch.cuda.amp import autocast
        from torch.cuda import (
            Stream,
            Event,
        )
        x = cuda.Stream()
        with torch.cuda.device(0):
            pass
    """, """
        import torch
        from torch import nn
        from torch import npu as cuda
        from torch.npu.amp import autocast
        from torch.npu import (
            Stream,
            Event,
        )
        x = cuda.Stream()
        with torch.npu.device(0):
            pass
    """)


def test_rename_splits_a_from_import_and_keeps_the_other_names():
    check(RENAME_SYNC, """
        from torch.cuda import synchronize, is_available
        synchronize()
    """, """
        from torch.cuda import is_available
        from torch.npu import synchronize
        synchronize()
    """)


def test_rename_keeps_spacing_comments_and_parentheses_around_the_edit():
    check(RENAME_CUDA, """
        import torch
        x = (torch.cuda  # keep me
             .current_device())   # and me
        y = torch . cuda . Stream( )
    """, """
        import torch
        x = (torch.npu  # keep me
             .current_device())   # and me
        y = torch . npu . Stream( )
    """)


def test_rename_with_a_conflicting_binding_is_left_and_recorded_as_skipped():
    source = "from torch import cuda\ntorch = None\ncuda.synchronize()\n"
    from npatch.rewrite.engine import Engine
    from npatch.rewrite.rules import build_rules

    text, records = Engine(build_rules([RENAME_SYNC]), use_globs=False).transform_text(source)
    assert text == source
    assert [r.type for r in records] == ["skipped"]
    assert "`torch` is bound" in records[0].message


@pytest.mark.parametrize("header", [
    '"""Module docstring."""\n',
    "#!/usr/bin/env python\n# -*- coding: utf-8 -*-\n",
    '"""Doc."""\nfrom __future__ import annotations\n',
    "#!/usr/bin/env python\n\"\"\"Doc.\"\"\"\n\nfrom __future__ import annotations\nimport os\n",
])
def test_added_import_goes_below_shebang_docstring_and_future(header):
    body = "from torch import cuda\ncuda.synchronize()\n"
    got = rewrite_text(header + body, RENAME_SYNC)
    assert got.startswith(header)
    assert got == header + "from torch import cuda\nimport torch\ntorch.npu.synchronize()\n"
    compile(got, "x.py", "exec")


def test_rename_import_option_names_the_module_to_import():
    rule = rw("s", "rename", from_="torch.cuda.synchronize", to="torch.npu.synchronize", import_="torch.npu")
    check(rule, "def f():\n    from torch import cuda\n    cuda.synchronize()\n",
          "import torch.npu\ndef f():\n    from torch import cuda\n    torch.npu.synchronize()\n")


def test_rename_of_a_top_level_package_keeps_the_binding():
    check(rw("pkg", "rename", from_="apex", to="npu_apex"), "import apex\napex.amp.x()\n",
          "import npu_apex as apex\napex.amp.x()\n")


# -- method ---------------------------------------------------------------------------
def test_method_renames_calls_on_any_receiver_only():
    rule = rw("m", "method", from_="cuda", to="npu")
    check(rule, """
        x = x.cuda()
        y = model.backbone(x).cuda(0, non_blocking=True)
        z = x.cuda
        w = cuda(x)
        torch.cuda.is_available()
    """, """
        x = x.npu()
        y = model.backbone(x).npu(0, non_blocking=True)
        z = x.cuda
        w = cuda(x)
        torch.cuda.is_available()
    """)


# -- argument -------------------------------------------------------------------------
DEVICE = rw("d", "argument", callables=["torch.device", "*.to"], positions=[0], keywords=["device"],
            values={"cuda": "npu"})


def test_argument_maps_string_values_with_prefix_semantics():
    check(DEVICE, """
        import torch as T
        a = T.device('cuda')
        b = T.device("cuda:1")
        c = x.to('cuda', non_blocking=True)
        d = x.to(device=r'cuda:0')
        e = x.to(f"cuda:{rank}")
        f = T.device('cudagraph')
        g = x.to('cpu')
        h = x.to(b'cuda')
        i = x.to('cu' 'da')
        j = x.to(f'cuda{suffix}')
        k = T.device(*args, 'cuda')
        l = x.to(0, 'cuda')
    """, """
        import torch as T
        a = T.device('npu')
        b = T.device("npu:1")
        c = x.to('npu', non_blocking=True)
        d = x.to(device=r'npu:0')
        e = x.to(f"npu:{rank}")
        f = T.device('cudagraph')
        g = x.to('cpu')
        h = x.to(b'cuda')
        i = x.to('cu' 'da')
        j = x.to(f'cuda{suffix}')
        k = T.device(*args, 'cuda')
        l = x.to(0, 'cuda')
    """)


def test_argument_qualified_callables_match_through_imports_only():
    check(DEVICE, """
        from torch import device as dev
        device = make_device
        a = dev('cuda')
        b = device('cuda')
        c = other.device('cuda')
    """, """
        from torch import device as dev
        device = make_device
        a = dev('npu')
        b = device('cuda')
        c = other.device('cuda')
    """)


def test_argument_longer_key_wins():
    rule = rw("d", "argument", callables=["*"], keywords=["device"], values={"cuda": "npu", "cuda:1": "npu:0"})
    check(rule, "f(device='cuda:1')\nf(device='cuda:2')\n", "f(device='npu:0')\nf(device='npu:2')\n")


# -- import ---------------------------------------------------------------------------
ADD_NPU = rw("i", "import", add="torch_npu", after="torch")


def test_import_add_after_the_first_import_of_a_module():
    check(ADD_NPU, """
        import os
        from torch.nn import functional as F  # first
        import torch
    """, """
        import os
        from torch.nn import functional as F  # first
        import torch_npu
        import torch
    """)


def test_import_add_prefers_module_level_and_follows_try_blocks():
    check(ADD_NPU, """
        def f():
            import torch
        try:
            import torch
        except ImportError:
            torch = None
    """, """
        def f():
            import torch
        try:
            import torch
            import torch_npu
        except ImportError:
            torch = None
    """)


def test_import_add_is_skipped_when_present_or_module_missing():
    check(ADD_NPU, "import torch\nfrom torch_npu.contrib import transfer_to_npu\n")
    check(ADD_NPU, "import numpy\n")
    check(ADD_NPU, "def f():\n    import torch_npu\nimport torch\n")


def test_import_add_inside_a_one_line_suite():
    check(ADD_NPU, "if HAS_TORCH: import torch\n", "if HAS_TORCH: import torch; import torch_npu\n")


def test_import_add_with_uses_only_where_the_word_occurs():
    rule = rw("i", "import", add="torch_npu", after="torch", uses=["npu"])
    check(rule, "import torch\nx = x.cpu()\n")
    check(rule, "import torch\nx = x.to('npu')\n", "import torch\nimport torch_npu\nx = x.to('npu')\n")


@pytest.mark.parametrize("header", [
    '"""Doc."""\n', "#!/usr/bin/env python\n", '"""Doc."""\nfrom __future__ import annotations\n', ""])
def test_import_add_at_top_respects_docstring_future_and_shebang(header):
    rule = rw("i", "import", add="torch_npu", name="contrib")
    got = rewrite_text(header + "import os\n\nx = 1\n", rule)
    assert got == header + "import os\nfrom torch_npu import contrib\n\nx = 1\n"


def test_import_remove_keeps_comments_and_fills_empty_blocks():
    check(rw("r", "import", remove="apex"), """
        import os, apex.amp

        # mixed precision
        import apex
        from apex.optimizers import FusedAdam
        x = 1
        try:
            import apex
        except ImportError:
            pass
        if x: import apex
    """, """
        import os

        # mixed precision
        x = 1
        try:
            pass
        except ImportError:
            pass
        if x: pass
    """)


def test_import_replace_keeps_bindings():
    check(rw("r", "import", from_="apex.amp", to="torch_npu.npu.amp"), """
        import apex.amp as amp
        from apex.amp import scale_loss
        from apex import amp as A
        import apex
    """, """
        import torch_npu.npu.amp as amp
        from torch_npu.npu.amp import scale_loss
        from torch_npu.npu import amp as A
        import apex
    """)


# -- unsupported ------------------------------------------------------------------------
def test_unsupported_reports_uses_once_and_changes_nothing():
    from npatch.rewrite.engine import Engine
    from npatch.rewrite.rules import build_rules

    rule = rw("u", "unsupported", names=["torch.cuda.nvtx"], methods=["record_stream"])
    source = textwrap.dedent("""
        import torch
        from torch.cuda import nvtx
        torch.cuda.nvtx.range_push('a')
        nvtx.range_pop()
        x.record_stream(s)

        def f(torch):
            torch.cuda.nvtx.mark('shadowed')
    """)
    engine = Engine(build_rules([rule]), use_globs=False, positions=True)
    text, records = engine.transform_text(source)
    assert text == source
    assert [(r.type, r.line, r.before) for r in records] == [
        ("unsupported", 3, "from torch.cuda import nvtx"),
        ("unsupported", 4, "torch.cuda.nvtx.range_push"),
        ("unsupported", 5, "nvtx.range_pop"),
        ("unsupported", 6, "x.record_stream"),
    ]
