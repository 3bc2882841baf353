"""The plan's op-kind table and the runtime's registered appliers agree.

``npatch.opkinds.BUILTIN_OP_KINDS`` is what the dsl, the compiler and the plan
cache know about each built-in kind; ``npatch.runtime.ops.OP_KINDS`` holds the
apply/restore pairs.  A kind in one and not the other, or a kind whose table
entry says it acts on imports while the runtime gives it no import hook (or
the reverse), fails here.
"""
from __future__ import annotations

from npatch.dsl.model import PATCH_ACTIONS, TABLES
from npatch.opkinds import BUILTIN_OP_KINDS
from npatch.runtime.ops import OP_KINDS


def test_every_table_entry_has_an_applier_and_every_builtin_applier_an_entry():
    registered = {name for name, kind in dict.items(OP_KINDS) if kind.apply.__module__.startswith("npatch.runtime.")}
    assert registered == set(BUILTIN_OP_KINDS)


def test_import_kinds_are_the_ones_with_an_import_hook():
    for name, info in BUILTIN_OP_KINDS.items():
        kind = OP_KINDS[name]
        assert (info.acts_on == "import") == kind.module_level, name
        assert (info.acts_on == "import") == kind.tree, name


def test_the_entries_are_well_formed():
    for name, info in BUILTIN_OP_KINDS.items():
        assert info.name == name
        assert info.acts_on in ("attribute", "module", "import"), name
        assert info.table in TABLES, name
        assert not (info.source and info.value), name
        if info.table == "patch":
            assert info.action[0] and info.action[2] and info.summary, name
        else:
            assert info.action == ("", "", "") and not info.keys and not info.summary, name


def test_the_patch_table_takes_one_action_key_per_patch_kind():
    patch = TABLES["patch"]
    assert PATCH_ACTIONS == tuple(n for n, i in BUILTIN_OP_KINDS.items() if i.table == "patch")
    for name in PATCH_ACTIONS:
        key = patch.key(name)
        assert key is not None and key.doc == BUILTIN_OP_KINDS[name].action[2]
    for info in BUILTIN_OP_KINDS.values():
        assert all(patch.key(k) is not None for k in info.keys), info.name


def test_a_draft_has_every_op_field_with_the_same_default():
    """The compiler's Draft is derived from Op's fields, not a second list of them."""
    from dataclasses import MISSING, fields

    from npatch.compiler.build import Draft
    from npatch.plan import REQUIRED, Op

    drafts = {f.name: f for f in fields(Draft)}
    for name, default in Op.field_defaults().items():
        if name == "origin":  # found from the manifest when the op is made
            continue
        assert name in drafts, name
        if name in ("targets", "options", "manifest"):  # as written, a dict, the Manifest
            continue
        assert (drafts[name].default is MISSING) == (default is REQUIRED), name
        if default is not REQUIRED:
            assert drafts[name].default == default, name
