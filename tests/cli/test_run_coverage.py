"""Run coverage (``npatch apply --coverage``), ``npatch report`` and ``--record``, in fresh interpreters."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from npatch_testutil import REPO, clean_env, run_npatch, torchrun

TRAIN = REPO / "examples" / "train_cuda.py"


@pytest.fixture
def env(tmp_path):
    return clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))


@pytest.fixture
def pkg(tmp_path):
    """A target module, a replacement, a wrapper, and a manifest over them."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "covtarget.py").write_text(textwrap.dedent("""
        def g(x):
            return ("g", x)

        def h(x):
            return ("h", x)

        def unused(x):
            return x

        class K:
            def m(self):
                return "m"
    """))
    (src / "covrepl.py").write_text(textwrap.dedent("""
        def g(x):
            return ("repl.g", x)

        def make(original, options):
            def wrapper(x):
                return ("wrapped",) + original(x)
            return wrapper

        class K2:
            pass
    """))
    (tmp_path / "m.toml").write_text(textwrap.dedent("""
        [manifest]
        name = "covdemo"

        [[patch]]
        name = "g"
        target = "covtarget:g"
        replace = "covrepl:g"

        [[patch]]
        name = "h"
        target = "covtarget:h"
        wrap = "covrepl:make"

        [[patch]]
        name = "unused"
        target = "covtarget:unused"
        replace = "covrepl:g"

        [[patch]]
        name = "klass"
        target = "covtarget:K"
        replace = "covrepl:K2"

        [[patch]]
        name = "never-imported"
        target = "covnothere:f"
        replace = "covrepl:g"
    """))
    (tmp_path / "prog.py").write_text(textwrap.dedent("""
        import sys
        import covtarget, covrepl
        print("IDENTITY", covtarget.g is covrepl.g, getattr(covtarget.g, "__wrapped__", None) is covrepl.g)
        for i in range(5):
            covtarget.g(i)
        covtarget.h(1)
        covtarget.h(2)
        print("RESULT", covtarget.g(0), covtarget.h(0))
    """))
    return tmp_path


def demo_env(env, pkg):
    return dict(env, PYTHONPATH=str(pkg / "src"))


def test_plain_run_installs_the_replacement_itself(pkg, env):
    proc = run_npatch("apply", "m.toml", "--", sys.executable, "prog.py", cwd=pkg, env=demo_env(env, pkg))
    assert proc.returncode == 0, proc.stderr
    assert "IDENTITY True False" in proc.stdout


def test_coverage_counts_calls_per_op(pkg, env):
    proc = run_npatch("apply", "--coverage", "cov.json", "m.toml", "--", sys.executable, "prog.py",
                      cwd=pkg, env=demo_env(env, pkg))
    assert proc.returncode == 0, proc.stderr
    assert "IDENTITY False True" in proc.stdout  # a counting closure, wrapping the replacement itself
    assert "RESULT ('repl.g', 0) ('wrapped', 'h', 0)" in proc.stdout  # behaviour unchanged
    data = json.loads((pkg / "cov.json").read_text())
    calls = {op["name"]: (op["status"], op["calls"]) for op in data["ops"]}
    assert calls == {"g": ("applied", 6), "h": ("applied", 3), "unused": ("applied", 0),
                     "klass": ("applied", None), "never-imported": ("waiting", None)}
    assert data["coverage"] is True and data["unhandled"] == []
    table = run_npatch("report", "cov.json", cwd=pkg, env=env)
    assert table.returncode == 0, table.stderr
    assert re.search(r"^\s+6\s+applied\s+g\s+replace\s+covtarget:g$", table.stdout, re.M), table.stdout
    assert re.search(r"^\s+-\s+waiting\s+never-imported\s+replace\s+covnothere:f$", table.stdout, re.M)
    assert "exercised: 3 (2 called, 1 applied without a count); applied but never called: 1" in table.stdout
    tree = run_npatch("report", "cov.json", "--tree", cwd=pkg, env=env)
    assert tree.returncode == 0, tree.stderr
    assert re.search(r"^covdemo  \(.*m\.toml\)$", tree.stdout, re.M), tree.stdout
    assert "├──      3 applied  wrap     h  ->  covtarget:h" in tree.stdout


def test_record_disables_what_the_run_did_not_exercise(pkg, env):
    demo = demo_env(env, pkg)
    assert run_npatch("apply", "--coverage", "cov.json", "m.toml", "--", sys.executable, "prog.py",
                      cwd=pkg, env=demo).returncode == 0
    (pkg / "out").mkdir()
    proc = run_npatch("report", "cov.json", "--record", "out/min.toml", cwd=pkg, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "wrote out/min.toml: 3 op(s) kept, 2 disabled or left out\n"
    text = (pkg / "out" / "min.toml").read_text()
    assert 'include = ["../m.toml"]' in text
    assert re.search(r'^    "unused",\s+# applied, never called$', text, re.M), text
    assert re.search(r'^    "never-imported",\s+# waiting: covnothere not imported$', text, re.M), text
    assert "#   g: 6 calls" in text
    standalone = run_npatch("report", "cov.json", "--record", "std.toml", "--standalone", cwd=pkg, env=env)
    assert standalone.returncode == 0, standalone.stderr
    for manifest, ops in (("out/min.toml", "3 ops"), ("std.toml", "3 ops")):
        compiled = run_npatch("compile", manifest, cwd=pkg, env=demo)
        assert compiled.returncode == 0, compiled.stdout + compiled.stderr
        assert ops in compiled.stdout
        again = run_npatch("apply", "--coverage", "again.json", manifest, "--", sys.executable, "prog.py",
                           cwd=pkg, env=demo)
        assert again.returncode == 0, again.stderr
        assert "RESULT ('repl.g', 0) ('wrapped', 'h', 0)" in again.stdout
        ops_again = json.loads((pkg / "again.json").read_text())["ops"]
        assert {op["name"] for op in ops_again if op["status"] == "applied"} == {"g", "h", "klass"}


UNHANDLED = """\
import torch
try:
    torch.ones(1).cuda()
