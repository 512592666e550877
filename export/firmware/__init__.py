"""``firmware`` export: the int8 student and its log-mel front-end as dependency-free C99 for Cortex-M.

>>> from export.firmware import write_firmware, check_firmware
>>> fw = write_firmware("run/export/sea_mcu_s")                 # -> run/export/sea_mcu_s/firmware/
>>> report = check_firmware("run/export/sea_mcu_s", ["clip.wav"], targets=("host", "cortex-m4"))

:func:`write_firmware` reads ``model_int8.tflite`` and ``frontend.json`` and writes a C project (no third-party
source): the front-end (framing, Hann window, real FFT, mel filterbank, log, per-window normalisation, int8
quantisation), one function per network layer following TFLite's int8 kernels bit for bit, a static activation arena
planned by sea, ``sea.h`` with ``sea_embed()``, host and Cortex-M examples, a startup file and linker script for the
MPS2 AN386 board and a Makefile (``host``, ``cortex-m4``, ``cortex-m7``; ``DSP=1`` uses SMLAD via ``arm_acle.h``).
:func:`check_firmware` builds it, runs it on the host and under QEMU, compares with ai-edge-litert and writes
``firmware/check.json`` (flash, RAM, instructions per window and per MAC).
"""

from __future__ import annotations

from .generate import FIRMWARE_JSON, write_firmware
from .toolchain import APT_PACKAGES, FirmwareToolchainError, check_toolchain

__all__ = [
    "APT_PACKAGES",
    "CHECK_JSON",
    "FIRMWARE_JSON",
    "FirmwareToolchainError",
    "check_firmware",
    "check_toolchain",
    "write_firmware",
]

CHECK_JSON = "check.json"


def check_firmware(export_dir, audio_paths, *, targets=("host", "cortex-m4"), out_dir=None, **kw) -> dict:
    """Build, run and compare the firmware; see :func:`export.firmware.check.check_firmware`."""
    from .check import check_firmware as _check

    return _check(export_dir, audio_paths, targets=targets, out_dir=out_dir, **kw)
