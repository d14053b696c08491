#!/usr/bin/env python3
"""Checks the Windows wheel of azml-ssh: what `pip install`, pipx and `uv tool install` rely on.

Usage: check-wheel.py [--manifest-path CARGO_TOML] [--tag TAG] WHEEL [EXE]

Verifies the tag (file name and WHEEL file), `Root-Is-Purelib: false`, that `*.data/scripts/` holds exactly the
programs `azml-ssh.exe` (a stripped PE32+ x86-64 console executable) and its twin `azml-sshw.exe` (the same, for
the GUI subsystem, which ssh's ProxyCommand names so that no console window opens), needing no MinGW runtime DLL
(and, given EXE, byte-identical to it and to the twin beside it), that RECORD lists every file with its right sha256 and size (itself without), and that
METADATA's Name and Version are Cargo.toml's. Prints one line and exits 0 when all holds; otherwise prints the first
failure as one line to stderr and exits 1. Python 3.11+, standard library only.
"""
import argparse
import base64
import csv
import hashlib
import io
import re
import struct
import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path

if sys.version_info < (3, 11):
    sys.exit("check-wheel: FAIL needs Python 3.11 or later (tomllib)")
import tomllib  # noqa: E402

PROG = "check-wheel"
DEFAULT_TAG = "py3-none-win_amd64"
# Runtime DLLs of a MinGW toolchain: an .exe importing one works only where that toolchain is installed.
MINGW_DLL = re.compile(r"^(libgcc_s_.*|libwinpthread-.*|libstdc\+\+-.*|libssp-.*|libatomic-.*)\.dll$", re.I)


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def normalize_name(name):  # PEP 503
    return re.sub(r"[-_.]+", "-", name).lower()


def pep440_version(version):
    """Cargo's semver as maturin writes it in METADATA (1.2.3-alpha.1 -> 1.2.3a1, 1.2.3-rc.2 -> 1.2.3rc2)."""
    match = re.fullmatch(r"(\d+\.\d+\.\d+)(?:-(alpha|beta|rc)\.?(\d+))?(?:\+.*)?", version)
    if not match:
        return version
    base, pre, number = match.groups()
    return base + ({"alpha": "a", "beta": "b", "rc": "rc"}[pre] + number if pre else "")


