#!/usr/bin/python3
"""cpu.py CMD [ARG...]: runs CMD with stdout to /dev/null and prints "user sys maxrss_kib wall"
from wait4's rusage (which includes every descendant CMD waited for), at microsecond
resolution rather than /usr/bin/time's 10 ms. Exits with CMD's status."""
import os
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    t0 = time.monotonic()
    proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    print(f"{ru.ru_utime:.4f} {ru.ru_stime:.4f} {ru.ru_maxrss} {wall:.4f}")
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
