#!/usr/bin/python3
"""latency.py URL COUNT [gzip]: COUNT sequential GETs of URL, each on a new connection (as a
scraper with no keep-alive would), timed from connect to the last body byte. Prints
"p50_ms p99_ms max_ms body_bytes"; percentiles by the nearest-rank method."""
import http.client
import math
import sys
import time
import urllib.parse


def main():
    url = urllib.parse.urlsplit(sys.argv[1])
    count = int(sys.argv[2])
    headers = {"Accept-Encoding": "gzip"} if len(sys.argv) > 3 and sys.argv[3] == "gzip" else {}
    times, size = [], 0
    for _ in range(count):
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        conn.request("GET", url.path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        times.append((time.perf_counter() - t0) * 1000)
        conn.close()
        if resp.status != 200:
            sys.exit(f"HTTP {resp.status}")
        size = len(body)
    times.sort()

    def rank(p):
        return times[max(0, math.ceil(p / 100 * len(times)) - 1)]

    print(f"{rank(50):.2f} {rank(99):.2f} {times[-1]:.2f} {size}")


if __name__ == "__main__":
    main()
