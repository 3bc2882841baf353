"""Run driver scripts against a Ray cluster started outside npatch.

``python ray_external.py TMPDIR DRIVER.py...``: ``ray start --head --block``
(127.0.0.1, temp dir TMPDIR, one CPU) in its own process group, then each
driver with the cluster's address as its argument, its output passed
through; the group is stopped at the end whatever happens.  The test runs
this whole scenario in one private network namespace (see cluster_helpers).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

from cluster_helpers import free_port, stop_group


def main() -> int:
    tmp, drivers = sys.argv[1], sys.argv[2:]
    port = free_port()
    ray = os.path.join(os.path.dirname(sys.executable), "ray")
    started = time.monotonic()
    head = subprocess.Popen(
        [ray, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
         "--temp-dir", tmp, "--num-cpus", "1", "--include-dashboard", "false", "--disable-usage-stats"],
        start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen = []
        for line in head.stdout:
            seen.append(line)
            if "Ray runtime started" in line:
                break
        else:
            print("ray start failed:\n" + "".join(seen[-30:]), file=sys.stderr)
            return 1
        print(f"TIMING ray-start {time.monotonic() - started:.1f}", flush=True)
        for driver in drivers:
            began = time.monotonic()
            proc = subprocess.run([sys.executable, driver, f"127.0.0.1:{port}"], capture_output=True, text=True,
                                  timeout=400)
            sys.stdout.write(proc.stdout)
            sys.stderr.write(proc.stderr[-3000:])
            print(f"TIMING {os.path.basename(driver)} {time.monotonic() - began:.1f} rc {proc.returncode}", flush=True)
    finally:
        began = time.monotonic()
        stop_group(head)
        print(f"TIMING ray-stop {time.monotonic() - began:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
