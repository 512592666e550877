"""Inputs and outputs of the commands that take many files (``sea teacher embed``, ``sea students embed``...).

Such a command expands its arguments once (:func:`expand_inputs`), names every
output up front so no two inputs write the same file (:func:`output_paths`),
processes the good files, and reports the bad ones together at the end
(:class:`FileReport`): one line per failure naming the file and the reason,
exit status 1 when any failed. Nothing is dropped silently.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .constants import AUDIO_EXTENSIONS
from .errors import ParameterError, SeaError, SeaWarning
from .utils import Pathlike

log = logging.getLogger(__name__)

__all__ = ["FileReport", "expand_inputs", "output_paths"]


def expand_inputs(inputs: Iterable[Pathlike], *, extensions: tuple[str, ...] = AUDIO_EXTENSIONS) -> list[Path]:
    """Files named on a command line, with directories expanded to the audio files under them.

    Parameters
    ----------
    inputs : iterable of path
        Files and directories. Directories are searched recursively for ``extensions`` (sorted,
        symbolic-link loops skipped); files are taken whatever their extension, so a bad file named
        explicitly is reported rather than ignored.
    extensions : tuple of str
        Lower-case suffixes that count as audio inside directories.

    Returns
    -------
    files : list of Path
        In argument order, each file once.

    Raises
    ------
    ParameterError
        An argument that does not exist, or no input at all.
    """
    files: list[Path] = []
    seen: set[Path] = set()
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = _walk(p, extensions)
            if not found:
                warnings.warn(f"no audio files ({', '.join(extensions)}) under {str(p)!r}", SeaWarning, stacklevel=2)
        elif p.exists() or p.is_symlink():
            found = [p]
        else:
            raise ParameterError(f"input {str(p)!r} does not exist; give existing audio files or directories")
        for f in found:
            key = Path(os.path.abspath(f))
            if key not in seen:
                seen.add(key)
                files.append(f)
    if not files:
        raise ParameterError("no input files; give audio files or directories that contain some")
    return files


def _walk(root: Path, extensions: tuple[str, ...]) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        # a folder named like audio ("x.wav/") is listed, so the command reports it instead of dropping it
        names = sorted(filenames + [d for d in dirnames if Path(d).suffix.lower() in extensions])
        out += [Path(dirpath) / n for n in names if Path(n).suffix.lower() in extensions]
    return out


def output_paths(inputs: list[Path], out_dir: Pathlike | None, *, suffix: str | None = None, ext: str = ".npz") -> dict:
    """The output file of each input, as openl3 names them, with no two inputs sharing one.

    ``<out_dir or the input's folder>/<stem>[_<suffix>]<ext>``. Inputs that would write the same file
    (``a.flac`` and ``a.ogg`` into one folder) keep their extension in the name instead
    (``a_flac.npz``, ``a_ogg.npz``), with a warning.

    Parameters
    ----------
    inputs : list of Path
    out_dir : path or None
        Output folder (created by the caller); None writes beside each input.
    suffix : str, optional
        Appended to the stem after an underscore (openl3's ``--suffix``).
    ext : str
        Output extension.

    Returns
    -------
    outputs : dict of Path -> Path
        Input -> output.

    Raises
    ------
    ParameterError
        ``out_dir`` exists and is not a directory.
    """
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise ParameterError(f"output folder {str(out_dir)!r} is an existing file; give a folder (-o DIR)")
    tail = (f"_{suffix}" if suffix else "") + ext

    def base(p: Path) -> Path:
        return (Path(out_dir) if out_dir is not None else p.parent) / p.stem

    groups: dict[Path, list[Path]] = defaultdict(list)
    for p in inputs:
        groups[Path(os.path.abspath(base(p)))].append(p)
    outputs = {}
    for members in groups.values():
        if len(members) == 1:
            outputs[members[0]] = base(members[0]).with_name(base(members[0]).name + tail)
            continue
        names = ", ".join(str(m) for m in members)
        warnings.warn(f"{names} share the output name {base(members[0]).name}{tail}; each keeps its extension in the name "
                      "instead", SeaWarning, stacklevel=2)  # fmt: skip
        for m in members:
            tag = m.suffix.lstrip(".").lower() or "noext"
            outputs[m] = base(m).with_name(f"{base(m).name}_{tag}{tail}")
    clashes = [o for o, n in _count(outputs.values()).items() if n > 1]
    if clashes:
        raise ParameterError(f"inputs would write the same output file(s) {[str(c) for c in clashes]}; rename them")
    return outputs


def _count(paths) -> dict:
    counts: dict = defaultdict(int)
    for p in paths:
        counts[Path(os.path.abspath(p))] += 1
    return counts


@dataclass
class FileReport:
    """What a multi-file command did: the files written, skipped and failed.

    Examples
    --------
    >>> report = FileReport()
    >>> for f in files:
    ...     try:
    ...         report.written.append(embed(f))
    ...     except (SeaError, OSError, RuntimeError) as exc:  # the ones a bad file causes
    ...         report.fail(f, exc)
    >>> print(report.summary())
    """

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    def fail(self, path: Pathlike, exc: BaseException) -> None:
        """Record a failure: sea's own errors by their message, anything else with its type."""
        reason = str(exc) if isinstance(exc, SeaError) else f"{type(exc).__name__}: {exc}"
        self.failed.append((Path(path), reason.splitlines()[0] if reason else type(exc).__name__))
        log.debug("failed on %s", path, exc_info=exc)

    @property
    def exit_code(self) -> int:
        """1 when any file failed, else 0."""
        return 1 if self.failed else 0

    def summary(self) -> str:
        """One line of counts, then one line per failed file."""
        lines = [
            f"{len(self.written)} written, {len(self.skipped)} skipped (exist; --overwrite), {len(self.failed)} failed"
        ]
        lines += [f"  failed: {p}: {why}" for p, why in self.failed]
        return "\n".join(lines)
