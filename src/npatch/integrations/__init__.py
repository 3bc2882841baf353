"""Glue for launchers that start Python processes npatch does not start itself.

* :mod:`npatch.integrations.ray` -- a Ray ``runtime_env`` whose workers run under a plan

Each builds on :func:`npatch.shipping.portable_environ`, the variables
``npatch env`` prints; none imports its framework until it is used.
"""

__all__: list[str] = []
