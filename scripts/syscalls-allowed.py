#!/usr/bin/python3
"""syscalls-allowed.py UNIT STRACE_SUMMARY: the system calls a `strace -c` summary shows that the
unit's SystemCallFilter= would refuse, one per line; exit 1 when there is any.

Without systemd as PID 1 the filter cannot be tried for real, so this expands it the way
systemd does (systemd.exec(5): the first SystemCallFilter= sets an allow list; later lines add
to it, "~" lines remove from it, in order), each @group through `systemd-analyze
syscall-filter`, and compares what the agent called."""
import subprocess
import sys


def expand(name, cache={}):
    if not name.startswith("@"):
        return {name}
    if name not in cache:
        out = subprocess.run(["systemd-analyze", "syscall-filter", name], check=True,
                             capture_output=True, text=True).stdout
        names = set()
        for line in out.splitlines()[1:]:
            t = line.strip()
            if t and not t.startswith("#"):
                names |= expand(t)
        cache[name] = names
    return cache[name]


def allowed(unit):
    allow = None
    for line in open(unit):
        if not line.startswith("SystemCallFilter="):
            continue
        value = line.split("=", 1)[1].strip()
        deny = value.startswith("~")
        names = set().union(*(expand(n) for n in value.lstrip("~").split()))
        if allow is None:
            allow = set() if deny else names  # a first "~" line would mean a deny list
            if deny:
                raise SystemExit("a deny-list filter is not handled here")
        elif deny:
            allow -= names
        else:
            allow |= names
    return allow


def used(summary):
    calls = set()
    for line in open(summary):
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
            calls.add(parts[-1])
    return calls


def main():
    allow, calls = allowed(sys.argv[1]), used(sys.argv[2])
    refused = sorted(calls - allow)
    print("%d system calls used, %d allowed by the unit; refused: %s"
          % (len(calls), len(calls & allow), " ".join(refused) or "none"), file=sys.stderr)
    sys.exit(1 if refused else 0)


if __name__ == "__main__":
    main()
