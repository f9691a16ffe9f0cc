#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""JSON reports (WSHEAP_REPORT_FORMAT=json, schema wsheap-report/1, docs/reports.md) parsed with
a real JSON parser: every field of a heap-buffer-overflow report, written to WSHEAP_LOG_PATH's
file; a heap name with quotes, a backslash, control characters and bytes that are not UTF-8;
keep-going mode's three reports, one object per line, each kind with its stacks' roles; and the
dedup key, equal for the same bug in two runs and different between bugs.
Usage: test_report_json.py REPORT_PROGRAM WORK_DIR"""
import json
import os
import re
import shutil
import subprocess
import sys

program, work = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what, context=""):
    if not cond:
        failures.append(f"{what}\n{context}")


def run(mode, *extra, env=None, arg=None):
    """Runs report_program MODE with JSON reports in WORK/MODE<extra>.<pid>; returns (status,
    stderr, the parsed report objects, pid)."""
    base = os.path.join(work, mode + "".join(extra))
    e = {k: v for k, v in os.environ.items() if not k.startswith("WSHEAP_")}
    e.update({"WSHEAP_PAGEHEAP": "1", "WSHEAP_REPORT_FORMAT": "json", "WSHEAP_LOG_PATH": base,
              "WSHEAP_SYMBOLIZE": "1"})
    e.update(env or {})
    argv = [program, mode] + ([arg] if arg else [])
    p = subprocess.Popen(argv, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, p.stderr = p.communicate(timeout=120)
    path = f"{base}.{p.pid}"
    check(os.path.exists(path), f"{mode}: no report file {path}", p.stderr.decode(errors="replace"))
    if not os.path.exists(path):
        return p.returncode, p.stderr.decode(errors="replace"), [], p.pid
    raw = open(path, "rb").read()
    lines = raw.split(b"\n")
    check(lines[-1] == b"", f"{mode}: the file does not end with a newline")
    objects = []
    for line in lines[:-1]:
        try:
            objects.append(json.loads(line.decode("utf-8")))  # strict: UTF-8, one per line
        except (ValueError, UnicodeDecodeError) as e:
            check(False, f"{mode}: a line is not JSON: {e}", repr(line[:300]))
    return p.returncode, p.stderr.decode(errors="replace"), objects, p.pid


HEX = re.compile(r"^0x[0-9a-f]+$")
ROLES = {"access", "allocation", "reset", "free", "create"}


def check_frames(where, frames):
    check(isinstance(frames, list) and frames, f"{where}: no frames")
    for f in frames:
        check(set(f) == {"pc", "module", "offset", "function", "file", "line", "inlined"},
              f"{where}: frame fields {sorted(f)}")
        check(HEX.match(f["pc"]) is not None, f"{where}: pc {f['pc']!r}")
        check(f["module"] is None or f["module"].startswith("/"), f"{where}: module {f['module']!r}")
        check(f["offset"] is None or HEX.match(f["offset"]), f"{where}: offset {f['offset']!r}")
        check(f["function"] is None or isinstance(f["function"], str), f"{where}: function")
        check(f["file"] is None or isinstance(f["file"], str), f"{where}: file")
        check(f["line"] is None or (isinstance(f["line"], int) and f["line"] > 0), f"{where}: line")
        check(isinstance(f["inlined"], bool), f"{where}: inlined")


def check_report(where, r, pid):
    check(set(r) == {"schema", "kind", "pid", "time", "dedup", "access", "block", "heap", "stacks",
                     "symbolized"}, f"{where}: fields {sorted(r)}")
    check(r["schema"] == "wsheap-report/1", f"{where}: schema {r['schema']!r}")
    check(r["pid"] == pid, f"{where}: pid {r['pid']} != {pid}")
    check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", r["time"]) is not None,
          f"{where}: time {r['time']!r}")
    check(re.match(r"^[0-9a-f]{1,16}$", r["dedup"]) is not None, f"{where}: dedup {r['dedup']!r}")
    a = r["access"]
    check(set(a) == {"type", "address", "thread", "found_by"}, f"{where}: access fields {sorted(a)}")
    check(HEX.match(a["address"]) is not None, f"{where}: access address")
    check(isinstance(a["thread"], int) and a["thread"] > 0, f"{where}: access thread")
    h = r["heap"]
    check(set(h) == {"handle", "name", "backend", "sampled"}, f"{where}: heap fields {sorted(h)}")
    check(HEX.match(h["handle"]) is not None, f"{where}: heap handle")
    check(h["backend"] == "guarded" and h["sampled"] is False, f"{where}: heap backend/sampled")
    check(isinstance(r["stacks"], list) and r["stacks"], f"{where}: no stacks")
    for s in r["stacks"]:
        check(set(s) == {"role", "thread", "frames"}, f"{where}: stack fields {sorted(s)}")
        check(s["role"] in ROLES, f"{where}: role {s['role']!r}")
        check(isinstance(s["thread"], int), f"{where}: stack thread")
        check_frames(f"{where} {s['role']}", s["frames"])
    check(r["symbolized"] is True, f"{where}: not symbolized")


os.makedirs(work, exist_ok=True)
shutil.rmtree(work)
os.makedirs(work)

# 1. One overflow, halt mode: every field.
status, err, objs, pid = run("overflow")
check(status == -11, f"overflow: status {status}, want death by SIGSEGV", err)
check(f"==wsheap=={pid}== the heap-buffer-overflow report written to " in err,
      "overflow: stderr does not say where the report went", err)
check(len(objs) == 1, f"overflow: {len(objs)} objects")
if objs:
    r = objs[0]
    check_report("overflow", r, pid)
    check(r["kind"] == "heap-buffer-overflow", f"overflow: kind {r['kind']!r}")
    check(r["access"]["type"] == "WRITE" and r["access"]["thread"] == pid
          and r["access"]["found_by"] is None, f"overflow: access {r['access']}")
    b = r["block"]
    check(b is not None and set(b) == {"address", "size", "offset", "ordinal", "redzone_only"},
          f"overflow: block {b}")
    if b:
        check(b["size"] == 24 and b["offset"] == 24 and b["ordinal"] == 0
              and b["redzone_only"] is False, f"overflow: block {b}")
        check(int(r["access"]["address"], 16) - int(b["address"], 16) == 24,
              "overflow: the access is not 24 bytes past the block")
    check(r["heap"]["name"] == "report-program", f"overflow: heap name {r['heap']['name']!r}")
    roles = [s["role"] for s in r["stacks"]]
    check(roles == ["access", "allocation"], f"overflow: roles {roles}")
    top = r["stacks"][0]["frames"][0]
    check(top["function"] == "overflow_write" and top["file"].endswith("report_program.c")
          and top["module"].endswith("/report_program"), f"overflow: top frame {top}")
    check(any(f["function"] == "WsAlloc" for f in r["stacks"][1]["frames"]),
          "overflow: WsAlloc not in the allocation stack")

# 2. A heap name that needs escaping; the parser gets it back (bytes that are not UTF-8 become
#    U+FFFD).
status, err, objs, pid = run("name")
check(len(objs) == 1, f"name: {len(objs)} objects")
if objs:
    want = "q\"b\\s\n\t\x01\x7f-\ufffd\ufffd(-\u20ac-end"
    check(objs[0]["heap"]["name"] == want, f"name: {objs[0]['heap']['name']!r} != {want!r}")

# 3. Keep-going: three reports, in order, one per line.
status, err, objs, pid = run("three", env={"WSHEAP_HALT_ON_ERROR": "0"})
check(status == 1, f"three: status {status}, want 1", err)
check(f"==wsheap=={pid}== 3 errors reported (3 distinct, 0 suppressed)" in err, "three: total", err)
kinds = [o.get("kind") for o in objs]
check(kinds == ["heap-buffer-overflow", "use-after-reset", "corrupted-slack"], f"three: {kinds}")
if len(objs) == 3:
    for i, o in enumerate(objs):
        check_report(f"three[{i}]", o, pid)
    check([s["role"] for s in objs[1]["stacks"]] == ["access", "allocation", "reset"],
          f"three: use-after-reset roles {[s['role'] for s in objs[1]['stacks']]}")
    check(objs[1]["access"]["type"] == "READ", "three: use-after-reset is not a READ")
    slack = objs[2]
    check([s["role"] for s in slack["stacks"]] == ["reset", "allocation"],
          f"three: corrupted-slack roles {[s['role'] for s in slack['stacks']]}")
    check(slack["access"]["type"] is None and slack["access"]["found_by"] == "WsResetHeap",
          f"three: corrupted-slack access {slack['access']}")
    check(slack["block"]["corrupted_bytes"] == 1 and slack["block"]["corrupted_blocks"] == 1
          and slack["block"]["size"] == 13 and slack["block"]["offset"] == 13,
          f"three: corrupted-slack block {slack['block']}")
    check(len({o["dedup"] for o in objs}) == 3, "three: dedup keys are not distinct")
    # 4. The same bug in another run has the same key (addresses are module-relative).
    status, err, again, _ = run("overflow", "-again")
    status, err, third, _ = run("overflow", "-third")
    check(again and third and again[0]["dedup"] == third[0]["dedup"],
          "overflow: the dedup key differs between two runs of the same bug")

if failures:
    for f in failures:
        print("FAIL:", f, file=sys.stderr)
    print(f"{len(failures)} failure(s)", file=sys.stderr)
    sys.exit(1)
print("JSON reports: all checks passed")
