"""ELF inspection without binutils: the architecture, SONAME and DT_NEEDED entries of a shared object, read
from its program headers and dynamic segment (what `readelf -d` shows)."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

ELF_MAGIC = b"\x7fELF"
ELF_MACHINES = {3: "i386", 62: "x86_64", 40: "arm", 183: "aarch64"}
ELF_MACHINE_FOR_ARCH = {"x86_64": 62, "arm64": 183}
_PT_LOAD, _PT_DYNAMIC = 1, 2
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_SONAME = 0, 1, 5, 14


@dataclass(frozen=True)
class ElfInfo:
    machine: int  # e_machine: 62 x86_64, 183 aarch64
    soname: str
    needed: tuple[str, ...]  # DT_NEEDED entries, in order

    @property
    def machine_name(self) -> str:
        return ELF_MACHINES.get(self.machine, f"machine {self.machine}")


def elf_info(path: Path) -> ElfInfo | None:
    """The architecture, SONAME and DT_NEEDED entries of an ELF file (what `readelf -d` shows); None if
    `path` is not ELF. Reads the program headers and the dynamic segment only."""
    with path.open("rb") as fh:
        ident = fh.read(16)
        if len(ident) < 16 or ident[:4] != ELF_MAGIC:
            return None
        is64, order = ident[4] == 2, "<" if ident[5] == 1 else ">"
        header = fh.read(48 if is64 else 36)
        if is64:
            _, machine, _, _, phoff, _, _, _, phentsize, phnum = struct.unpack(
                order + "HHIQQQIHHH", header[:42]
            )
        else:
            _, machine, _, _, phoff, _, _, _, phentsize, phnum = struct.unpack(
                order + "HHIIIIIHHH", header[:30]
            )
        segments = []
        for index in range(phnum):
            fh.seek(phoff + index * phentsize)
            raw = fh.read(phentsize)
            if is64:
                p_type, _, p_offset, p_vaddr, _, p_filesz, _, _ = struct.unpack(order + "IIQQQQQQ", raw[:56])
            else:
                p_type, p_offset, p_vaddr, _, p_filesz, _, _, _ = struct.unpack(order + "IIIIIIII", raw[:32])
            segments.append((p_type, p_offset, p_vaddr, p_filesz))
        dynamic = [(off, size) for kind, off, _, size in segments if kind == _PT_DYNAMIC]
        if not dynamic:
            return ElfInfo(machine=machine, soname="", needed=())
        entries = _dynamic_entries(fh, dynamic[0], is64, order)
        strtab_vaddr = next((val for tag, val in entries if tag == _DT_STRTAB), None)
        strtab = _vaddr_to_offset(strtab_vaddr, segments) if strtab_vaddr is not None else None
        if strtab is None:
            return ElfInfo(machine=machine, soname="", needed=())
        needed = tuple(_read_cstring(fh, strtab + val) for tag, val in entries if tag == _DT_NEEDED)
        soname = next((_read_cstring(fh, strtab + val) for tag, val in entries if tag == _DT_SONAME), "")
        return ElfInfo(machine=machine, soname=soname, needed=needed)


def _dynamic_entries(fh: BinaryIO, segment: tuple[int, int], is64: bool, order: str) -> list[tuple[int, int]]:
    offset, size = segment
    fh.seek(offset)
    raw = fh.read(size)
    fmt = order + ("qQ" if is64 else "iI")
    step = struct.calcsize(fmt)
    entries = []
    for pos in range(0, len(raw) - step + 1, step):
        tag, val = struct.unpack_from(fmt, raw, pos)
        if tag == _DT_NULL:
            break
        entries.append((tag, val))
    return entries


def _vaddr_to_offset(vaddr: int, segments: Iterable[tuple[int, int, int, int]]) -> int | None:
    for kind, offset, start, size in segments:
        if kind == _PT_LOAD and start <= vaddr < start + size:
            return vaddr - start + offset
    return None


def _read_cstring(fh: BinaryIO, offset: int, limit: int = 4096) -> str:
    fh.seek(offset)
    return fh.read(limit).split(b"\0", 1)[0].decode("utf-8", "replace")
