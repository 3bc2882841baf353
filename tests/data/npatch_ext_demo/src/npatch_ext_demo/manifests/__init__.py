"""Manifests of npatch-ext-demo; the ``npatch.manifests`` entry point names this package."""
