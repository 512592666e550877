"""Build and run the generated firmware: make + gcc on the host, arm-none-eabi-gcc + QEMU (mps2-an386) for Cortex-M4.

QEMU runs with ``-icount shift=0``: every guest instruction advances the virtual clock by 1 ns, so the SysTick
counts of the Cortex-M example are instruction counts (calibrated against a loop of known length each run).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from sea.errors import ExportError

__all__ = [
    "APT_PACKAGES",
    "FirmwareToolchainError",
    "build",
    "check_toolchain",
    "elf_sizes",
    "run_host",
    "run_qemu",
    "symbol_sizes",
]

#: Debian/Ubuntu packages for the Cortex-M targets.
APT_PACKAGES = ("gcc-arm-none-eabi", "libnewlib-arm-none-eabi", "qemu-system-arm")

_NEEDS = {
    "host": ("make", "gcc"),
    "cortex-m4": ("make", "arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm"),
    "cortex-m7": ("make", "arm-none-eabi-gcc", "arm-none-eabi-size"),
}


class FirmwareToolchainError(ExportError):
    """A compiler, emulator or library the firmware check needs is not installed."""


def _install_hint(missing: list[str]) -> str:
    pkgs = []
    if any(m.startswith("arm-none-eabi") or m == "newlib" for m in missing):
        pkgs += ["gcc-arm-none-eabi", "libnewlib-arm-none-eabi"]
    if "qemu-system-arm" in missing:
        pkgs.append("qemu-system-arm")
    pkgs += [p for p in ("gcc", "make") if p in missing]
    return "apt-get install -y " + " ".join(pkgs)


def check_toolchain(targets) -> None:
    """Raise :class:`FirmwareToolchainError` naming what to install when a target's tools are missing."""
    missing: list[str] = []
    for t in targets:
        if t not in _NEEDS:
            raise ExportError(f"unknown firmware target {t!r}; choose from {', '.join(_NEEDS)}")
        missing += [tool for tool in _NEEDS[t] if shutil.which(_tool(tool)) is None]
    if any(t in ("cortex-m4", "cortex-m7") for t in targets) and shutil.which(_tool("arm-none-eabi-gcc")):
        # the compiler without newlib links nothing: ask it where libc_nano.a is
        r = subprocess.run(
            [
                _tool("arm-none-eabi-gcc"),
                "-mcpu=cortex-m4",
                "-mthumb",
                "-mfloat-abi=hard",
                "-mfpu=fpv4-sp-d16",
                "-print-file-name=libc_nano.a",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if not Path(r.stdout.strip()).is_file():
            missing.append("newlib")
    missing = list(dict.fromkeys(missing))
    if missing:
        raise FirmwareToolchainError(
            f"the firmware check for {', '.join(targets)} needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed; install with: {_install_hint(missing)}"
        )


def _tool(name: str) -> str:
    """The executable for ``name``; ``SEA_FW_<NAME>`` environment variables override (e.g. SEA_FW_QEMU_SYSTEM_ARM)."""
    return os.environ.get("SEA_FW_" + re.sub(r"[^A-Z0-9]", "_", name.upper()), name)


def build(fw_dir: Path, target: str, *, dsp: bool | None = None, out: str = "build", timeout: float = 600) -> Path:
    """``make <target>`` in ``fw_dir``; returns the executable (host) or the ELF image (Cortex-M).

    Raises
    ------
    ExportError
        The build fails (the compiler's last lines are in the message).
    """
    cmd = [
        "make",
        "-s",
        "-C",
        str(fw_dir),
        target,
        f"OUT={out}",
        f"HOST_CC={_tool('gcc')}",
        f"ARM_CC={_tool('arm-none-eabi-gcc')}",
        f"ARM_SIZE={_tool('arm-none-eabi-size')}",
    ]
    if dsp is not None:
        cmd.append(f"DSP={1 if dsp else 0}")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if r.returncode != 0:
        tail = " | ".join((r.stderr or r.stdout).strip().splitlines()[-6:])
        raise ExportError(f"{fw_dir}: `make {target}` failed: {tail}")
    if target == "host":
        return fw_dir / out / "host" / "sea_host"
    if dsp is None:
        dsp = _make_default_dsp(fw_dir)
    return fw_dir / out / f"{target}-dsp{1 if dsp else 0}" / "sea.elf"


def _make_default_dsp(fw_dir: Path) -> bool:
    m = re.search(r"^DSP \?= *(\d)", (fw_dir / "Makefile").read_text(encoding="utf-8"), re.M)
    return bool(m and m.group(1) == "1")


def run_host(exe: Path, pcm: Path, emb: Path, feats: Path, hop: int, *, timeout: float = 600) -> None:
    """Run the host example: ``sea_host -H hop -x feats pcm emb``."""
    r = subprocess.run(
        [str(exe), "-H", str(int(hop)), "-x", str(feats), str(pcm), str(emb)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if r.returncode != 0:
        raise ExportError(f"{exe} failed (exit {r.returncode}): {r.stderr.strip()[-300:]}")


def run_qemu(elf: Path, pcm: Path, emb: Path, feats: Path | None, hop: int, *, timeout: float = 900) -> dict:
    """Run the Cortex-M4 image on QEMU ``mps2-an386`` with semihosting; returns the parsed ``SEA_STATS`` line.

    Paths go through the semihosting command line, so they must not contain spaces or commas.
    """
    args = ["sea", str(pcm), str(emb), str(int(hop))] + ([str(feats)] if feats is not None else [])
    for a in args:
        if re.search(r"[\s,]", a):
            raise ExportError(f"semihosting path {a!r} contains a space or a comma; use a plain temporary folder")
    cmd = [
        _tool("qemu-system-arm"),
        "-M",
        "mps2-an386",
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-icount",
        "shift=0",
        "-semihosting-config",
        "enable=on,target=native," + ",".join(f"arg={a}" for a in args),
        "-kernel",
        str(elf),
    ]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ExportError(f"QEMU did not finish {elf.name} within {timeout:.0f} s") from None
    text = r.stdout + r.stderr
    m = re.search(r"SEA_STATS(.*)", text)
    if r.returncode != 0 or m is None:
        raise ExportError(f"QEMU run of {elf} failed (exit {r.returncode}): {text.strip()[-300:]}")
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


def elf_sizes(elf: Path) -> dict:
    """Section sizes of an ELF image (``arm-none-eabi-size -A -d``).

    Flash = vectors + code + const data + the .data load image; static RAM = .data + .bss (the reserved stack
    region is reported separately).
    """
    r = subprocess.run([_tool("arm-none-eabi-size"), "-A", "-d", str(elf)], capture_output=True, text=True, check=True)
    sec = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sec[parts[0]] = int(parts[1])
    flash = sum(sec.get(s, 0) for s in (".isr_vector", ".text", ".rodata", ".ARM.exidx", ".data"))
    return {
        "sections": {k: v for k, v in sec.items() if not k.startswith(".debug") and k != ".comment"},
        "flash_bytes": int(flash),
        "static_ram_bytes": int(sec.get(".data", 0) + sec.get(".bss", 0)),
        "stack_reserved_bytes": int(sec.get(".stack", 0)),
    }


def symbol_sizes(elf: Path) -> dict:
    """Sizes of the firmware's own symbols (``arm-none-eabi-nm -S``), for the RAM/flash breakdown."""
    r = subprocess.run(
        [_tool("arm-none-eabi-nm"), "-S", "--size-sort", str(elf)], capture_output=True, text=True, check=False
    )
    out = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4:
            out[parts[3]] = (parts[2].lower(), int(parts[1], 16))
    return out
