"""`npatch diff --write` changes the rewritten spans and nothing else, byte for
byte: line endings (LF, CRLF, old-Mac CR), a byte-order mark, an encoding
cookie, tabs and form feeds, a missing final newline, and the file's mode.

Each file's expected bytes are the original with the two edits cuda-to-npu
makes (``torch.cuda.synchronize`` renamed, ``import torch_npu`` after
``import torch``) done by hand on the bytes.
"""
from __future__ import annotations

import os
import stat

import pytest

from npatch_testutil import run_npatch

CASES = {
    "lf.py": b"import torch\ntorch.cuda.synchronize()\nz = 1\n",
    "crlf.py": b"import torch\r\n\r\ndef f():\r\n\ttorch.cuda.synchronize()  # x\r\n\treturn 1\r\n",
    "bom.py": b"\xef\xbb\xbfimport torch\n# caf\xc3\xa9\ntorch.cuda.synchronize()\n",
    "latin1.py": b"# -*- coding: latin-1 -*-\nimport torch\ns = 'caf\xe9'\ntorch.cuda.synchronize()\n",
    "formfeed.py": b"import torch\n\x0c\ntorch.cuda.synchronize()\n",
    "no_final_newline.py": b"import torch\ntorch.cuda.synchronize()",
    "cr.py": b"import torch\rtorch.cuda.synchronize()\rz = 1\r",
    "cr_blank_end.py": b"import torch\rtorch.cuda.synchronize()\r\r",
}


def expected(data: bytes) -> bytes:
    newline = b"\r\n" if b"\r\n" in data else b"\r" if b"\r" in data and b"\n" not in data else b"\n"
    head = b"import torch" + newline
    return data.replace(head, head + b"import torch_npu" + newline, 1).replace(
        b"torch.cuda.synchronize", b"torch.npu.synchronize")


@pytest.mark.parametrize("name", sorted(CASES))
def test_write_keeps_every_byte_outside_the_edits(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(CASES[name])
    os.chmod(path, 0o751)
    out = run_npatch("diff", "cuda-to-npu", str(path), "--write", cwd=tmp_path)
    data = path.read_bytes()
    if data != CASES[name]:  # rewritten: exactly the two edits
        assert data == expected(CASES[name]), out.stderr
        assert stat.S_IMODE(path.stat().st_mode) == 0o751
    else:  # refused: said so, not silently
        assert out.returncode != 0 and "error" in out.stderr and "Traceback" not in out.stderr, out.stderr

