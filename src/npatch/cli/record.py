"""``npatch report FILE --record NEW.toml``: the manifest of what a run exercised.

Default: a manifest that includes the run's top-level manifests (a built-in
by its name, any other by a path relative to NEW.toml) and disables every op
the run did not exercise, each disabled name commented with why and every
kept op listed with its calls.  ``--standalone``: the ``[[...]]`` blocks of
the exercised ops copied from their manifests (the comment lines right above
each block included), with the options the run used and each source
manifest's ``when`` moved onto its blocks, so the result needs no other file.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from npatch.errors import NpatchError, UsageError
from npatch.outfiles import read_head

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def verdict(op: dict[str, Any]) -> tuple[bool, str]:
    """(exercised, why) for one merged op."""
    status, calls, reason = op.get("status"), op.get("calls"), op.get("reason") or ""
    if status == "applied":
        if calls is None:
            return True, f"applied ({op.get('kind')}: calls not counted)"
        if calls:
            return True, f"{calls} call{'s' * (calls != 1)}"
        return False, "applied, never called"
    return False, f"{status}: {reason}" if reason else str(status)


#: the first line of every manifest --record writes (one that may be written again)
HEADER = "# Recorded by `npatch report --record`"


def _refuse_someone_elses(out_path: str) -> None:
    """A regular file at ``out_path`` that an earlier ``--record`` did not
    write (a hand-written manifest) is never replaced: :class:`UsageError`.
    Links and special files are left to :func:`npatch.cli.writing.write_text`."""
    try:
        first = read_head(out_path, len(HEADER.encode()))
    except OSError as exc:
        raise UsageError(f"--record {out_path}: cannot read it: {exc.strerror or exc}") from None
    if first is not None and first != HEADER.encode():
        raise UsageError(f"--record {out_path}: exists and was not written by --record; "
                         "remove it or write the new manifest elsewhere")


def record_manifest(data: dict[str, Any], out_path: str, standalone: bool) -> tuple[str, int, int, list[str]]:
    """(TOML text, ops kept, ops disabled or left out, notes for the user) for
    ``data``, a merged coverage report."""
    if not data.get("coverage"):
        raise NpatchError("this report was written with --report, which does not count calls: "
                          "run `npatch apply --coverage FILE ...` to record a manifest")
    ops = [op for op in data["ops"] if op.get("status") != "disabled" or op.get("kind")]
    kept = [op for op in ops if verdict(op)[0]]
    dropped = [op for op in ops if not verdict(op)[0]]
    used = {m["name"]: m["path"] for infos in data.get("manifests", {}).values() for m in infos}
    if os.path.realpath(out_path) in {os.path.realpath(path) for path in used.values()}:
        raise UsageError(f"--record {out_path}: is a manifest of the recorded run; write the new one elsewhere")
    _refuse_someone_elses(out_path)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(out_path).stem).strip("-") or "recorded"
    if name in used:  # a manifest may not include one of its own name
        name += "-recorded"
    command = _command(data)
    head = [f"{HEADER} from a run of: {command}",
            f"# {len(data.get('processes', []))} process(es); {len(kept)} of {len(ops)} ops exercised "
            "(applied and called, or applied where calls are not counted).",
            "# Review before shipping: an op this run did not reach may be needed by another input.",
            "", "[manifest]", f"name = {_q(name)}",
            f"description = {_q(f'Ops exercised by: {command}'[:200])}"]
    notes: list[str] = []
    keys, body = ([], _standalone(data, kept, out_path, notes)) if standalone else \
        _including(data, out_path, kept, dropped)
    return "\n".join(head + keys + _options(data) + body) + "\n", len(kept), len(dropped), notes


def _options(data: dict[str, Any]) -> list[str]:
    """The options the run used (``--set`` included), as the new manifest's ``[options]``."""
    options: dict[str, Any] = {}
    for process in data.get("processes", []):
        for session in process.get("sessions", []):
            options.update(session.get("options") or {})
    if not options:
        return []
    return ["", "# the options of the recorded run", "[options]"] + [
        f"{key} = {_toml_value(value)}" for key, value in options.items()]


def _including(data: dict[str, Any], out_path: str, kept: list, dropped: list) -> tuple[list[str], list[str]]:
    """(the ``[manifest]`` keys include and disable, the comment listing the kept ops)."""
    keys = [f"include = [{', '.join(_q(_spec(path, out_path)) for path in _roots(data))}]"]
    if dropped:
        width = max(len(_q(op["name"])) for op in dropped) + 1
        keys += ["disable = ["] + [f"    {_q(op['name']) + ',':<{width}}  # {_one_line(verdict(op)[1])}"
                                   for op in dropped] + ["]"]
    kept_lines = ["", f"# kept: {len(kept)} op(s)"] + [f"#   {op['name']}: {verdict(op)[1]}" for op in kept]
    return keys, kept_lines


def _roots(data: dict[str, Any]) -> list[str]:
    """Paths of the manifests the run named (those no other manifest of its plans includes)."""
    roots: list[str] = []
    for infos in data.get("manifests", {}).values():
        included = {child for m in infos for child in m.get("includes", ())}
        roots += [m["path"] for m in infos if m["path"] not in included and m["path"] not in roots]
    if not roots:
        raise NpatchError("the report names no manifest: was it written by this version of npatch?")
    return roots


