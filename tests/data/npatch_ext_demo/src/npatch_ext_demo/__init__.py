"""npatch-ext-demo: extends npatch through entry points (a test fixture).

Importing this package must never be needed for npatch to start: npatch
loads ``kinds``, ``setenv`` and ``conditions`` only when a plan or a
condition names what they provide.
"""
