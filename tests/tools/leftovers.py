#!/usr/bin/env python3
"""The suite leaves no process of the project running (issue 16 item 12).

ctest runs `leftovers.py begin STAMP` first (FIXTURES_SETUP) and `leftovers.py check STAMP
BUILD_DIR` last (FIXTURES_CLEANUP of the fixture every other test requires, so ctest -j
runs it after all of them, and ctest -R pulls both in). `check` fails when a process that
started after `begin` is still running from this build: its executable, its working
directory or a word of its command line under BUILD_DIR (tests run there, and their
temporary directories are there: TMPDIR is BUILD_DIR/tmp). A second `make test` in another
build directory, running at the same time, is not this suite's: its processes are under
that other directory. Two ctest runs in the same build directory at once cannot be told
apart: the first to finish counts (and kills) the other's processes. What stays past a
bounded grace period (tests stop their processes on exit, which can take a moment) is
listed, killed, and fails the run.
"""

import os
import signal
import sys
import time

GRACE_S = 30.0


def ticks_now():
    with open("/proc/uptime") as f:
        return int(float(f.read().split()[0]) * os.sysconf("SC_CLK_TCK"))


def start_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    return int(s[s.rindex(")") + 2:].split()[19])


def ancestors():
    out, pid = set(), os.getpid()
    while pid > 1:
        out.add(pid)
        try:
            with open("/proc/%d/status" % pid) as f:
                pid = next(int(l.split()[1]) for l in f if l.startswith("PPid:"))
        except (OSError, StopIteration):
            break
    return out


def under(path, root):
    path = path.replace(" (deleted)", "")
    return path == root or path.startswith(root + "/")


def suspects(root, since):
    skip = ancestors()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid in skip:
            continue
        try:
            if start_ticks(pid) < since:
                continue
            exe = cwd = ""
            try:
                exe = os.readlink("/proc/%d/exe" % pid)
            except OSError:
                pass  # a kernel thread or a zombie
            try:
                cwd = os.readlink("/proc/%d/cwd" % pid)
            except OSError:
                pass
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if not argv and not exe:
            continue
        # A word names a path under root, not merely a string that starts like it: a sibling
        # build directory (build-mbedtls3.6-curlimage beside build) is another suite's.
        if under(exe, root) or under(cwd, root) or any(a == root or root + "/" in a for a in argv):
            found.append((pid, exe, cwd, " ".join(argv)))
    return found


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "begin":
        with open(sys.argv[2], "w") as f:
            f.write("%d\n" % ticks_now())
        print("suite started at %s ticks" % ticks_now())
        return 0
    if len(sys.argv) != 4 or sys.argv[1] != "check":
        sys.stderr.write("usage: leftovers.py begin STAMP | check STAMP BUILD_DIR\n")
        return 64
    root = os.path.realpath(sys.argv[3])
    try:
        with open(sys.argv[2]) as f:
            since = int(f.read())
    except (OSError, ValueError):
        since = 0  # no stamp (the setup test was excluded): everything counts
    deadline = time.monotonic() + GRACE_S
    found = suspects(root, since)
    while found and time.monotonic() < deadline:
        time.sleep(0.2)
        found = suspects(root, since)
    if not found:
        print("ok - no process of this build (%s) is left running" % root)
        return 0
    sys.stderr.write("FAIL: %d process(es) of this build still running %.0f s after the "
                     "last test:\n" % (len(found), GRACE_S))
    for pid, exe, cwd, cmd in found:
        sys.stderr.write("  pid %d exe %s cwd %s: %s\n" % (pid, exe or "?", cwd or "?", cmd))
    for pid, _, _, _ in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return 1


if __name__ == "__main__":
    sys.exit(main())
