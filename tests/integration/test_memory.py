"""The allocator policies: with the network one, a freed 100 MB buffer is reused, not faulted in again page by
page; the serving one gives such a buffer back to the system, and the network one does not override it. (Moved
from tests/unit: three Python processes faulting 100 MB buffers cost 1.2 s of CPU.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from handful import _memory

SCRIPT = """
import importlib.util, resource, sys
import numpy as np
spec = importlib.util.spec_from_file_location("_memory", sys.argv[2])  # the module alone, not all of handful
_memory = importlib.util.module_from_spec(spec)
spec.loader.exec_module(_memory)
policy = sys.argv[1]
if policy == "networks":
    assert _memory.for_networks()
elif policy == "serving-then-networks":
    assert _memory.for_serving() and not _memory.for_networks()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
buffer = np.ones(13_000_000)  # 104 MB, as Lite2's largest activation at batch 16
del buffer
before = faults()
for _ in range(4):
    buffer = np.ones(13_000_000)
    del buffer
print(faults() - before)
"""


def _faults(policy: str) -> int:
    done = subprocess.run([sys.executable, "-c", SCRIPT, policy, _memory.__file__], capture_output=True, text=True,
                          check=True)
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(_memory._libc() is None, reason="the C library is not glibc: the policies do nothing")
def test_network_policy_reuses_freed_activations_and_serving_keeps_returning_them() -> None:
    # Four 104 MB buffers: at least 50 faults each even with 2 MiB (transparent huge) pages, when mapped anew.
    assert _faults("default") >= 200  # glibc maps and unmaps each one: faulted in again every time
    assert _faults("networks") < 20  # kept in the heap: nothing is faulted in again
    assert _faults("serving-then-networks") >= 200  # a server gives large buffers back to the system
