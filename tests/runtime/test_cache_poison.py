"""The plan cache against an adversary and against accidents: what it reads
must never block, never be trusted when someone else could have written it,
and never stop the user's program.

Every scenario runs the real CLI (or a child under a plan) in a fresh
interpreter with a private ``XDG_CACHE_HOME`` under tmp_path.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from npatch_testutil import YIQ_MANIFEST, clean_env, run_npatch

PY = sys.executable
SHOW = "import colorsys; print('yiq', colorsys.rgb_to_yiq)"
MANIFEST = YIQ_MANIFEST


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def apply(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return run_npatch("apply", *map(str, args), env=env, timeout=timeout)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


# -- a source of a cached entry that became something else -----------------------------
@pytest.mark.parametrize("which", ["manifest", "include"])
def test_a_cached_source_replaced_by_a_fifo_is_a_miss_not_a_hang(tmp_path, env, which):
    """The entry records each manifest read; one that is now a FIFO (planted in a
    shared directory) must not block the lookup: it is a miss, and the compiler
    says the manifest is not a regular file."""
    sub = write(tmp_path / "sub.toml", MANIFEST)
    top = write(tmp_path / "top.toml", '[manifest]\nname = "top"\ninclude = ["./sub.toml"]\n')
    ok(apply(top, "--", PY, "-c", SHOW, env=env))
    victim = top if which == "manifest" else sub
    victim.unlink()
    os.mkfifo(victim)
    proc = apply(top, "--", PY, "-c", SHOW, env=env)
    assert proc.returncode != 0 and "not a regular file" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_cached_source_replaced_by_a_directory_is_a_miss(tmp_path, env):
    manifest = write(tmp_path / "m.toml", MANIFEST)
    ok(apply(manifest, "--", PY, "-c", SHOW, env=env))
    manifest.unlink()
    manifest.mkdir()
    proc = apply(manifest, "--", PY, "-c", SHOW, env=env)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr


# -- a marshal copy damaged inside one op (its outer tuple still loads) ------------------
def _damage_ops(copy: Path, how: str) -> None:
    import marshal

    tag, header, index, runs = marshal.loads(copy.read_bytes())
    if how == "unknown type code":
        runs = [b"\xff" + run[1:] for run in runs]
    elif how == "truncated":
        runs = [run[:-3] for run in runs]
    elif how == "a short run":
        runs = [marshal.dumps(marshal.loads(run)[1:]) for run in runs]
    else:  # well-formed ops of another shape (a copy written by another npatch version)
        runs = [marshal.dumps([{"kind": 3}] * length) for length in index["runs"]]
    copy.write_bytes(marshal.dumps((tag, header, index, runs)))


SECOND = """
[[patch]]
name = "escape"
target = "html:escape"
value = 7
"""


@pytest.mark.parametrize("how", ["unknown type code", "truncated", "a short run", "another shape"])
def test_a_child_given_a_marshal_copy_with_a_damaged_op_reads_the_json_plan(tmp_path, env, how):
    """The child decodes an op when its module is imported; a damaged op there
    must not fail the program's own ``import`` with npatch's traceback: the
    JSON file is the plan of record, as for a copy damaged as a whole."""
    manifest = write(tmp_path / "m.toml", MANIFEST + SECOND)
    ok(apply(manifest, "--", PY, "-c", "pass", env=env))
    (copy,) = (tmp_path / "cache" / "npatch" / "plans").glob("*.marshal")
    _damage_ops(copy, how)
    from npatch.runtime.launcher import BOOTSTRAP_DIR

    child_env = dict(env, PYTHONPATH=BOOTSTRAP_DIR, NPATCH_PLAN=str(copy.with_suffix(".json")))
    code = SHOW + "; import html; print('escape', html.escape)"
    proc = subprocess.run([PY, "-c", code], env=child_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "yiq 42" in proc.stdout and "escape 7" in proc.stdout, proc.stderr
    assert "Traceback" not in proc.stderr


# -- a cache someone else planted files in -------------------------------------------------
needs_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
OTHER = 65534  # nobody


def _cache(tmp_path: Path, name: str) -> Path:
    return tmp_path / name / "npatch"


def _poisoned(tmp_path: Path, env: dict[str, str]) -> tuple[Path, Path, Path]:
    """(manifest, the victim's cache root, a directory holding an entry for the
    victim's request that names a plan setting the value to 666 instead of 42)."""
    manifest = write(tmp_path / "m.toml", MANIFEST)
    ok(apply(manifest, "--", PY, "-c", "pass", env=env))
    (tmp_path / "evil").mkdir()
    evil_src = write(tmp_path / "evil" / "m.toml", MANIFEST.replace("42", "666"))
    evil_env = dict(env, XDG_CACHE_HOME=str(tmp_path / "evilcache"))
    ok(apply(evil_src, "--", PY, "-c", "pass", env=evil_env))
    root, evil_root = _cache(tmp_path, "cache"), _cache(tmp_path, "evilcache")
    (key,) = (root / "keys").iterdir()
    (evil_key,) = (evil_root / "keys").iterdir()
    lines, evil_lines = key.read_text().splitlines(), evil_key.read_text().splitlines()
    planted = tmp_path / "planted"
    (planted / "keys").mkdir(parents=True)
    (planted / "keys" / key.name).write_text("\n".join(lines[:1] + evil_lines[1:4] + lines[4:]) + "\n")
    (planted / "plans").mkdir()
    for plan_file in (evil_root / "plans").iterdir():
        (planted / "plans" / plan_file.name).write_bytes(plan_file.read_bytes())
    for path in [planted, *planted.rglob("*")]:
        os.chown(path, OTHER, OTHER)
        os.chmod(path, 0o777 if path.is_dir() else 0o666)
    return manifest, root, planted


def _contents(folder: Path) -> dict[str, bytes | None]:
    return {str(p): (p.read_bytes() if p.is_file() else None) for p in folder.rglob("*")}


@needs_root
@pytest.mark.parametrize("what", ["keys", "plans", "both"])
def test_subdirectories_linked_to_another_users_directory_are_not_trusted(tmp_path, env, what):
    """The cache root is ours and private, but ``keys/`` or ``plans/`` inside it is a
    link to a directory another user controls (planted while the root was open,
    before its owner closed it): nothing read there is trusted, nothing is written there."""
    manifest, root, planted = _poisoned(tmp_path, env)
    import shutil

    for sub in (["keys", "plans"] if what == "both" else [what]):
        shutil.rmtree(root / sub)
        (root / sub).symlink_to(planted / sub)
    before = _contents(planted)
    proc = ok(apply(manifest, "--", PY, "-c", SHOW, env=env))
    assert "yiq 42" in proc.stdout, proc.stdout + proc.stderr
    assert _contents(planted) == before  # nothing written into their directory


@needs_root
def test_an_entry_file_linked_to_another_users_file_is_not_trusted(tmp_path, env):
    manifest, root, planted = _poisoned(tmp_path, env)
    import shutil

    (key,) = (root / "keys").iterdir()
    key.unlink()
    key.symlink_to(planted / "keys" / key.name)
    for plan_file in (planted / "plans").iterdir():  # the plan it names, as the other user's files
        target = root / "plans" / plan_file.name
        shutil.copy(plan_file, target)
        os.chown(target, OTHER, OTHER)
    proc = ok(apply(manifest, "--", PY, "-c", SHOW, env=env))
    assert "yiq 42" in proc.stdout, proc.stdout + proc.stderr


@needs_root
def test_a_child_ignores_a_marshal_copy_it_does_not_own(tmp_path, env):
    """A child reads the marshal copy named by ``NPATCH_PLAN`` long after the
    launcher checked it; one that another user owns (the directory was swapped
    meanwhile) is not read: the JSON plan of record is."""
    manifest = write(tmp_path / "m.toml", MANIFEST)
    ok(apply(manifest, "--", PY, "-c", "pass", env=env))
    (copy,) = _cache(tmp_path, "cache").joinpath("plans").glob("*.marshal")
    from npatch.plan import Plan

    good = Plan.from_marshal(copy.read_bytes())
    copy.write_bytes(good.replace(ops=tuple(op.replace(value=666) for op in good.ops)).to_marshal())
    os.chown(copy, OTHER, OTHER)
    from npatch.runtime.launcher import BOOTSTRAP_DIR

    child_env = dict(env, PYTHONPATH=BOOTSTRAP_DIR, NPATCH_PLAN=str(copy.with_suffix(".json")))
    proc = subprocess.run([PY, "-c", SHOW], env=child_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "yiq 42" in proc.stdout, proc.stdout + proc.stderr


# -- lark's parser cache (a pickle) in the same directory ---------------------------------
CONDITIONED = MANIFEST + 'when = "env(\'NPATCH_TEST_X\', \'1\') == \'1\'"\n'


def _grammar_cache(tmp_path: Path, env: dict[str, str]) -> Path:
    manifest = write(tmp_path / "c.toml", CONDITIONED)
    ok(run_npatch("compile", str(manifest), env=env))
    (cache,) = _cache(tmp_path, "cache").glob("grammar-*.cache")
    return cache


def _evil_pickle(path: Path, first_line: bytes, marker: Path) -> None:
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path.write_bytes(first_line + pickle.dumps(Evil()))


@needs_root
@pytest.mark.parametrize("shape", ["link to their file", "their file"])
def test_a_planted_grammar_cache_is_never_unpickled(tmp_path, env, shape):
    cache = _grammar_cache(tmp_path, env)
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.cache"
    _evil_pickle(evil, cache.read_bytes().split(b"\n", 1)[0] + b"\n", marker)
    os.chown(evil, OTHER, OTHER)
    cache.unlink()
    if shape == "link to their file":
        cache.symlink_to(evil)
    else:
        os.rename(evil, cache)
    proc = ok(run_npatch("compile", str(tmp_path / "c.toml"), env=env))
    assert not marker.exists(), proc.stderr


def test_a_grammar_cache_that_is_a_link_is_not_written_through(tmp_path, env):
    """A link planted at the cache's name (to a file the user, maybe root, can
    write) must not make the compiler overwrite that file with a pickle."""
    cache = _grammar_cache(tmp_path, env)
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    cache.unlink()
    cache.symlink_to(precious)
    ok(run_npatch("compile", str(tmp_path / "c.toml"), env=env))
    assert precious.read_text() == "keep me\n"


# -- a cache directory inside a folder someone else controls -------------------------------
@needs_root
@pytest.mark.parametrize("parent", ["another user's folder", "world-writable folder without sticky bit"])
def test_no_cache_is_made_or_used_in_a_folder_someone_else_can_change(tmp_path, env, parent):
    """``sudo npatch apply`` with the invoking user's ``HOME`` (or an
    ``XDG_CACHE_HOME`` in a shared folder): whoever can rename entries of the
    folder holding ``npatch/`` can swap a directory of links in place of it
    after the check, under the plan files that children read later.  No cache
    there: the plan is kept in a private temporary directory."""
    base = tmp_path / "home-of-other"
    base.mkdir()
    if parent == "another user's folder":
        os.chown(base, OTHER, OTHER)
        os.chmod(base, 0o755)
    else:
        os.chmod(base, 0o777)
    manifest = write(tmp_path / "m.toml", MANIFEST)
    proc = ok(apply(manifest, "--", PY, "-c", SHOW, env=dict(env, XDG_CACHE_HOME=str(base))))
    assert "yiq 42" in proc.stdout
    assert "no private cache directory" in proc.stderr and str(base) in proc.stderr, proc.stderr
    assert not (base / "npatch").exists()


def test_a_sticky_world_writable_folder_like_tmp_still_holds_the_cache(tmp_path, env):
    base = tmp_path / "sticky"
    base.mkdir()
    os.chmod(base, 0o1777)
    manifest = write(tmp_path / "m.toml", MANIFEST)
    proc = ok(apply(manifest, "--", PY, "-c", SHOW, env=dict(env, XDG_CACHE_HOME=str(base))))
    assert "yiq 42" in proc.stdout and proc.stderr == "", proc.stderr
    assert (base / "npatch" / "keys").is_dir()


@pytest.mark.parametrize("home", ["relhome", "./relhome"])
def test_a_relative_home_makes_no_cache_in_the_working_directory(tmp_path, home):
    """A relative ``$HOME`` (as a relative ``$XDG_CACHE_HOME``, which the XDG
    spec calls invalid) would put the cache under the working directory: a
    cloned project could ship ``relhome/.cache/npatch`` with plans of its own."""
    work = tmp_path / "project"
    work.mkdir()
    manifest = write(work / "m.toml", MANIFEST)
    env = {k: v for k, v in clean_env(HOME=home).items() if k != "XDG_CACHE_HOME"}
    proc = ok(run_npatch("apply", str(manifest), "--", PY, "-c", SHOW, env=env, cwd=work))
    assert "yiq 42" in proc.stdout and "no private cache directory" in proc.stderr, proc.stderr
    assert sorted(p.name for p in work.iterdir()) == ["m.toml"]


def _tamper_json(plan: Path) -> None:
    plan.write_bytes(plan.read_bytes().replace(b'"value":42', b'"value":666'))


@pytest.mark.parametrize("marshal_copy", ["missing", "another user's", "damaged op", "intact",
                                          "intact, same size, mtime put back"])
def test_a_child_refuses_a_cached_json_plan_that_no_longer_matches_its_name(tmp_path, env, marshal_copy):
    """Where the marshal copy cannot be used the child reads the JSON plan of
    record; a cached one is named by its content hash, so a plan changed after
    the launcher verified it is refused (one warning, the program runs), never run.
    An intact marshal copy is made from the JSON as it was: it ends with that
    file's identity (inode, size, change time, which no ``touch``
    puts back), so the child does not run it beside an edited JSON."""
    if marshal_copy == "another user's" and os.geteuid() != 0:
        pytest.skip("needs root to chown")
    manifest = write(tmp_path / "m.toml", MANIFEST)
    ok(apply(manifest, "--", PY, "-c", "pass", env=env))
    (copy,) = _cache(tmp_path, "cache").joinpath("plans").glob("*.marshal")
    plan = copy.with_suffix(".json")
    if marshal_copy == "missing":
        copy.unlink()
    elif marshal_copy == "another user's":
        os.chown(copy, OTHER, OTHER)
    elif marshal_copy == "damaged op":
        _damage_ops(copy, "unknown type code")
    if marshal_copy.endswith("put back"):  # in place, the same size: only the change time tells
        mtime = plan.stat().st_mtime_ns
        plan.write_bytes(plan.read_bytes().replace(b'"value":42', b'"value":66'))
        os.utime(plan, ns=(mtime, mtime))
    else:
        _tamper_json(plan)
    from npatch.runtime.launcher import BOOTSTRAP_DIR

    child_env = dict(env, PYTHONPATH=BOOTSTRAP_DIR, NPATCH_PLAN=str(plan))
    proc = subprocess.run([PY, "-c", SHOW], env=child_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("yiq <function rgb_to_yiq"), proc.stdout + proc.stderr
    assert proc.stderr.count("does not match its name") == 1 and "Traceback" not in proc.stderr, proc.stderr


def test_a_plan_file_of_the_users_own_is_read_as_it_is(tmp_path, env):
    """Only cached plans are named by their hash: a saved plan with another
    name (``NPATCH_PLAN=plan.json``) is the user's and is not checked."""
    manifest = write(tmp_path / "m.toml", MANIFEST)
    plan = tmp_path / "saved-plan.json"
    ok(run_npatch("compile", str(manifest), "-o", str(plan), env=env))
    from npatch.runtime.launcher import BOOTSTRAP_DIR

    child_env = dict(env, PYTHONPATH=BOOTSTRAP_DIR, NPATCH_PLAN=str(plan))
    proc = subprocess.run([PY, "-c", SHOW], env=child_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "yiq 42" in proc.stdout, proc.stdout + proc.stderr


def _edited_copy_of_a_cached_plan(tmp_path: Path, env: dict[str, str], edit: bool) -> Path:
    """A copy, elsewhere and under its hash name, of the plan the cache holds; changed by hand with ``edit``."""
    manifest = write(tmp_path / "m.toml", MANIFEST)
    ok(apply(manifest, "--", PY, "-c", "pass", env=env))
    (cached,) = _cache(tmp_path, "cache").joinpath("plans").glob("*.json")
    copy = tmp_path / "shipped" / cached.name
    copy.parent.mkdir()
    copy.write_bytes(cached.read_bytes())
    if edit:
        _tamper_json(copy)
    return copy


LOAD = "import sys, npatch\nfrom npatch.errors import PlanLoadError\ntry:\n    npatch.load(sys.argv[1]).apply()\nexcept PlanLoadError as exc:\n" \
       "    print('refused:', exc)\n" + SHOW


@pytest.mark.parametrize("edit", [True, False])
def test_a_plan_that_no_longer_matches_its_hash_name_is_refused_on_every_route(tmp_path, env, edit):
    """A plan file named by its content hash promises that content: changed by
    hand, it is refused alike by ``npatch apply FILE`` (an error, the program
    does not start), ``NPATCH_PLAN=FILE`` (one warning, the program runs
    without it) and ``npatch.load(FILE)`` (:class:`npatch.PlanLoadError`);
    ``npatch apply FILE`` ran it as edited, and so did ``npatch.load``.
    Unchanged, every route runs it."""
    plan = _edited_copy_of_a_cached_plan(tmp_path, env, edit)
    from npatch.runtime.launcher import BOOTSTRAP_DIR

    applied = apply(str(plan), "--", PY, "-c", SHOW, env=env)
    child = subprocess.run([PY, "-c", SHOW], env=dict(env, PYTHONPATH=BOOTSTRAP_DIR, NPATCH_PLAN=str(plan)),
                           capture_output=True, text=True, timeout=60)
    loaded = subprocess.run([PY, "-c", LOAD, str(plan)], env=env, capture_output=True, text=True, timeout=60)
    for proc in (applied, child, loaded):
        assert "Traceback" not in proc.stderr and "yiq 666" not in proc.stdout, proc.stdout + proc.stderr
    if not edit:
        assert [p.stdout for p in (applied, child, loaded)] == ["yiq 42\n"] * 3
        return
    reason = f"{plan}: the plan file does not match its name"
    assert applied.returncode == 1 and applied.stdout == "" and applied.stderr.startswith(f"npatch: error: {reason}")
    assert child.returncode == 0 and child.stdout.startswith("yiq <function rgb_to_yiq") and reason in child.stderr
    assert loaded.returncode == 0 and loaded.stdout.startswith(f"refused: {reason}"), loaded.stdout + loaded.stderr


def test_a_cached_json_plan_rewritten_alike_is_read_as_json_until_the_launcher_stamps_it_again(tmp_path, env):
    """The same bytes written anew (a copied cache, a restore from a backup):
    the marshal copy no longer names the JSON file, so a child reads the JSON,
    which still hashes to its name (no warning); the next ``npatch apply`` is a
    miss that writes the marshal copy again, and children read it once more."""
    manifest = write(tmp_path / "m.toml", MANIFEST)
    ok(apply(manifest, "--", PY, "-c", "pass", env=env))
    (plan,) = _cache(tmp_path, "cache").joinpath("plans").glob("*.json")
    fresh = plan.with_name("fresh")
    fresh.write_bytes(plan.read_bytes())
    fresh.chmod(0o600)
    os.replace(fresh, plan)
    from npatch.runtime.launcher import BOOTSTRAP_DIR

    code = SHOW + "; import sys; print('json', 'json' in sys.modules)"
    child_env = dict(env, PYTHONPATH=BOOTSTRAP_DIR, NPATCH_PLAN=str(plan))
    proc = subprocess.run([PY, "-c", code], env=child_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "yiq 42\njson True\n" and proc.stderr == "", proc.stdout + proc.stderr
    assert ok(apply(manifest, "--", PY, "-c", code, env=env)).stdout == "yiq 42\njson False\n"
