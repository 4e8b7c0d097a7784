"""
Would every compiled file in a Lambda package load on Lambda's python3.11 runtime?

    python -m infra.aws.package_scan var/packages/dev/*.zip

The python3.11 runtime runs on Amazon Linux 2: glibc 2.26 and the libstdc++ of GCC 7.3
(libstdc++.so.6.0.24). A shared object built on a newer system asks the dynamic loader for
symbol versions those libraries do not have (`version 'GLIBC_2.34' not found`), and the
import that loads it fails: for the site that was every request (cryptography is imported
while the URLs load). The versions an ELF file needs are in its `.gnu.version_r` section
(what `readelf -V` prints as "Version needs"); this opens every ELF file in each zip,
reads that section with pyelftools, and reports each need above what Amazon Linux 2 has.

It also fails on an ELF file that is not x86-64 (the functions' `architecture`).
"""

from __future__ import annotations

import io
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

# What Amazon Linux 2 (the python3.11 runtime's OS) provides, as the highest version of
# each symbol-version family:
#   glibc 2.26                         -> GLIBC_2.26
#   libstdc++.so.6.0.24 (GCC 7.3.1)    -> GLIBCXX_3.4.24, CXXABI_1.3.11
#   libgcc_s.so.1 (GCC 7)              -> GCC_7.0.0
AMAZON_LINUX_2 = {
    "GLIBC": (2, 26),
    "GLIBCXX": (3, 4, 24),
    "CXXABI": (1, 3, 11),
    "GCC": (7, 0, 0),
}
ELF_MAGIC = b"\x7fELF"
X86_64 = "EM_X86_64"


@dataclass(frozen=True)
class Problem:
    package: str
    member: str
    need: str  # "GLIBC_2.34 (from libc.so.6)" or "machine EM_AARCH64"

    def __str__(self) -> str:
        return f"{self.package}: {self.member} needs {self.need}"


def parse_version(name: str) -> tuple[str, tuple[int, ...]] | None:
    """'GLIBC_2.34' -> ('GLIBC', (2, 34)); None for names that are not versioned families
    (GLIBC_PRIVATE, a library's own version nodes)."""
    family, sep, version = name.partition("_")
    if not sep or family not in AMAZON_LINUX_2:
        return None
    try:
        return family, tuple(int(part) for part in version.split("."))
    except ValueError:
        return None


def needs_of(data: bytes) -> tuple[str, list[tuple[str, str]]]:
    """The ELF file's machine and its (library, version name) needs."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.gnuversions import GNUVerNeedSection

    elf = ELFFile(io.BytesIO(data))
    needs: list[tuple[str, str]] = []
    for section in elf.iter_sections():
        if isinstance(section, GNUVerNeedSection):
            for verneed, auxiliaries in section.iter_versions():
                for aux in auxiliaries:
                    needs.append((verneed.name, aux.name))
    return elf["e_machine"], needs


def too_new(needs: list[tuple[str, str]]) -> list[str]:
    found = []
    for library, name in needs:
        parsed = parse_version(name)
        if parsed and parsed[1] > AMAZON_LINUX_2[parsed[0]]:
            found.append(f"{name} (from {library})")
    return found


def scan_zip(path: Path) -> tuple[int, list[Problem]]:
    """(how many ELF files the zip holds, what in them Lambda's runtime cannot load)."""
    problems: list[Problem] = []
    elf_files = 0
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir() or info.file_size < 64:
                continue
            with archive.open(info) as member:
                if member.read(4) != ELF_MAGIC:
                    continue
            elf_files += 1
            machine, needs = needs_of(archive.read(info))
            if machine != X86_64:
                problems.append(Problem(path.name, info.filename, f"machine {machine} (Lambda runs x86_64)"))
            for need in too_new(needs):
                problems.append(Problem(path.name, info.filename, need))
    return elf_files, problems


def limits_text() -> str:
    return ", ".join(f"{family}_{'.'.join(map(str, version))}" for family, version in AMAZON_LINUX_2.items())


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    if not paths:
        print("usage: python -m infra.aws.package_scan PACKAGE.zip ...", file=sys.stderr)
        return 2
    failed = False
    for path in paths:
        count, problems = scan_zip(path)
        if problems:
            failed = True
            print(f"{path.name}: {len(problems)} problem(s) in {count} ELF files (Amazon Linux 2 has {limits_text()}):")
            for problem in problems:
                print(f"  {problem.member} needs {problem.need}")
        else:
            print(f"{path.name}: {count} ELF files, all load on Amazon Linux 2")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
