"""Static rewrites: libcst rules from ``[[rewrite]]`` tables, turned into diffs.

:mod:`npatch.rewrite_kinds` (no libcst) says what each kind accepts; the rest
of the package (rules, prefilter, runner, diff/write) imports libcst and is
loaded only by ``npatch diff`` and ``npatch test``.
"""

__all__: list[str] = []
