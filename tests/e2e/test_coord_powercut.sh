#!/bin/sh
# Power cuts under kma-coord: test_coord_crash.sh's load and checks, with each kill -9
# followed by putting the database files back as the disk would hold them (each as of its
# last fsync: tests/tools/powercut.c). Enrolments and nodes are synced before they are
# acknowledged and must all be there; reports are committed without waiting for the disk
# (synchronous=NORMAL), so the few since the last sync may be lost, and the agent's next
# reports are accepted. The loss per cut is printed.
KMA_CRASH_MODE=powercut
export KMA_CRASH_MODE
exec sh "$KMA_SOURCE_DIR/tests/e2e/test_coord_crash.sh"
