# SPDX-License-Identifier: MIT
"""wsheap's gdb extension: the `wsheap` commands (docs/debugging.md).

    wsheap describe ADDR   what ADDR is: heap, block, offset, live or released, stacks
    wsheap heaps           the heaps wsheap's records know, with their live blocks and bytes
    wsheap report          the report of the fault that killed the process, rebuilt
    wsheap info            the anchor: format version, library version, tables

Everything is read from wsheap's own records through the exported anchor `wsheap_debug_info`
(src/debug_info.h), with gdb.Inferior.read_memory only: it works the same on a live process
and on a core file, never calls a function in the program (gdb 13 cannot on AMX-capable
Xeons), and needs no debug information for the library (the anchor gives every field offset).
Guard pages read as zeros in a core, so nothing here goes by which memory is readable: only
by the records. Stacks are named by gdb itself (symbols, line tables) and printed in the
report's frame format, `#N 0xPC in FUNCTION FILE:LINE (MODULE+0xOFFSET)`.

Load it with `source <datadir>/wsheap/gdb/wsheap.py`, or let gdb auto-load it with the library
(`add-auto-load-safe-path <libdir>`).
"""

import os
import struct

import gdb

# The anchor format this reader understands (WSH_DEBUG_VERSION_MAJOR in src/debug_info.h).
READER_MAJOR = 1
MAGIC = b"wsheap-debug"
ANCHOR = "wsheap_debug_info"
ACCESS_FRAMES = 32  # as many access frames as the report shows


class WsheapError(Exception):
    """Something the user must be told instead of a result."""


# --- Reading the target -------------------------------------------------------------------------


class Memory:
    """Little-endian reads of the selected inferior's memory (a process or a core)."""

    def __init__(self):
        self.inferior = gdb.selected_inferior()
        if self.inferior is None or (self.inferior.pid == 0 and not _has_core()):
            raise WsheapError("no process or core file: run the program, attach, or load a core")

    def read(self, addr, size):
        try:
            return bytes(self.inferior.read_memory(addr, size))
        except (gdb.MemoryError, gdb.error, OverflowError, ValueError) as e:
            raise WsheapError("cannot read %d bytes at 0x%x: %s" % (size, addr, e)) from None

    def try_read(self, addr, size):
        try:
            return self.read(addr, size)
        except WsheapError:
            return None

    def uint(self, addr, size):
        return int.from_bytes(self.read(addr, size), "little")

    def cstring(self, addr, limit=4096):
        """The NUL-terminated bytes at addr (at most `limit`), read page piece by page piece."""
        out = b""
        while len(out) < limit:
            piece = 256 - (addr + len(out)) % 256
            data = self.try_read(addr + len(out), piece)
            if data is None:
                break
            nul = data.find(b"\0")
            if nul >= 0:
                return out + data[:nul]
            out += data
        return out


def _has_core():
    try:
        return "core" in gdb.execute("info target", to_string=True).lower()
    except gdb.error:
        return False


def _anchor_address():
    try:
        value = gdb.parse_and_eval("&%s" % ANCHOR)
    except gdb.error:
        raise WsheapError(
            "no symbol %s: the program does not use libwsheap, the library is not loaded yet "
            "(break after it is, or load the core with the program), or it is older than the "
            "debugger anchor (wsheap 0.1.x)" % ANCHOR
        ) from None
    return int(value.cast(gdb.lookup_type("unsigned long")))


class Record:
    """One record of the target, read at once: record["field"] by the anchor's offsets."""

    def __init__(self, anchor, prefix, addr, data):
        self.anchor, self.prefix, self.addr, self.data = anchor, prefix, addr, data

    def __getitem__(self, name):
        off, size = self.anchor.field(self.prefix + "." + name)
        return int.from_bytes(self.data[off : off + size], "little")

    def signed(self, name):
        off, size = self.anchor.field(self.prefix + "." + name)
        return int.from_bytes(self.data[off : off + size], "little", signed=True)

    def raw(self, name):
        off, size = self.anchor.field(self.prefix + "." + name)
        return self.data[off : off + size]

    def sub(self, name, prefix):
        """The record embedded at field `name`, read as a `prefix` record."""
        off, size = self.anchor.field(self.prefix + "." + name)
        return Record(self.anchor, prefix, self.addr + off, self.data[off : off + size])


