"""Start several commands at once (the "nodes" of a cluster) and wait for all.

``python run_together.py TIMEOUT 'JSON list of argv lists'``: each command in
its own process group; prints ``NODE i rc R`` for each, and stops every
group that is still running after TIMEOUT seconds or when one node fails
(a failed node leaves the others waiting at a rendezvous).
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

from cluster_helpers import stop_group


def main() -> int:
    timeout, commands = float(sys.argv[1]), json.loads(sys.argv[2])
    procs = [subprocess.Popen(argv, start_new_session=True) for argv in commands]
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and any(p.poll() is None for p in procs):
            if any(p.returncode not in (None, 0) for p in procs):
                break
            time.sleep(0.5)
    finally:
        for proc in procs:
            if proc.poll() is None:
                stop_group(proc, grace=20)
    for index, proc in enumerate(procs):
        print(f"NODE {index} rc {proc.returncode}", flush=True)
    return 0 if all(p.returncode == 0 for p in procs) else 1


if __name__ == "__main__":
    sys.exit(main())