def _spec(path: str, out_path: str) -> str:
    """A built-in manifest by name; another by its path relative to the new file."""
    from npatch.dsl.discovery import BUILTIN_DIR

    file = Path(path)
    if file.parent.name == "manifests" and (BUILTIN_DIR / file.name).is_file() and file.suffix == ".toml":
        return file.stem
    return os.path.relpath(path, os.path.dirname(os.path.abspath(out_path)))


def _standalone(data: dict[str, Any], kept: list, out_path: str, notes: list[str]) -> list[str]:
    """The copied blocks; ``notes`` gets one line per module a copy can no longer find."""
    import tomllib

    from npatch.outfiles import read_input

    lines: list[str] = []
    seen: set[tuple[str, int]] = set()
    there = Path(out_path).resolve().parent
    #: manifest -> its lines, its `when`, and its folder (None: out_path's, where nothing is left behind)
    sources: dict[str, tuple[list[str], str | None, Path | None]] = {}
    for op in kept:
        origin = op.get("origin")
        if not origin:
            raise NpatchError(f"op {op['name']!r} has no origin in the report: --standalone cannot copy it")
        key = (origin["file"], origin["line"])
        if key in seen:
            continue
        seen.add(key)
        if origin["file"] not in sources:
            try:
                text = read_input(origin["file"]).decode("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise NpatchError(f"{origin['file']}: cannot read the manifest op {op['name']!r} came from: "
                                  f"{getattr(exc, 'strerror', None) or exc}") from None
            here = Path(origin["file"]).parent
            sources[origin["file"]] = (text.splitlines(), tomllib.loads(text).get("manifest", {}).get("when"),
                                       None if here.resolve() == there else here)
        source_lines, when, here = sources[origin["file"]]
        lines += ["", f"# {op['name']}: {verdict(op)[1]}  (from {origin['file']}:{origin['line']})"]
        block = _block(source_lines, origin["line"], when)
        for note in _left_behind(op["name"], block, origin["file"], here, there, out_path) if here else ():
            notes.append(note)
            lines.append(f"# note: {note}")
        lines += block
    return lines


#: keys whose string names an object to import (``module:qualname``)
_OBJECT_KEYS = ("replace", "wrap", "call", "guard", "source")


def _left_behind(name: str, block: list[str], manifest: str, here: Path, there: Path, out_path: str) -> list[str]:
    """A note for each module an op's block names that is a file in ``here``
    (the folder of its manifest), found neither in ``there`` (``out_path``'s)
    nor on ``sys.path``: the runtime looks for such a module in the folder of
    the manifest naming it."""
    import tomllib
    from importlib.machinery import PathFinder

    tables = [t for value in tomllib.loads("\n".join(block)).values() if isinstance(value, list) for t in value]
    notes = []
    for table in tables:
        for key in _OBJECT_KEYS:
            value = table.get(key)
            if not isinstance(value, str):
                continue
            top = value.partition(":")[0].partition(".")[0]
            file = next((f for f in (here / f"{top}.py", here / top) if f.exists()), None)
            if file is None or (there / file.name).exists() or PathFinder.find_spec(top) is not None:
                continue
            notes.append(f"{out_path}: op {name!r} uses module {top!r}, a file beside {manifest}; copy {file} "
                         f"beside {out_path} (or put it on sys.path), or the op fails when it runs")
    return notes


def _block(lines: list[str], line: int, when: str | None) -> list[str]:
    """The ``[[...]]`` table that starts at 1-based ``line``, with its comment lines above,
    and the source manifest's ``when`` combined into its own."""
    start = line - 1
    while start > 0 and lines[start - 1].startswith("#") and not lines[start - 1].startswith("# ---"):
        start -= 1
    end = line
    while end < len(lines) and not lines[end].lstrip().startswith("["):
        end += 1
    block = lines[start:end]
    while block and (not block[-1].strip() or block[-1].startswith("#")):
        block.pop()
    if when:
        header = line - 1 - start
        own = [i for i, text in enumerate(block) if re.match(r"when\s*=", text)]
        if own:
            import tomllib

            inner = tomllib.loads(block[own[0]])["when"]
            block[own[0]] = f"when = {_q(f'({when}) and ({inner})')}"
        else:
            block.insert(header + 1, f"when = {_q(when)}")
    return block


def _command(data: dict[str, Any]) -> str:
    processes = sorted(data.get("processes", []), key=lambda p: p.get("pid", 0))
    argv = processes[0].get("argv", []) if processes else []
    return _one_line(" ".join(argv)) or "?"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:160]


def _q(text: str) -> str:
    """``text`` as a TOML string; an undecodable byte of a file name (a lone
    surrogate, which TOML cannot hold) reads U+FFFD."""
    return json.dumps(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _q(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_q(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise NpatchError(f"option value {value!r} cannot be written as TOML")


__all__ = ["verdict", "record_manifest"]