class Anchor:
    """wsheap_debug_info: checked, with its field table read into a dict."""

    def __init__(self, mem):
        self.mem = mem
        self.addr = _anchor_address()
        header = mem.read(self.addr, 40)
        magic = header[:16].rstrip(b"\0")
        if magic != MAGIC:
            raise WsheapError(
                "%s at 0x%x does not start with the magic %r but %r: not an anchor this "
                "extension can read (a different program's symbol, or a damaged core)"
                % (ANCHOR, self.addr, MAGIC.decode(), magic[:16])
            )
        version, pointer_size, field_size, n_fields = struct.unpack_from("<4I", header, 16)
        self.major, self.minor = version >> 16, version & 0xFFFF
        if self.major != READER_MAJOR:
            raise WsheapError(
                "%s has format version %d.%d, but this extension reads version %d.x only: "
                "use the wsheap.py installed with that library (<datadir>/wsheap/gdb, "
                "docs/debugging.md)" % (ANCHOR, self.major, self.minor, READER_MAJOR)
            )
        if pointer_size != 8 or field_size < 16 or n_fields == 0 or n_fields > 4096:
            raise WsheapError(
                "%s has an unexpected shape (pointer size %d, field size %d, %d fields)"
                % (ANCHOR, pointer_size, field_size, n_fields)
            )
        self.pointer_size = pointer_size
        fields_addr = int.from_bytes(header[32:40], "little")
        table = mem.read(fields_addr, n_fields * field_size)
        name_size = field_size - 8
        self.values = {}
        for i in range(n_fields):
            entry = table[i * field_size : (i + 1) * field_size]
            name = entry[:name_size].split(b"\0")[0].decode("ascii", "replace")
            self.values[name] = int.from_bytes(entry[name_size:], "little")
        self.tables = {}

    def value(self, name):
        try:
            return self.values[name]
        except KeyError:
            raise WsheapError(
                "%s (format %d.%d) has no entry %r: this extension expects a newer library"
                % (ANCHOR, self.major, self.minor, name)
            ) from None

    def field(self, name):
        v = self.value(name)
        return v & 0xFFFFFFFF, v >> 32

    def record_size(self, prefix):
        """Bytes from a `prefix` record's start to the end of its last field the anchor names."""
        end = 0
        for name, v in self.values.items():
            if name.startswith(prefix + ".") and (v >> 32) != 0 and (v >> 32) < 4096:
                end = max(end, (v & 0xFFFFFFFF) + (v >> 32))
        return end

    def record(self, prefix, addr, size=None):
        size = size if size is not None else self.record_size(prefix)
        return Record(self, prefix, addr, self.mem.read(addr, size))

    def table(self, name):
        """A table descriptor (struct wsh_debug_table) as a dict."""
        if name not in self.tables:
            rec = self.record("table", self.value(name))
            self.tables[name] = {
                "top": rec["top"],
                "count": rec["count"],
                "n_top": rec["n_top"],
                "shift": rec["shift"],
                "per_entry": rec["per_entry"],
            }
        return self.tables[name]

    def ptr(self, addr):
        return self.mem.uint(addr, self.pointer_size)


# --- Names as the report shows them (src/name.c) ------------------------------------------------

_HIDDEN = lambda c: (  # noqa: E731
    0x80 <= c <= 0x9F or c in (0x200E, 0x200F) or 0x2028 <= c <= 0x202E or 0x2066 <= c <= 0x2069
)


def _utf8_sequence(s, i):
    """(length, code point) of the valid UTF-8 sequence at s[i] (s[i] >= 0x80), or (0, 0)."""
    b = s[i]
    if 0xC2 <= b <= 0xDF:
        n, c, low = 2, b & 0x1F, 0x80
    elif 0xE0 <= b <= 0xEF:
        n, c, low = 3, b & 0x0F, 0x800
    elif 0xF0 <= b <= 0xF4:
        n, c, low = 4, b & 0x07, 0x10000
    else:
        return 0, 0
    for k in range(1, n):
        if i + k >= len(s) or (s[i + k] & 0xC0) != 0x80:
            return 0, 0
        c = c << 6 | (s[i + k] & 0x3F)
    if c < low or c > 0x10FFFF or 0xD800 <= c <= 0xDFFF:
        return 0, 0
    return n, c


def escape_name(raw):
    """A heap name as wsh_name_escape renders it for a report line."""
    out, i = [], 0
    while i < len(raw):
        b = raw[i]
        used = 1
        if b in (0x22, 0x5C):
            unit = "\\" + chr(b)
        elif 0x20 <= b < 0x7F:
            unit = chr(b)
        elif b in (0x0A, 0x09, 0x0D):
            unit = {0x0A: "\\n", 0x09: "\\t", 0x0D: "\\r"}[b]
        else:
            n, c = _utf8_sequence(raw, i) if b >= 0x80 else (0, 0)
            if n and not _HIDDEN(c):
                unit, used = raw[i : i + n].decode("utf-8"), n
            else:
                used = n or 1
                unit = "".join("\\x%02x" % x for x in raw[i : i + used])
        out.append(unit)
        i += used
    return "".join(out)


def _name_of(raw):
    return raw.split(b"\0")[0]


# --- Stacks: the depot, the module table, gdb's symbols -----------------------------------------


