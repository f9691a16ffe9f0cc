#!/bin/sh
# A stand-in for gdb 13.1 on AMX-capable Xeons, where gdb runs a program and stops it at a
# breakpoint but fails every `call` with "Couldn't write extended state status: Bad address.".
# test_track's gdb case, run with WSHEAP_TEST_GDB set to this script (test track.gdb_cannot_call),
# must skip with that reason rather than fail.
if [ "${1-}" = --version ]; then
  echo "GNU gdb (stand-in for tests/test_track.c) 13.1"
  exit 0
fi
echo "Breakpoint 1 at 0x1139: file track_helper.c, line 45."
echo ""
echo "Breakpoint 1, helper_stop () at track_helper.c:45"
echo "45	    __asm__ volatile(\"\" ::: \"memory\");"
echo "Couldn't write extended state status: Bad address."
exit 1
