"""Keep the converters' and runtimes' chatter off the user's terminal, at its source.

An export drives torch.onnx, onnxruntime, litert-torch (TensorFlow's MLIR converter), ai-edge-litert and
tflite-micro. Each talks on its own channel: torch's loggers (``torchvision is not installed. Skipping
torchvision::nms``, pytree deprecations), the root logger (``Axis 1 is out-of-range``), TensorFlow's and absl's C++
logging (``oneDNN custom operations are on``, ``All log messages before absl::InitializeLog()``) and C ``printf``
on file descriptor 2 (``Created TensorFlow Lite XNNPACK delegate``, TFLM's allocation failures). None of it is the
user's problem when the export works; when a step fails, its captured C-level output goes into sea's debug log
next to the error (``sea -vv``), and ``-vv`` also lets everything through as it happens.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator

from sea.utils import c_stderr_redirected

log = logging.getLogger("sea.export")

__all__ = ["QUIET_LOGGERS", "c_stderr_captured", "quiet", "quiet_environment"]

#: Third-party loggers an export silences below ERROR (torch's carry their own glog-style handler).
QUIET_LOGGERS = (
    "torch.onnx",
    "torch.utils._pytree",
    "torch._export",
    "torch.export",
    "torch._dynamo",
    "torchao",
    "onnxscript",
    "onnx_ir",
    "onnxruntime",
    "litert_torch",
    "jax",
    "absl",
    "tensorflow",
)


def quiet_environment() -> None:
    """Environment variables TensorFlow, absl and glog read when they are first imported (set only if unset)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


def _debugging() -> bool:
    return log.isEnabledFor(logging.DEBUG)


@contextlib.contextmanager
def c_stderr_captured(what: str) -> Iterator[None]:
    """Capture file descriptor 2 (C/C++ libraries' prints) while the body runs.

    On success the capture is dropped; when the body raises, the captured text is logged at DEBUG under
    ``what`` (so ``-vv`` shows it with the error). Under ``-vv`` nothing is captured.
    """
    if _debugging():
        yield
        return
    captured: list[str] = []
    try:
        with c_stderr_redirected(captured):
            yield
    except BaseException:
        text = "".join(captured).strip()
        if text:
            log.debug("%s wrote on stderr before failing:\n%s", what, text[-4000:])
        raise


@contextlib.contextmanager
def quiet(what: str) -> Iterator[None]:
    """The body's third-party chatter silenced: loggers, Python warnings, stdout prints and C-level stderr.

    Parameters
    ----------
    what : str
        What runs (``"TFLite int8 conversion"``), for the debug log when it fails.
    """
    if _debugging():
        yield
        return
    quiet_environment()
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in QUIET_LOGGERS)]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), c_stderr_captured(what):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
