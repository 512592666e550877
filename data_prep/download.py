"""Download helpers: clear errors offline, soundata and pooch imported lazily."""

from __future__ import annotations

import socket
import urllib.error
from pathlib import Path

from sea.errors import DatasetError, SeaError

__all__ = ["check_online", "is_network_error", "require_soundata", "soundata_download"]


def is_network_error(exc: BaseException) -> bool:
    """Tell whether ``exc`` (or its cause/context chain) is a connection failure.

    Parameters
    ----------
    exc : BaseException

    Returns
    -------
    is_network : bool
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (urllib.error.URLError, socket.gaierror, socket.timeout, ConnectionError, TimeoutError)):
            return True
        # requests / urllib3 errors without importing them
        name = type(exc).__name__
        if name in ("ConnectionError", "ConnectTimeout", "ReadTimeout", "NewConnectionError", "MaxRetryError"):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def offline_error(host: str, dataset: str, manual_url: str) -> SeaError:
    """Build the error of a download that cannot reach its host.

    Parameters
    ----------
    host : str
    dataset : str
    manual_url : str
        Where to download the dataset by hand.

    Returns
    -------
    error : DatasetError
    """
    return DatasetError(
        f"cannot reach {host} (no network?); download {dataset} manually from {manual_url} "
        f"and pass its folder to 'sea data prepare'"
    )


def check_online(host: str, dataset: str, manual_url: str, *, timeout: float = 5.0) -> None:
    """Fail fast and clearly when ``host`` cannot be reached on port 443.

    Parameters
    ----------
    host, dataset, manual_url : str
        As in :func:`offline_error`.
    timeout : float
        Seconds to wait for the connection.

    Raises
    ------
    DatasetError
        The host cannot be reached.
    """
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        raise offline_error(host, dataset, manual_url) from None


def require_soundata():
    """Import soundata, or raise a DatasetError that says how to install it.

    Returns
    -------
    soundata : module
    """
    try:
        import soundata
    except ImportError:
        raise DatasetError(
            "downloading through soundata needs the 'soundata' package; install it with pip install 'sea[download]' "
            "(or download the dataset manually and pass its folder to 'sea data prepare')"
        ) from None
    return soundata


def soundata_download(name: str, data_home: str | Path, *, host: str, manual_url: str) -> Path:
    """Run ``soundata.initialize(name, data_home).download()`` with clear offline errors.

    Parameters
    ----------
    name : str
        soundata's dataset name.
    data_home : path
        Destination folder.
    host : str
        The host to check first.
    manual_url : str
        Where to download the dataset by hand (named in the offline error).

    Returns
    -------
    data_home : Path
    """
    soundata = require_soundata()
    data_home = Path(data_home)
    check_online(host, name, manual_url)
    try:
        ds = soundata.initialize(name, data_home=str(data_home))
        ds.download()
    except Exception as exc:
        if is_network_error(exc):
            raise offline_error(host, name, manual_url) from None
        raise DatasetError(f"soundata could not download {name} into {str(data_home)!r}: {exc}") from None
    return data_home