def cargo_package(manifest_path):
    """(package name, version, name of the program) from Cargo.toml; its other [[bin]] is the twin, PROGRAM + "w"."""
    try:
        manifest = tomllib.loads(Path(manifest_path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise Failure(f"cannot read {manifest_path}: {error}")
    package = manifest.get("package", {})
    name, version = package.get("name"), package.get("version")
    check(isinstance(name, str) and isinstance(version, str), f"{manifest_path}: no literal package name/version")
    bins = [entry.get("name", name) for entry in manifest.get("bin", [])]
    check(bins == [name, name + "w"], f"{manifest_path}: [[bin]] targets {bins}, expected [{name}, {name}w]")
    return name, version, name


CONSOLE, GUI = 3, 2  # IMAGE_SUBSYSTEM_WINDOWS_CUI, IMAGE_SUBSYSTEM_WINDOWS_GUI


def pe_summary(data, what, subsystem):
    """Checks that DATA is a PE32+ x86-64 executable for SUBSYSTEM; returns the DLLs it imports."""
    try:
        return pe_imports(data, what, subsystem)
    except (struct.error, ValueError, UnicodeError) as error:
        raise Failure(f"{what}: malformed PE file ({error})")


def pe_imports(data, what, expected_subsystem):
    check(len(data) >= 0x40 and data[:2] == b"MZ", f"{what}: no MZ header")
    (pe,) = struct.unpack_from("<I", data, 0x3C)
    check(pe + 24 <= len(data) and data[pe:pe + 4] == b"PE\0\0", f"{what}: no PE signature")
    header = struct.unpack_from("<HHIIIHH", data, pe + 4)
    machine, sections, _, symbols_at, symbols, optional_size, characteristics = header
    check(machine == 0x8664, f"{what}: Machine is {machine:#06x}, not 0x8664 (x86-64)")
    check(symbols_at == 0 and symbols == 0, f"{what}: not stripped ({symbols} COFF symbols)")
    check(characteristics & 0x0002 and not characteristics & 0x2000, f"{what}: not an executable image (a DLL?)")
    optional = pe + 24
    check(optional + optional_size <= len(data) and optional_size >= 112 + 16, f"{what}: truncated optional header")
    (magic,) = struct.unpack_from("<H", data, optional)
    check(magic == 0x20B, f"{what}: optional header magic {magic:#x}, not 0x20b (PE32+)")
    (subsystem,) = struct.unpack_from("<H", data, optional + 68)
    kinds = {CONSOLE: "Windows console", GUI: "Windows GUI"}
    check(subsystem == expected_subsystem,
          f"{what}: Subsystem is {subsystem}, not {expected_subsystem} ({kinds[expected_subsystem]})")
    # The import directory (data directory 1) through the section table, for the DLL names.
    (directories,) = struct.unpack_from("<I", data, optional + 108)
    import_rva = struct.unpack_from("<I", data, optional + 112 + 8)[0] if directories > 1 else 0
    table = [struct.unpack_from("<IIII", data, optional + optional_size + 40 * i + 8)
             for i in range(sections)]  # (VirtualSize, VirtualAddress, SizeOfRawData, PointerToRawData)

    def offset(rva):
        for virtual_size, address, raw_size, raw in table:
            if address <= rva < address + max(virtual_size, raw_size):
                return raw + rva - address
        raise Failure(f"{what}: import table address {rva:#x} is in no section")

    dlls = []
    entry = offset(import_rva) if import_rva else None
    while entry is not None:
        check(entry + 20 <= len(data), f"{what}: truncated import table")
        lookup, _, _, name_rva, thunks = struct.unpack_from("<IIIII", data, entry)
        if not (lookup or name_rva or thunks):
            break
        start = offset(name_rva)
        dlls.append(data[start:data.index(b"\0", start)].decode("ascii", "replace"))
        entry += 20
    return dlls


def record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def check_wheel(wheel_path, exe_path, manifest_path, tag):
    name, version, program = cargo_package(manifest_path)
    wheel_path = Path(wheel_path)

    # The file name: {distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl
    parts = wheel_path.name.removesuffix(".whl").split("-")
    check(wheel_path.name.endswith(".whl") and len(parts) in (5, 6), f"{wheel_path.name}: not a wheel file name")
    file_tag = "-".join(parts[-3:])
    check(file_tag == tag, f"{wheel_path.name}: tag {file_tag}, expected {tag}")
    check(normalize_name(parts[0]) == normalize_name(name), f"{wheel_path.name}: distribution {parts[0]}, not {name}")
    check(parts[1] == pep440_version(version).replace("-", "_"),
          f"{wheel_path.name}: version {parts[1]}, Cargo.toml says {version}")

    try:
        with zipfile.ZipFile(wheel_path) as archive:
            names = archive.namelist()
            files = {member: archive.read(member) for member in names if not member.endswith("/")}
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError) as error:
        raise Failure(f"{wheel_path}: {error}")
    check(len(names) == len(set(names)), f"{wheel_path.name}: duplicate archive members")
    for member in names:
        check(not member.startswith("/") and ".." not in member.split("/") and "\\" not in member,
              f"{wheel_path.name}: unsafe member path {member!r}")

    dist_infos = {member.split("/")[0] for member in files if member.split("/")[0].endswith(".dist-info")}
    check(len(dist_infos) == 1, f"{wheel_path.name}: {len(dist_infos)} .dist-info directories, expected 1")
    dist_info = dist_infos.pop()
    stem = dist_info.removesuffix(".dist-info")
    check(stem == f"{parts[0]}-{parts[1]}", f"{wheel_path.name}: {dist_info} does not match the file name")

    def text(member):
        check(member in files, f"{wheel_path.name}: {member} is missing")
        return files[member].decode("utf-8")

    # WHEEL
    wheel = HeaderParser().parsestr(text(f"{dist_info}/WHEEL"))
    check((wheel.get("Wheel-Version") or "").startswith("1."), f"WHEEL: Wheel-Version {wheel.get('Wheel-Version')}")
    check(wheel.get_all("Tag") == [tag], f"WHEEL: Tag {wheel.get_all('Tag')}, expected [{tag}]")
    check((wheel.get("Root-Is-Purelib") or "").strip().lower() == "false",
          f"WHEEL: Root-Is-Purelib {wheel.get('Root-Is-Purelib')}, expected false")

    # METADATA
    metadata = HeaderParser().parsestr(text(f"{dist_info}/METADATA"))
    check(normalize_name(metadata.get("Name") or "") == normalize_name(name),
          f"METADATA: Name {metadata.get('Name')}, Cargo.toml says {name}")
    check(metadata.get("Version") == pep440_version(version),
          f"METADATA: Version {metadata.get('Version')}, Cargo.toml says {version}")

    # RECORD: every file once, with its hash and size; RECORD itself without.
    record_name = f"{dist_info}/RECORD"
    rows = list(csv.reader(io.StringIO(text(record_name))))
    listed = {}
    for row in rows:
        check(len(row) == 3, f"RECORD: malformed line {row!r}")
        check(row[0] not in listed, f"RECORD: {row[0]} listed twice")
        listed[row[0]] = row[1:]
    check(listed.get(record_name) == ["", ""], f"RECORD: {record_name} must be listed with empty hash and size")
    for member, data in files.items():
        check(member in listed, f"RECORD: {member} is in the archive but not listed")
        if member == record_name:
            continue
        digest, size = listed[member]
        check(digest == record_hash(data), f"RECORD: wrong hash for {member}")
        check(size == str(len(data)), f"RECORD: size {size} for {member}, which has {len(data)} bytes")
    for member in listed:
        check(member in files, f"RECORD: lists {member}, which is not in the archive")

    # The programs: the console executable and its GUI-subsystem twin, the only scripts.
    expected = {f"{stem}.data/scripts/{program}.exe": CONSOLE, f"{stem}.data/scripts/{program}w.exe": GUI}
    scripts = sorted(member for member in files if re.fullmatch(r"[^/]+\.data/scripts/.+", member))
    check(scripts == sorted(expected), f"{wheel_path.name}: scripts {scripts}, expected exactly {sorted(expected)}")
    dlls = []
    for member, subsystem in expected.items():
        dlls = pe_summary(files[member], member, subsystem)
        mingw = [dll for dll in dlls if MINGW_DLL.match(dll)]
        check(not mingw, f"{member}: imports MinGW runtime DLLs {mingw}; link them statically")
    same = ""
    if exe_path is not None:
        for member in expected:
            # The twin beside EXE is named as EXE is, with the program's name made the twin's.
            twin = member.endswith(f"/{program}w.exe")
            path = Path(exe_path)
            path = path.with_name(path.name.replace(program, program + "w", 1)) if twin else path
            try:
                exe = path.read_bytes()
            except OSError as error:
                raise Failure(f"cannot read {path}: {error}")
            check(exe == files[member], f"{member} differs from {path}")
        same = f", identical to {exe_path} and its twin"
    program_data = files[f"{stem}.data/scripts/{program}.exe"]
    expected = f"{program}.exe and {program}w.exe"

    return (f"{PROG}: OK {wheel_path.name}: tag {tag}, {metadata['Name']} {metadata['Version']}, {len(files)} files "
            f"all in RECORD, {expected} ({len(program_data)} bytes, stripped PE32+ x86-64, console and GUI, "
            f"{len(dlls)} system DLL imports{same})")


def main():
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel")
    parser.add_argument("exe", nargs="?", help="the .exe the wheel must contain, byte for byte (and its twin beside it, "
                                               "named with azml-sshw for azml-ssh)")
    parser.add_argument("--manifest-path", default=Path(__file__).resolve().parents[2] / "Cargo.toml",
                        help="Cargo.toml giving the name and version (default: this checkout's)")
    parser.add_argument("--tag", default=DEFAULT_TAG, help=f"expected wheel tag (default {DEFAULT_TAG})")
    args = parser.parse_args()
    try:
        print(check_wheel(args.wheel, args.exe, args.manifest_path, args.tag))
    except Failure as failure:
        print(f"{PROG}: FAIL {failure}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
