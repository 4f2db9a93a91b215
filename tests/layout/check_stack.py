#!/usr/bin/env python3
"""check_stack.py BUILD: a command parked on its TM call keeps one page of stack, as TAP. While
a command's fiber waits, the pages of its stack below the saved stack pointer go back
(common/fiber.c); what stays is the frames from the fiber's entry down to the wait. This sums
them from the compiler's own figures (-fstack-usage, which the Makefile gives the plain build:
BUILD/<dir>/<file>.su) and holds them under a page less a margin for the entry's and the
switch's own words. A function inlined into its caller has no figure: its caller's includes it.
A sanitizer build's frames carry redzones: there, nothing is checked (skipped)."""

import os
import sys

PAGE = 4096
MARGIN = 256  # the start frame, the switch's pushes (64 bytes on x86-64), alignment

# The path of a command from its fiber's start to its wait on TM, in call order, as
# (source file, function). Each is counted once if the build has a figure for it.
TM_WAIT = [
    ("common/fiber.c", "fiber_entry"),
    ("workers/worker/pool.c", "pool_fiber"),
    ("workers/worker/pool.c", "pool_run_job"),
    ("workers/worker/main.c", "runner_run"),
    ("workers/worker/exec.c", "exec_run"),
    ("workers/worker/exec.c", "exec_rounds"),
    ("workers/worker/exec.c", "exec_round"),
    ("workers/worker/exec.c", "exec_round_in"),
    ("workers/worker/cmd_types.c", "cmd_types_run"),
    ("workers/worker/cmd_types.c", "cmd_types_call"),
    ("workers/worker/cmd.c", "cmd_call"),
    ("workers/worker/tmretry.c", "tmretry_call"),
    ("workers/worker/tmretry.c", "tmretry_attempts"),
    ("common/tm_loop.c", "tm_loop_take"),
    ("common/fwait.c", "fcond_wait"),
    ("common/fiber.c", "fiber_park"),
]


def frames(build, source):
    """function -> bytes, from source's .su in build (a clone's suffix such as .constprop.0 or
    .isra.0 dropped; the largest clone counts)."""
    path = os.path.join(build, os.path.splitext(source)[0] + ".su")
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3:
                continue
            name = parts[0].rsplit(":", 1)[-1].split(".")[0]
            out[name] = max(out.get(name, 0), int(parts[1]))
    return out


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    if os.path.basename(os.path.normpath(build)) != "build":
        print("1..0 # SKIP %s: a sanitizer build's frames are not the worker's" % build)
        return 0
    print("1..1")
    total, seen = 0, []
    try:
        for source, fn in TM_WAIT:
            size = frames(build, source).get(fn)
            if size is not None:
                total += size
                seen.append("%s %d" % (fn, size))
    except OSError as e:
        print("not ok 1 - stack of a command waiting for TM: %s (objects built before the "
              "Makefile gave -fstack-usage: make clean, then build again)" % e)
        return 1
    bound = PAGE - MARGIN
    if total > bound:
        print("not ok 1 - stack of a command waiting for TM: %d bytes > %d (%s)"
              % (total, bound, ", ".join(seen)))
        return 1
    print("ok 1 - stack of a command waiting for TM: %d bytes <= %d (%s)"
          % (total, bound, ", ".join(seen)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