except Exception:
    pass
try:
    torch.zeros(2, device="cuda")
except Exception:
    pass
torch.cuda.synchronize()
"""


def test_device_api_errors_no_op_handles_are_listed(tmp_path, env):
    (tmp_path / "uses_cuda.py").write_text(UNHANDLED)
    proc = run_npatch("apply", "--coverage", "cov.json", "numpy-compat", "--", sys.executable, "uses_cuda.py",
                      cwd=tmp_path, env=env)
    assert proc.returncode == 1 and "Torch not compiled with CUDA enabled" in proc.stderr
    data = json.loads((tmp_path / "cov.json").read_text())
    found = {(Path(i["where"].split(":")[0]).name, int(i["where"].split(":")[1].split()[0]), i["api"],
              i["uncaught"]) for i in data["unhandled"]}
    assert found == {("uses_cuda.py", 3, "torch.cuda._lazy_init (a tensor on a CUDA device)", False),
                     ("uses_cuda.py", 7, "torch.cuda._lazy_init (a tensor on a CUDA device)", False),
                     ("uses_cuda.py", 10, "torch.cuda.synchronize", True)}
    assert data["summary"]["unhandled"] == 3
    table = run_npatch("report", "cov.json", cwd=tmp_path, env=env).stdout
    assert "device-API errors no op handled: 3" in table
    assert "uses_cuda.py:10 (<module>): torch.cuda.synchronize: AssertionError: Torch not compiled" in table


def test_a_handled_program_has_no_unhandled_errors_and_plain_runs_have_no_probe(tmp_path, env):
    (tmp_path / "uses_cuda.py").write_text(UNHANDLED + "print('ON', torch.ones(1).cuda().device)\n")
    proc = run_npatch("apply", "--coverage", "cov.json", "cuda-to-cpu", "--", sys.executable, "uses_cuda.py",
                      cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "ON cpu" in proc.stdout
    assert json.loads((tmp_path / "cov.json").read_text())["unhandled"] == []
    probe = "import torch.cuda; print('PROBE', torch.cuda._lazy_init.__module__)"
    plain = run_npatch("apply", "--report", "r.json", "numpy-compat", "--", sys.executable, "-c", probe,
                       cwd=tmp_path, env=env)
    assert "PROBE torch.cuda\n" in plain.stdout, plain.stderr


@pytest.mark.parametrize("args", [
    ["--coverage", "missing-dir/cov.json"],
    ["--coverage", "adir"],
    ["--coverage", "a.json", "--report", "b.json"],
])
def test_a_coverage_file_that_cannot_be_written_stops_before_the_program(tmp_path, env, args):
    (tmp_path / "target.json").write_text("keep")
    os.symlink(tmp_path / "target.json", tmp_path / "link.json")
    (tmp_path / "adir").mkdir()
    proc = run_npatch("apply", *args, "numpy-compat", "--", sys.executable, "-c", "print('RAN')",
                      cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stderr
    assert "RAN" not in proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("npatch: error: --")
    assert (tmp_path / "target.json").read_text() == "keep"


def test_a_coverage_file_planted_as_a_link_is_replaced_not_followed(tmp_path, env):
    """``--coverage`` is a report: like ``--report`` it replaces a planted link
    instead of writing through it (tests/runtime/test_report_safety.py)."""
    (tmp_path / "target.json").write_text("keep")
    os.symlink(tmp_path / "target.json", tmp_path / "link.json")
    proc = run_npatch("apply", "--coverage", "link.json", "numpy-compat", "--", sys.executable, "-c", "pass",
                      cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "target.json").read_text() == "keep"
    assert not (tmp_path / "link.json").is_symlink() and json.loads((tmp_path / "link.json").read_text())["ops"]


def test_report_errors_are_one_line(tmp_path, env):
    (tmp_path / "bad.json").write_text('{"ops": [\n  1,,\n]}')
    (tmp_path / "plain.json").write_text(json.dumps({"ops": [], "summary": {"processes": 1}, "processes": []}))
    (tmp_path / "target.toml").write_text("keep")
    os.symlink(tmp_path / "target.toml", tmp_path / "link.toml")
    cases = [
        (["missing.json"], 2, "missing.json: cannot read"),
        (["bad.json"], 1, "bad.json:2:5: not a JSON report"),
        (["plain.json", "--record", "x.toml"], 1, "written with --report"),
        (["plain.json", "--standalone"], 2, "--standalone goes with --record"),
    ]
    for args, code, message in cases:
        proc = run_npatch("report", *args, cwd=tmp_path, env=env)
        assert proc.returncode == code, (args, proc.stderr)
        assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "x.toml").exists()


def test_record_never_writes_through_a_link(pkg, env):
    assert run_npatch("apply", "--coverage", "cov.json", "m.toml", "--", sys.executable, "prog.py",
                      cwd=pkg, env=demo_env(env, pkg)).returncode == 0
    (pkg / "elsewhere.toml").write_text("keep")
    os.symlink(pkg / "elsewhere.toml", pkg / "link.toml")
    proc = run_npatch("report", "cov.json", "--record", "link.toml", cwd=pkg, env=env)
    assert proc.returncode == 2 and "symbolic link" in proc.stderr
    assert (pkg / "elsewhere.toml").read_text() == "keep"
    assert sorted(p.name for p in pkg.iterdir() if p.name.endswith(".tmp")) == []
    manifest = (pkg / "m.toml").read_text()
    for same in ("m.toml", "./src/../m.toml"):  # the run's own manifest, by any spelling
        proc = run_npatch("report", "cov.json", "--record", same, cwd=pkg, env=env)
        assert proc.returncode == 2 and "is a manifest of the recorded run" in proc.stderr, proc.stderr
    assert (pkg / "m.toml").read_text() == manifest
    (pkg / "other").mkdir()
    proc = run_npatch("report", "cov.json", "--record", "other/covdemo.toml", cwd=pkg, env=env)
    assert proc.returncode == 0, proc.stderr
    assert 'name = "covdemo-recorded"' in (pkg / "other" / "covdemo.toml").read_text()
    assert run_npatch("compile", "other/covdemo.toml", cwd=pkg, env=demo_env(env, pkg)).returncode == 0


def test_record_never_replaces_a_manifest_it_did_not_write(pkg, env):
    """``--record mine.toml`` silently replaced a hand-written manifest of that
    name; a manifest an earlier --record wrote is refreshed."""
    assert run_npatch("apply", "--coverage", "cov.json", "m.toml", "--", sys.executable, "prog.py",
                      cwd=pkg, env=demo_env(env, pkg)).returncode == 0
    (pkg / "mine.toml").write_text("# my own manifest\n")
    (pkg / "empty.toml").write_text("")
    for name in ("mine.toml", "empty.toml"):
        proc = run_npatch("report", "cov.json", "--record", name, cwd=pkg, env=env)
        assert proc.returncode == 2 and "exists and was not written by --record" in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert (pkg / "mine.toml").read_text() == "# my own manifest\n" and (pkg / "empty.toml").read_text() == ""
    for _ in range(2):      # written, then refreshed in place
        proc = run_npatch("report", "cov.json", "--record", "again.toml", cwd=pkg, env=env)
        assert proc.returncode == 0, proc.stderr
    assert (pkg / "again.toml").read_text().startswith("# Recorded by `npatch report --record`")


# -- the README's walk-through, as written, on examples/train_cuda.py ---------------
@pytest.fixture
def checkout(tmp_path) -> Path:
    root = tmp_path / "npatch"
    (root / "examples").mkdir(parents=True)
    shutil.copy(TRAIN, root / "examples" / "train_cuda.py")
    return root


def _walkthrough() -> list[tuple[list[str], list[str]]]:
    """(command words, the output lines shown after it) of README sections 2 and 3 of "Migrating"."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("### 2. Run coverage"):text.index("## Built-in manifests")]
    steps: list[tuple[list[str], list[str]]] = []
    for block in re.findall(r"^```\n(.*?)^```", section, re.M | re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((shlex.split(line[2:]), []))
            else:
                steps[-1][1].append(line)
    return steps


def test_the_readme_walkthrough_runs_as_written(checkout, env):
    steps = _walkthrough()
    assert [words[:2] for words, _ in steps] == [["npatch", "apply"], ["npatch", "report"], ["npatch", "report"],
                                                 ["npatch", "compile"], ["npatch", "apply"]]
    import subprocess

    for words, shown in steps:
        cmd = [sys.executable, "-m", "npatch"] + [sys.executable if w == "python" else w for w in words[1:]]
        proc = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, (words, proc.stdout, proc.stderr)
        assert proc.stdout.splitlines()[:len(shown)] == shown, words
    assert "rank 0 done" in proc.stdout
    readme = " ".join((REPO / "README.md").read_text().split())
    kept, dropped = re.search(r"wrote minimal.toml: (\d+) op\(s\) kept, (\d+) disabled", readme).groups()
    assert f"disables the {dropped} ops the run did not exercise" in readme
    assert f"the {kept} kept are listed" in readme
    text = (checkout / "minimal.toml").read_text()
    assert 'include = ["cuda-to-cpu"]' in text and text.count("# applied, never called") > 0
    assert "[options]\ncpu_autocast = false" in text
    # --standalone: the kept blocks, copied; it compiles and trains with no other manifest
    assert run_npatch("report", "cov.json", "--record", "alone.toml", "--standalone", cwd=checkout,
                      env=env).returncode == 0
    alone = (checkout / "alone.toml").read_text()
    assert "include" not in alone and alone.count("[[patch]]") == int(kept)
    compiled = run_npatch("compile", "alone.toml", cwd=checkout, env=env)
    assert compiled.returncode == 0 and f"alone: {kept} ops" in compiled.stdout, compiled.stdout + compiled.stderr
    run = run_npatch("apply", "alone.toml", "--", sys.executable, "examples/train_cuda.py", cwd=checkout, env=env)
    assert run.returncode == 0 and "rank 0 done" in run.stdout, run.stderr


def test_coverage_and_record_under_torchrun(tmp_path, checkout, env):
    """Two ranks and the launcher add to one coverage file; the recorded manifest trains under torchrun."""
    logs = tmp_path / "logs"
    proc = run_npatch("apply", "cuda-to-cpu", "--coverage", "cov.json", "--", *torchrun(), "--nproc_per_node", "2",
                      "--log-dir", str(logs), "--redirects", "1", "examples/train_cuda.py",
                      cwd=checkout, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((checkout / "cov.json").read_text())
    assert data["summary"]["processes"] == 3
    ranks = sorted(p["rank"] for p in data["processes"] if p["rank"] is not None)
    assert ranks == ["0", "1"]
    per_rank = [next(op for op in s["ops"] if op["name"] == "module.cuda")["calls"]
                for p in data["processes"] if p["rank"] is not None for s in p["sessions"]]
    merged = next(op for op in data["ops"] if op["name"] == "module.cuda")["calls"]
    assert merged == sum(per_rank) > 0 and len(per_rank) == 2
    readme = " ".join((REPO / "README.md").read_text().split())
    exercised = sum(1 for op in data["ops"] if op["status"] == "applied" and op["calls"] != 0)
    assert f"the same script exercises {exercised} (the DDP" in readme
    assert run_npatch("report", "cov.json", "--record", "ranks.toml", cwd=checkout, env=env).returncode == 0
    again = run_npatch("apply", "ranks.toml", "--", *torchrun(), "--nproc_per_node", "2", "--log-dir",
                       str(tmp_path / "logs2"), "--redirects", "1", "examples/train_cuda.py",
                       cwd=checkout, env=env, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    outputs = "".join(f.read_text() for f in sorted((tmp_path / "logs2").rglob("stdout.log")))
    assert "rank 0 done" in outputs and "rank 1 done" in outputs


SPAWN = """
import multiprocessing as mp
import covtarget

def work(n):
    return [covtarget.g(i) for i in range(n)]

if __name__ == "__main__":
    covtarget.g(0)
    pool = mp.get_context("spawn").Pool(2)
    print("POOL", len(sum(pool.map(work, [3, 4]), [])))
    pool.close()  # workers that end normally write their record (a `with` block would terminate them)
    pool.join()
"""


@pytest.mark.parametrize("how", ["apply", "run"])
def test_spawned_children_add_their_calls(pkg, env, how):
    """multiprocessing spawn workers boot the plan and add their counts; `npatch run` counts in-process."""
    (pkg / "spawner.py").write_text(SPAWN)
    cmd = (["apply", "--coverage", "cov.json", "m.toml", "--", sys.executable, "spawner.py"] if how == "apply"
           else ["run", "--coverage", "cov.json", "m.toml", "spawner.py"])
    proc = run_npatch(*cmd, cwd=pkg, env=demo_env(env, pkg))
    assert proc.returncode == 0, proc.stderr
    assert "POOL 7" in proc.stdout
    data = json.loads((pkg / "cov.json").read_text())
    workers = [p for p in data["processes"] if "-c" not in p["argv"]]  # not the resource tracker
    assert len(workers) == 3, data["processes"]
    assert next(op for op in data["ops"] if op["name"] == "g")["calls"] == 8
    table = run_npatch("report", "cov.json", cwd=pkg, env=env)
    assert table.stdout.startswith(f"{len(data['processes'])} process(es): ")


def test_a_created_replacement_is_counted_like_any_other(tmp_path, env):
    """`on-missing = "create"` (py-compat's inspect.getargspec on 3.11+) installed the
    replacement without the counting closure: its calls read '-', 'applied without a
    count', so --record could never tell a called one from one never called."""
    (tmp_path / "repl.py").write_text("def f(*args, **kwargs):\n    return 'F'\n")
    (tmp_path / "m.toml").write_text(textwrap.dedent("""
        [manifest]
        name = "created"

        [[patch]]
        name = "called"
        target = "textwrap:brand_new"
        replace = "repl:f"
        on-missing = "create"

        [[patch]]
        name = "never-called"
        target = "textwrap:other_new"
        replace = "repl:f"
        on-missing = "create"

        [[patch]]
        name = "class-created"
        target = "textwrap:TextWrapper.brand_new"
        replace = "repl:f"
        on-missing = "create"
    """))
    code = "import textwrap; print(textwrap.brand_new(1), textwrap.brand_new(), textwrap.TextWrapper().brand_new())"
    proc = run_npatch("apply", "--coverage", "cov.json", "m.toml", "--", sys.executable, "-c", code,
                      cwd=tmp_path, env=env)
    assert proc.returncode == 0 and proc.stdout.split() == ["F", "F", "F"], proc.stderr
    calls = {op["name"]: (op["status"], op["calls"]) for op in json.loads((tmp_path / "cov.json").read_text())["ops"]}
    assert calls == {"called": ("applied", 2), "never-called": ("applied", 0), "class-created": ("applied", 1)}
    plain = run_npatch("apply", "m.toml", "--", sys.executable, "-c",
                       "import textwrap, repl; print(textwrap.brand_new is repl.f)", cwd=tmp_path, env=env)
    assert plain.stdout.strip() == "True", plain.stderr   # without --coverage: the replacement itself


FORKER = """
import os, sys
import multiprocessing as mp
import covtarget

def work(n):
    return [covtarget.g(i) for i in range(n)]

def main(how):
    covtarget.g(0)
    if how == "pool":
        pool = mp.get_context("fork").Pool(2)
        print("DONE", len(sum(pool.map(work, [3, 4]), [])))
        pool.close()
        pool.join()
    elif how == "process":
        procs = [mp.get_context("fork").Process(target=work, args=(n,)) for n in (3, 4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        print("DONE", [p.exitcode for p in procs])
    elif how in ("os.fork", "os._exit"):
        pids = []
        for n in (3, 4):
            pid = os.fork()
            if pid == 0:
                work(n)
                if how == "os._exit":
                    os._exit(0)  # no atexit hook runs: the child reports from os._exit
                sys.exit(0)  # a plain forked child that exits normally runs atexit
            pids.append(pid)
        print("DONE", [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids])
    elif how == "dataloader":
        import torch
        from torch.utils.data import DataLoader, Dataset

        class Calls(Dataset):
            def __len__(self):
                return 7

            def __getitem__(self, i):
                return torch.tensor(covtarget.g(i)[1])

        loader = DataLoader(Calls(), batch_size=1, num_workers=2, multiprocessing_context="fork")
        print("DONE", sum(int(b) for b in loader))

if __name__ == "__main__":
    main(sys.argv[1])
"""


@pytest.mark.parametrize("command", ["apply", "run"])
def test_a_program_that_leaves_with_os_exit_reports_with_its_status(pkg, env, command):
    """The top process (apply: the exec'd program; run: npatch's own process) and a thread
    calling os._exit(3), where atexit hooks never run: its record and calls are in the report,
    its -v tree is printed, and its exit status stays 3."""
    (pkg / "quit.py").write_text(textwrap.dedent("""
        import os, sys, threading
        import covtarget
        covtarget.g(1)
        covtarget.g(2)
        if sys.argv[1] == "thread":
            threading.Thread(target=os._exit, kwargs={"status": 3}).start()
            threading.Event().wait()
        os._exit(3)
    """))
    for where in ("main", "thread"):
        words = ["--", sys.executable, "quit.py", where] if command == "apply" else ["quit.py", where]
        proc = run_npatch(command, "-v", "--coverage", "cov.json", "m.toml", *words, cwd=pkg, env=demo_env(env, pkg))
        assert proc.returncode == 3, proc.stderr
        assert "applied  g" in proc.stderr, proc.stderr
        data = json.loads((pkg / "cov.json").read_text())
        assert len(data["processes"]) == 1
        assert next(op for op in data["ops"] if op["name"] == "g")["calls"] == 2


@pytest.mark.parametrize("how", ["pool", "process", "os.fork", "os._exit", "dataloader"])
def test_forked_workers_add_their_calls(pkg, env, how):
    """Fork-started workers (multiprocessing 'fork', os.fork, a torch DataLoader with fork) count
    their own calls from zero and add them at exit, though multiprocessing ends them with os._exit,
    as does a bare os.fork child that leaves with os._exit itself (it reported nothing)."""
    (pkg / "forker.py").write_text(FORKER)
    proc = run_npatch("apply", "--coverage", "cov.json", "m.toml", "--", sys.executable, "forker.py", how,
                      cwd=pkg, env=demo_env(env, pkg))
    assert proc.returncode == 0, proc.stderr
    assert "DONE" in proc.stdout
    data = json.loads((pkg / "cov.json").read_text())
    # 1 call in the program before the fork, 3 + 4 in the workers (the DataLoader's 7 items), none counted twice
    assert next(op for op in data["ops"] if op["name"] == "g")["calls"] == 8, data["processes"]
    forked = [p for p in data["processes"] if p["argv"] == ["forker.py", how]]  # a fork keeps its parent's argv
    assert len(forked) == 3, data["processes"]  # the program and its two workers, each with its own record
