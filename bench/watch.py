#!/usr/bin/python3
"""watch.py URL EVERY SECONDS: GETs URL (a /metrics page) every EVERY seconds for SECONDS and
prints one line per new sampling pass seen: "passes_total pass_duration_seconds
proc_scan_duration_seconds" (the last "-" when the agent does not report a /proc scan). A pass is
only seen when a scrape lands between it and the next one, so with EVERY larger than the
sample_interval this is a sample of the passes, not all of them."""
import sys
import time
import urllib.request

PASSES = b"\nsqlite_agent_sample_passes_total "
DURATION = b"\nsqlite_agent_sample_pass_duration_seconds "
SCAN = b"\nsqlite_agent_process_scan_duration_seconds "


def value(body, name):
    i = body.find(name)
    if i < 0:
        return None
    i += len(name)
    return body[i:body.index(b"\n", i)].decode()


def main():
    url, every, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    end = time.monotonic() + seconds
    last = None
    while time.monotonic() < end:
        t0 = time.monotonic()
        with urllib.request.urlopen(url, timeout=10) as r:
            body = b"\n" + r.read()
        passes, duration = value(body, PASSES), value(body, DURATION)
        if passes is not None and duration is not None and passes != last:
            print(passes, duration, value(body, SCAN) or "-", flush=True)
            last = passes
        time.sleep(max(0.0, every - (time.monotonic() - t0)))


if __name__ == "__main__":
    main()