class Stacks:
    """Reads depot stacks and names frames; one per command (module table read once)."""

    def __init__(self, anchor):
        self.anchor = anchor
        self._modules = None
        self._names = {}

    def depot(self, handle):
        """[(pc, module id)] of depot stack `handle`; [] for 0 or an unknown handle."""
        if handle == 0:
            return []
        a = self.anchor
        t = a.table("depot")
        v = handle - 1
        chunk, off = v >> t["shift"], v & (t["per_entry"] - 1)
        if chunk >= t["n_top"]:
            return []
        base = a.ptr(t["top"] + chunk * a.pointer_size)
        if base == 0:
            return []
        word = a.value("depot.word_size")
        head = a.mem.uint(base + off * word, word)
        n = head >> a.value("depot.count_shift")
        if n == 0 or n > 256:
            return []
        first = a.value("depot.frames_word")
        data = a.mem.read(base + (off + first) * word, (n + (n + 1) // 2) * word)
        pcs = [int.from_bytes(data[i * word : (i + 1) * word], "little") for i in range(n)]
        ids = []
        for i in range(n):
            w = int.from_bytes(data[(n + i // 2) * word : (n + i // 2 + 1) * word], "little")
            ids.append((w >> (i % 2 * 32)) & 0xFFFFFFFF)
        return list(zip(pcs, ids))

    def modules(self):
        """The module table: [(start, end, base, path, unloaded)], index = id - 1."""
        if self._modules is None:
            a = self.anchor
            t = a.table("modules")
            count = a.mem.uint(t["count"], 4) if t["count"] else 0
            size = a.value("module.size_of")
            mods = []
            for i in range(count):
                chunk = a.ptr(t["top"] + (i // t["per_entry"]) * a.pointer_size)
                if chunk == 0:
                    mods.append(None)
                    continue
                rec = a.record("module", chunk + (i % t["per_entry"]) * size, size)
                path = a.mem.cstring(rec["path"]).decode("utf-8", "replace")
                mods.append((rec["start"], rec["end"], rec["base"], path, rec["unloaded"] != 0))
            self._modules = mods
        return self._modules

    def module_of(self, pc, noted):
        """(path, base) of the module of pc: the one the depot noted, else the newest loaded
        module of the table holding it, else gdb's shared library list (base unknown)."""
        mods = self.modules()
        if 0 < noted <= len(mods) and mods[noted - 1] is not None:
            m = mods[noted - 1]
            return m[3], m[2]
        look = pc - 1 if pc else 0
        for m in reversed(mods):
            if m is not None and m[0] <= look < m[1] and not m[4]:
                return m[3], m[2]
        try:
            name = gdb.current_progspace().solib_name(pc)
        except (gdb.error, RuntimeError):
            name = None
        return (name, None) if name else (None, None)

    def names(self, lookup):
        """(function, "file:line") for an address, by gdb's symbols; None where unknown."""
        if lookup in self._names:
            return self._names[lookup]
        func = loc = None
        try:
            block = gdb.block_for_pc(lookup)
        except (gdb.error, RuntimeError):
            block = None
        while block is not None and block.function is None:
            block = block.superblock
        if block is not None:
            func = block.function.print_name
        else:
            try:
                text = gdb.execute("info symbol 0x%x" % lookup, to_string=True).strip()
            except gdb.error:
                text = ""
            if text and not text.startswith("No symbol"):
                func = text.split(" in section ")[0].split(" + ")[0].strip()
        try:
            sal = gdb.find_pc_line(lookup)
        except (gdb.error, RuntimeError):
            sal = None
        if sal is not None and sal.symtab is not None and sal.line > 0:
            loc = "%s:%d" % (sal.symtab.filename, sal.line)
        self._names[lookup] = (func, loc)
        return func, loc

    def lines(self, frames, indent, fault_first=False):
        """The report's lines for frames [(pc, module id)]: return addresses are named at pc - 1
        (the call), except a faulting instruction first when `fault_first`."""
        if not frames:
            return [indent + "<no stack recorded (WSHEAP_STACK_DEPTH=0?)>"]
        out = []
        for k, (pc, noted) in enumerate(frames):
            lookup = pc if (fault_first and k == 0) or pc == 0 else pc - 1
            func, loc = self.names(lookup)
            line = "%s#%d 0x%x" % (indent, k, pc)
            if func is not None or loc is not None:
                line += " in " + (func or "??") + (" " + loc if loc else "")
            path, base = self.module_of(pc, noted)
            if path is not None and base is not None:
                line += " (%s+0x%x)" % (path, pc - base)
            elif path is not None:
                line += " (%s)" % path
            else:
                line += " (<unknown module>)"
            out.append(line)
        return out


# --- Guarded memory: spans and blocks (src/guarded/spans.h, fault.c) ----------------------------


class Guarded:
    """The guarded backend's records: span lookups and the analysis fault.c makes."""

    def __init__(self, anchor):
        self.a = anchor
        self.span_size = anchor.record_size("span")

    def span(self, addr):
        """The span record at `addr`, checked by its magic; None when unreadable or damaged."""
        try:
            s = self.a.record("span", addr, self.span_size)
        except WsheapError:
            return None
        return s if s["magic"] == self.a.value("span.magic_value") else None

    def lost(self, addr):
        """Why the span header at `addr`, which the address table names, cannot be read."""
        data = self.a.mem.try_read(addr, self.span_size)
        if data is not None and data.count(0) == len(data):
            return (
                "the span header at 0x%x, which wsheap's address table names, reads as zeros: "
                "the core lacks that memory (gdb's gcore cannot copy memory that holds "
                "MADV_GUARD_INSTALL guard pages, and leaves it out; use the kernel's core, "
                "docs/debugging.md)" % addr
            )
        return "the span header at 0x%x, which wsheap's address table names, is %s" % (
            addr,
            "unreadable" if data is None else "damaged (bad magic)",
        )

    def lookup(self, addr):
        """The span holding addr through the address table (wsh_span_lookup), or None."""
        a = self.a
        t = a.table("spans")
        if addr < 0 or addr >> a.value("span.address_bits"):
            return None
        top = addr >> t["shift"]
        if top >= t["n_top"]:
            return None
        leaf = a.ptr(t["top"] + top * a.pointer_size)
        if leaf == 0:
            return None
        slot = (addr >> a.value("span.granule_shift")) & (t["per_entry"] - 1)
        sp = a.ptr(leaf + slot * a.pointer_size)
        if sp == 0:
            return None
        s = self.span(sp)
        if s is None:
            raise WsheapError(self.lost(sp))
        if not s["base"] <= addr < s["base"] + s["size"]:
            return None
        return s

    def all_spans(self):
        """Every span in the address table, each once, in address order."""
        a = self.a
        t = a.table("spans")
        ps = a.pointer_size
        tops = a.mem.read(t["top"], t["n_top"] * ps)
        seen, spans, self.lost_spans = set(), [], []
        for i in range(t["n_top"]):
            leaf = int.from_bytes(tops[i * ps : (i + 1) * ps], "little")
            if leaf == 0:
                continue
            slots = a.mem.read(leaf, t["per_entry"] * ps)
            for (sp,) in struct.iter_unpack("<Q", slots):
                if sp != 0 and sp not in seen:
                    seen.add(sp)
                    s = self.span(sp)
                    if s is not None:
                        spans.append(s)
                    else:
                        self.lost_spans.append(sp)
        return spans

    def block(self, s, i):
        size = self.a.value("block.size_of")
        return self.a.record("block", s["blocks"] + i * size, size)

    def blocks(self, s, first, n):
        size = self.a.value("block.size_of")
        if n <= first:
            return []
        data = self.a.mem.read(s["blocks"] + first * size, (n - first) * size)
        return [
            Record(self.a, "block", s["blocks"] + i * size, data[k * size : (k + 1) * size])
            for k, i in enumerate(range(first, n))
        ]

    def heap_of(self, s):
        """What fault.c's wsh_fault_describe_heap fills: handle, name (raw bytes), creation stack
        and thread, and whether the heap was freed; None when the home span is unreadable."""
        a = self.a
        home = s if s["home"] == s.addr else self.span(s["home"])
        if home is None:
            return None
        info = {
            "home": home,
            "heap": home["heap"],
            "create_stack": home["create_stack"],
            "create_tid": home.signed("create_tid"),
            "freed": home["state"] == a.value("span.state_freed"),
            "name": b"",
        }
        if home["state"] == a.value("span.state_live"):
            off, size = a.field("heap.name")
            raw = a.mem.try_read(home["heap"] + off, size)
            info["name"] = _name_of(raw) if raw is not None else b""
        else:
            info["name"] = _name_of(home.raw("freed_name"))
        return info

    def analyse(self, addr):
        """fault.c's analysis of addr as a dict (kind, where, distance, block...); None when addr
        is not in guarded memory."""
        a = self.a
        s = self.lookup(addr)
        if s is None:
            return None
        heap = self.heap_of(s) or {"heap": 0, "name": b"", "create_stack": 0, "create_tid": 0}
        f = {
            "addr": addr,
            "kind": "wild-access",
            "where": "inside",
            "distance": 0,
            "block": None,
            "heap": heap["heap"],
            "heap_name": heap["name"],
            "create_stack": heap["create_stack"],
            "create_tid": heap["create_tid"],
            "release_stack": 0,
            "release_tid": 0,
            "release_reset": 0,
        }
        if s["kind"] == a.value("span.kind_home"):
            if s["area"] <= addr < s["area"] + s["heap_size"] and s["state"] == a.value(
                "span.state_freed"
            ):
                f.update(
                    kind="use-after-free-heap",
                    where="heap_object",
                    distance=addr - s["area"],
                    release_stack=s["release_stack"],
                    release_tid=s.signed("release_tid"),
                )
            return f
        n = min(s["n_blocks"], s["capacity"])
        if n == 0 or addr < s["area"]:
            return f
        lo, hi, found = 0, n - 1, -1
        while lo <= hi:
            mid = (lo + hi) // 2
            if self.block(s, mid)["user"] <= addr:
                found, lo = mid, mid + 1
            else:
                hi = mid - 1
        left = self.block(s, found) if found >= 0 else None
        right = self.block(s, found + 1) if found + 1 < n else None
        if left is not None and addr < left["user"] + left["size"]:
            b, where, distance = left, "inside", addr - left["user"]
        elif left is not None and (
            right is None or addr - (left["user"] + left["size"]) <= right["user"] - addr
        ):
            b, where, distance = left, "right", addr - (left["user"] + left["size"])
        else:
            b, where, distance = right, "left", right["user"] - addr
        released = b["released"]
        f.update(where=where, distance=distance, block=b)
        if released:
            f.update(
                release_stack=b["release_stack"],
                release_tid=b.signed("release_tid"),
                release_reset=b["release_reset"],
            )
        if released == a.value("span.state_reset"):
            f["kind"] = "use-after-reset"
        elif released == a.value("span.state_freed"):
            f["kind"] = "use-after-free-heap"
        elif where == "right":
            f["kind"] = "heap-buffer-overflow"
        elif where == "left":
            f["kind"] = "heap-buffer-underflow"
        return f


# --- wsheap describe (src/describe.c's lines) ---------------------------------------------------


def describe_lines(mem, addr):
    a = Anchor(mem)
    g = Guarded(a)
    st = Stacks(a)
    f = g.analyse(addr)
    if f is None:
        return [
            "wsheap: 0x%x is not in any heap wsheap knows (no guarded heap holds it; from a "
            "debugger wsheap reads guarded heaps only: arena heaps keep no block records)" % addr
        ]
    name = ' "%s"' % escape_name(f["heap_name"]) if f["heap_name"] else ""
    freed = f["kind"] == "use-after-free-heap"
    released = f["release_reset"] if f["kind"] in ("use-after-reset", "use-after-free-heap") else 0
    release = []
    if freed or released:
        call = "WsFreeHeap" if freed else "WsResetHeap (reset #%d)" % released
        frames = [(pc, m) for pc, m in st.depot(f["release_stack"])][:16]
        if not frames:
            release = ["wsheap: released by %s: stack not recorded (WSHEAP_STACK_DEPTH=0)" % call]
        else:
            if f["release_tid"]:
                release = ["wsheap: released by %s in thread %d:" % (call, f["release_tid"])]
            else:
                release = ["wsheap: released by %s:" % call]
            release += st.lines(frames, "    ")
    b = f["block"]
    if b is None:
        note = (
            "the heap object of a freed heap"
            if f["where"] == "heap_object"
            else "guard pages or unused guarded memory"
        )
        out = [
            "wsheap: 0x%x is in heap 0x%x%s (guarded backend): %s" % (addr, f["heap"], name, note)
        ]
        if released:
            out.append("wsheap: that memory was released by reset #%d of the heap" % released)
            out += release
        return out
    word = {"inside": "inside", "right": "after", "left": "before"}[f["where"]]
    out = [
        "wsheap: 0x%x is %d bytes %s the %d-byte block at 0x%x of heap 0x%x%s (guarded backend)"
        % (addr, f["distance"], word, b["size"], b["user"], f["heap"], name)
    ]
    if freed:
        out.append(
            "wsheap: the block was released when its heap was freed (WsFreeHeap): a stale pointer"
        )
    elif released:
        out.append(
            "wsheap: the block was block #%d of its round and was released by reset #%d "
            "(WsResetHeap): a stale pointer" % (b["ordinal"], released)
        )
    else:
        out.append("wsheap: the block is live: block #%d of the current round" % b["ordinal"])
    frames = st.depot(b["alloc_stack"])[:16]
    if not frames:
        out.append("wsheap: allocation stack: not recorded (WSHEAP_STACK_DEPTH=0)")
    else:
        tid = b.signed("tid")
        out.append("wsheap: allocated by thread %d at:" % tid if tid else "wsheap: allocated at:")
        out += st.lines(frames, "    ")
    return out + release


# --- wsheap heaps -------------------------------------------------------------------------------


def heaps_lines(mem):
    a = Anchor(mem)
    g = Guarded(a)
    heaps = {}
    for s in g.all_spans():
        home_addr = s["home"]
        h = heaps.setdefault(home_addr, {"blocks": 0, "bytes": 0, "spans": 0, "quarantined": 0})
        h["spans"] += 1
        if s["state"] != a.value("span.state_live"):
            h["quarantined"] += 1
        if s["kind"] == a.value("span.kind_home"):
            continue
        n = min(s["n_blocks"], s["capacity"])
        for b in g.blocks(s, s["live_from"], n):
            if b["released"] == 0:
                h["blocks"] += 1
                h["bytes"] += b["size"]
    rows = []
    for home_addr, h in heaps.items():
        home = g.span(home_addr)
        if home is None:
            continue
        info = g.heap_of(home)
        state = "freed" if info["freed"] else "live"
        resets = ""
        if not info["freed"]:
            data = mem.try_read(info["heap"], a.record_size("heap"))
            if data is not None:
                resets = str(Record(a, "heap", info["heap"], data)["n_resets"])
        name = '"%s"' % escape_name(info["name"]) if info["name"] else "-"
        rows.append((info["heap"], name, state, h["blocks"], h["bytes"], resets, h["spans"]))
    rows.sort()
    lost = ["wsheap: " + g.lost(sp) for sp in g.lost_spans[:1]]
    if len(g.lost_spans) > 1:
        lost.append("wsheap: (and %d more spans like it)" % (len(g.lost_spans) - 1))
    live = sum(1 for r in rows if r[2] == "live")
    out = [
        "wsheap: %d guarded heap%s in wsheap's records (%d live, %d freed and quarantined)"
        % (len(rows), "" if len(rows) == 1 else "s", live, len(rows) - live)
    ]
    if rows:
        width = max(len("name"), max(len(r[1]) for r in rows))
        out.append(
            "  %-18s %-*s %-8s %-6s %11s %12s %6s %5s"
            % (("heap", width, "name", "backend", "state")
               + ("live blocks", "live bytes", "resets", "spans"))
        )
        for r in rows:
            out.append(
                "  0x%-16x %-*s %-8s %-6s %11d %12d %6s %5d"
                % (r[0], width, r[1], "guarded", r[2], r[3], r[4], r[5] or "-", r[6])
            )
    out.append(
        "wsheap: arena heaps keep no records a debugger can read (tracked arenas under ASan or "
        "memcheck: use wsheap_describe_address in the live process)"
    )
    return out + lost


# --- wsheap report (src/guarded/report.c's lines) -----------------------------------------------

_KIND_NAMES = (
    "heap-buffer-overflow",
    "heap-buffer-underflow",
    "use-after-reset",
    "use-after-free-heap",
    "corrupted-slack",
    "corrupted-redzone",
    "wild-access",
    "concurrent-use",
)


def _canary(addr):
    return (0xC8 + (addr & 7)) & 0xFF


def _access_frames(tid, pc):
    """The faulting thread's frames [(pc, 0)] from gdb's unwinder, starting at the faulting
    instruction `pc` (its frame 0 in a core; past the signal frame while the handler runs)."""
    thread = None
    for t in gdb.selected_inferior().threads():
        if t.ptid[1] == tid or (t.ptid[1] == 0 and t.ptid[0] == tid):
            thread = t
    if thread is None:
        return None
    saved_thread = gdb.selected_thread()
    try:
        saved_frame = gdb.selected_frame()
    except gdb.error:
        saved_frame = None
    pcs = []
    past_main = gdb.parameter("backtrace past-main")
    try:
        # The report's unwinder goes on past main (into libc's start code): so does this walk.
        gdb.execute("set backtrace past-main on", to_string=True)
        thread.switch()
        frame = gdb.newest_frame()
        chain = []
        while frame is not None and len(chain) < 256:
            chain.append(frame)
            try:
                frame = frame.older()
            except gdb.error:
                break
        start = 0
        for i, fr in enumerate(chain):
            if fr.type() == gdb.SIGTRAMP_FRAME:
                start = i + 1
        if any(fr.pc() == pc for fr in chain[:1]):
            start = 0
        for fr in chain[start:]:
            if fr.type() in (gdb.INLINE_FRAME, gdb.SIGTRAMP_FRAME):
                continue
            pcs.append((fr.pc(), 0))
            if len(pcs) == ACCESS_FRAMES:
                break
    finally:
        gdb.execute("set backtrace past-main %s" % ("on" if past_main else "off"), to_string=True)
        if saved_thread is not None:
            saved_thread.switch()
        if saved_frame is not None:
            try:
                saved_frame.select()
            except gdb.error:
                pass
    return pcs


def report_lines(mem):
    a = Anchor(mem)
    st = Stacks(a)
    rec = a.record("fault", a.value("fault"))
    state = rec["state"]
    if state == 0:
        return [
            "wsheap: no fault was reported in this process (the last-fault record of %s is "
            "empty)%s" % (ANCHOR, _pending_signal_hint(mem, a))
        ]
    if state != a.value("fault.state_complete"):
        return ["wsheap: a report had begun but its record is incomplete (a fault while copying)"]
    f = rec.sub("f", "f")
    kinds = {a.value("kind." + k): k for k in _KIND_NAMES if ("kind." + k) in a.values}
    kind = kinds.get(f["kind"], "unknown")
    wheres = {a.value("where." + w): w for w in ("inside", "right", "left", "heap_object")}
    where = wheres.get(f["where"], "inside")
    has_block = f["has_block"] != 0
    block = f.sub("block", "block")
    name_raw = _name_of(f.raw("heap_name"))
    heap = "heap 0x%x" % f["heap"] + (' "%s"' % escape_name(name_raw) if name_raw else "")
    found_by = mem.cstring(f["found_by"]).decode() if f["found_by"] else None
    count = rec["count"]
    out = [
        "wsheap: the report of the last fault wsheap reported%s, rebuilt from its last-fault "
        "record (thread %d):" % (" (of %d)" % count if count > 1 else "", rec.signed("tid"))
    ]
    p = _prefix(mem)
    if kind == "concurrent-use":
        other = mem.cstring(f["other_call"]).decode() if f["other_call"] else "?"
        out.append(
            p + "ERROR: concurrent-use of %s by thread %d in %s while thread %d is inside %s"
            % (heap, f.signed("release_tid"), found_by, f.signed("other_tid"), other)
        )
        out.append(
            p + "a heap is used by one thread at a time: calls on it must not overlap "
            "(backend guarded)"
        )
    else:
        line = p + "ERROR: " + kind
        if f["access"]:
            line += " WRITE" if f["access"] == 2 else " READ"
        line += " at 0x%x" % f["addr"]
        corruption = kind in ("corrupted-slack", "corrupted-redzone")
        if found_by is not None:
            line += " found by " + found_by
        if corruption and f["n_corrupted"] > 1:
            line += " (%d corrupted blocks; the first is shown)" % f["n_corrupted"]
        out.append(line)
        d = f["distance"]
        if has_block:
            side = {"inside": "inside", "right": "to the right of"}.get(where, "to the left of")
            out.append(
                p + "%d byte%s %s a %d-byte block #%d from WsAlloc on %s %s"
                % (
                    d,
                    "" if d == 1 else "s",
                    side,
                    block["size"],
                    block["ordinal"],
                    heap,
                    "(backend guarded, redzone-only block)"
                    if f["redzone"]
                    else "(backend guarded)",
                )
            )
        elif where == "heap_object":
            out.append(
                p + "%d byte%s inside the object of %s, a heap freed by WsFreeHeap "
                "(backend guarded)"
                % (d, "" if d == 1 else "s", heap)
            )
        else:
            out.append(p + "guarded memory of %s that belongs to no block (backend guarded)" % heap)
        if corruption:
            out += _corruption_lines(mem, f, block["user"])

    sections = []
    if rec["has_context"]:
        frames = _access_frames(rec.signed("tid"), rec["pc"])
        sections.append(("access by thread %d:" % rec.signed("tid"), frames, True))
    elif found_by is not None:
        title = (
            "%s called by thread %d:" % (found_by, f.signed("release_tid"))
            if kind == "concurrent-use"
            else "found by %s in thread %d:" % (found_by, f.signed("release_tid"))
        )
        sections.append((title, st.depot(f["release_stack"]), False))
    if has_block:
        sections.append(
            (
                "block allocated by thread %d:" % block.signed("tid"),
                st.depot(block["alloc_stack"]),
                False,
            )
        )
        if kind == "use-after-reset":
            sections.append(
                (
                    "block released by WsResetHeap (reset #%d of the heap) in thread %d:"
                    % (f["release_reset"], f.signed("release_tid")),
                    st.depot(f["release_stack"]),
                    False,
                )
            )
        elif kind == "use-after-free-heap":
            sections.append(
                (
                    "block released by WsFreeHeap in thread %d:" % f.signed("release_tid"),
                    st.depot(f["release_stack"]),
                    False,
                )
            )
    else:
        if kind == "use-after-free-heap":
            sections.append(
                (
                    "heap freed by WsFreeHeap in thread %d:" % f.signed("release_tid"),
                    st.depot(f["release_stack"]),
                    False,
                )
            )
        sections.append(
            (
                "heap created by thread %d:" % f.signed("create_tid"),
                st.depot(f["create_stack"]),
                False,
            )
        )
    for title, frames, fault_first in sections:
        out.append(p + title)
        if frames is None:
            out.append("  <thread %d is not in this process or core>" % rec.signed("tid"))
        else:
            out += st.lines(frames, "  ", fault_first)
    out.append(p + "END")
    first = sections[0] if rec["has_context"] or found_by is not None else None
    alloc = [sec for sec in sections if sec[0].startswith("block allocated")]
    out.append(_summary(a, st, kind, [first] + alloc[:1]))
    return out


def _summary(anchor, st, kind, sections):
    """The report's last line, "SUMMARY: wsheap: KIND FILE:LINE in FUNCTION", naming the first
    frame outside wsheap of the access (or finding) stack, else of the allocation stack."""
    self_path, _ = st.module_of(anchor.addr + 1, 0)
    program = gdb.current_progspace().filename
    shared = self_path is not None and (
        program is None or os.path.realpath(program) != os.path.realpath(self_path)
    )
    for sec in sections:
        if sec is None or not sec[1]:
            continue
        for k, (pc, noted) in enumerate(sec[1]):
            lookup = pc if (sec[2] and k == 0) or pc == 0 else pc - 1
            func, loc = st.names(lookup)
            path, base = st.module_of(pc, noted)
            if shared and path == self_path:
                continue
            if func is not None and (
                func.startswith(("wsh_", "wsheap_"))
                or (func[:2] == "Ws" and func[2:3].isupper())
            ):
                continue
            line = "SUMMARY: wsheap: " + kind
            if loc is not None:
                line += " " + loc
            elif path is not None and base is not None:
                line += " (%s+0x%x)" % (path, pc - base)
            else:
                line += " (0x%x)" % pc
            return line + (" in " + func if func is not None else "")
    return "SUMMARY: wsheap: " + kind


def _prefix(mem):
    """The reports' line prefix, "==wsheap==<pid>== " (the pid of the process or core)."""
    pid = mem.inferior.pid
    return "==wsheap==%d== " % pid if pid > 0 else "==wsheap== "


def _corruption_lines(mem, f, user):
    """The corrupted bytes, as out_corruption in report.c shows them."""
    p = _prefix(mem)

    def offset(x):
        return "block+%d" % (x - user) if x >= user else "block-%d" % (user - x)

    check_lo, check_hi, bad_lo, bad_hi = f["check_lo"], f["check_hi"], f["bad_lo"], f["bad_hi"]
    lo = bad_lo - 8 if bad_lo >= check_lo + 8 else check_lo
    hi = min(lo + 24, check_hi)
    data = mem.try_read(lo, hi - lo) or bytes(hi - lo)
    n_bad = f["n_bad"]
    where = "after" if check_lo >= user else "before"
    line = p + "%d byte%s of the %d pattern bytes %s the block changed, at %s" % (
        n_bad,
        "" if n_bad == 1 else "s",
        check_hi - check_lo,
        where,
        offset(bad_lo),
    )
    if bad_hi - bad_lo > 1:
        line += " .. " + offset(bad_hi - 1)
    expected = " ".join("%02x" % _canary(lo + i) for i in range(hi - lo))
    actual = " ".join(
        ".." if data[i] == _canary(lo + i) else "%02x" % data[i] for i in range(hi - lo)
    )
    return [
        line + ":",
        p + "  %s expected: %s" % (offset(lo), expected),
        p + "  %s actual:   %s%s" % (offset(lo), actual, " ..." if bad_hi > hi else ""),
    ]


def _pending_signal_hint(mem, anchor):
    """For a live process stopped at a fault wsheap has not reported yet: what to do."""
    try:
        info = gdb.parse_and_eval("$_siginfo")
        signo = int(info["si_signo"])
        addr = int(info["_sifields"]["_sigfault"]["si_addr"])
    except (gdb.error, RuntimeError, ValueError):
        return ""
    if signo not in (7, 11):
        return ""
    if Guarded(anchor).lookup(addr) is None:
        return "; the program has stopped at signal %d at 0x%x, outside guarded memory" % (
            signo,
            addr,
        )
    return (
        "; the program has stopped at signal %d at 0x%x in guarded memory, before wsheap's "
        "handler ran: `continue` lets wsheap report it, and `wsheap describe 0x%x` says what it "
        "is now" % (signo, addr, addr)
    )


# --- wsheap info --------------------------------------------------------------------------------


def info_lines(mem):
    a = Anchor(mem)
    g = Guarded(a)
    spans = g.all_spans()
    st = Stacks(a)
    return [
        "wsheap: %s at 0x%x: format %d.%d, %d entries; library %d.%d.%d"
        % (
            ANCHOR,
            a.addr,
            a.major,
            a.minor,
            len(a.values),
            a.value("library.major"),
            a.value("library.minor"),
            a.value("library.patch"),
        ),
        "wsheap: %d guarded span%s in the address table, %d module%s in the module table, "
        "last-fault record %s"
        % (
            len(spans),
            "" if len(spans) == 1 else "s",
            len(st.modules()),
            "" if len(st.modules()) == 1 else "s",
            "filled" if a.mem.uint(a.value("fault") + a.field("fault.state")[0], 4) else "empty",
        ),
    ]


# --- The commands -------------------------------------------------------------------------------


def _run(lines_of):
    try:
        for line in lines_of(Memory()):
            gdb.write(line + "\n")
    except WsheapError as e:
        raise gdb.GdbError("wsheap: " + str(e)) from None


class WsheapCommand(gdb.Command):
    """wsheap's records, read from memory only (a live process or a core file).

    wsheap describe ADDR   heap, block, offset, live or released, allocation and release stacks
    wsheap heaps           the guarded heaps: name, state, live blocks and bytes
    wsheap report          the report of the fault that killed the process, rebuilt
    wsheap info            the debugger anchor (format version) and the tables it points at

    See docs/debugging.md."""

    def __init__(self):
        super().__init__("wsheap", gdb.COMMAND_DATA, gdb.COMPLETE_NONE, True)


class WsheapDescribe(gdb.Command):
    """Describe an address from wsheap's records: wsheap describe EXPRESSION

    Prints what wsheap_describe_address would print in the process: the heap (handle, name,
    backend), the block (address, size, the offset of the address inside, after or before it,
    its number in its round), whether it is live or was released, its allocation stack and,
    for released blocks, the releasing call's stack. Reads memory only."""

    def __init__(self):
        super().__init__("wsheap describe", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise gdb.GdbError("usage: wsheap describe ADDRESS-EXPRESSION")
        try:
            value = gdb.parse_and_eval(arg)
            if value.type.strip_typedefs().code == gdb.TYPE_CODE_ARRAY:
                value = value.address
            addr = int(value.cast(gdb.lookup_type("unsigned long")))
        except gdb.error as e:
            raise gdb.GdbError("wsheap describe: %s" % e) from None
        _run(lambda mem: describe_lines(mem, addr))


class WsheapHeaps(gdb.Command):
    """List the heaps wsheap's records know: wsheap heaps

    Every guarded heap in the address table, live or freed and still in the quarantine, with
    its handle, name, live blocks and bytes, reset count and spans. Reads memory only."""

    def __init__(self):
        super().__init__("wsheap heaps", gdb.COMMAND_DATA, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        _run(heaps_lines)


class WsheapReport(gdb.Command):
    """Print the report of the fault that killed the process: wsheap report

    Rebuilt from the last-fault record the library keeps (wsheap_debug_info): kind, access,
    address, block, heap and stacks, as the report on stderr showed them, with frames named by
    gdb. Reads memory only."""

    def __init__(self):
        super().__init__("wsheap report", gdb.COMMAND_DATA, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        _run(report_lines)


class WsheapInfo(gdb.Command):
    """Show the debugger anchor: wsheap info

    The address and format version of wsheap_debug_info, the library's version, and the sizes
    of the tables it points at. Reads memory only."""

    def __init__(self):
        super().__init__("wsheap info", gdb.COMMAND_DATA, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        _run(info_lines)


WsheapCommand()
WsheapDescribe()
WsheapHeaps()
WsheapReport()
WsheapInfo()
