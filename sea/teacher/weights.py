"""OpenL3 weights: read the official Keras ``.h5`` files without TensorFlow, resolve and cache them.

Reading (openl3.md §6, §13)
---------------------------
openl3 loads weights with Keras ``Model.load_weights(path)``, i.e. *by position*
over the weighted layers in topological order. We do the same with h5py:

* the layer order is the root attribute ``layer_names`` (group order in the file
  is alphabetical, so ``conv2d_10`` would sort before ``conv2d_2``), nested under
  ``model_weights`` for full-model saves;
* within a layer the tensor order is its ``weight_names`` attribute; attributes
  may be ``bytes`` (h5py < 3) or ``str``;
* groups without weights (pooling, activation, an extra ``top_level_model_weights``
  group not in ``layer_names``) and groups whose tensors are neither BN- nor
  conv-shaped (the kapre 0.1.4 ``real_kernels``/``imag_kernels``/``freq2mel`` of
  v0.2.0 files) are skipped;
* exactly 16 layers must remain, with the shapes of :func:`expected_weight_shapes`.

Resolution order (:func:`resolve_weights`)
------------------------------------------
1. an explicit path (``.h5`` or a converted ``.pt``);
2. ``openl3_audio_<repr>_<content>.h5`` inside an installed ``openl3`` package
   (found without importing it, so TensorFlow is never loaded);
3. the user cache, ``$SEA_CACHE_DIR/openl3`` or ``~/.cache/sea/openl3``
   (``.h5`` or converted ``.pt``);
4. a download with pooch from the official ``models`` branch of marl/openl3,
   unless ``SEA_OFFLINE=1``;
5. :class:`~sea.errors.WeightsError` listing all of the above and
   ``--untrained-teacher``.

Pinned hashes: :data:`OPENL3_GIT_SHA1` holds the git blob id of each official
``.h5.gz`` on the ``models`` branch of marl/openl3 (``git ls-tree models``), the
only hash the openl3 project publishes for these files. A download is checked
against it *before* it is decompressed, and refused on a mismatch.
:data:`OPENL3_SHA256` pins the sha256 of the ``.h5.gz`` and of the decompressed
``.h5`` where they are known (mel256/music, the default, as recorded by a
third-party project that verifies its downloads with them); a download must match
those too. For every file the sha256 of the decompressed ``.h5`` is recorded next
to it (``<file>.sha256``), shown in the model info, and any later download must
match that record.

Converted weights are cached as ``<stem>-<sha256[:16]>.pt`` (a plain tensor
state dict read back with ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

import numpy as np
import torch

from ..errors import WeightsError
from ..utils import atomic_path, sha256_file
from .model import expected_weight_shapes

log = logging.getLogger(__name__)

__all__ = [
    "OPENL3_GIT_SHA1",
    "OPENL3_SHA256",
    "WEIGHTS_URL",
    "cache_dir",
    "convert_h5",
    "h5_filename",
    "load_state_dict",
    "read_keras_h5",
    "resolve_weights",
]

WEIGHTS_URL = "https://github.com/marl/openl3/raw/models/openl3_audio_{input_repr}_{content_type}-v0_4_0.h5.gz"

# git blob ids (sha1 of b"blob <size>\0" + bytes) of the official v0.4.0 .h5.gz files,
# as listed by ``git ls-tree models`` in marl/openl3.
OPENL3_GIT_SHA1: dict[tuple[str, str], str] = {
    ("linear", "env"): "7837407f033f3564c7e8d53fc4a4241fe160478b",
    ("linear", "music"): "4e2e61beb17865481c8b8791c72eac8307e2753a",
    ("mel128", "env"): "8c3dfee140f7776373841e5938a3e76c54f28942",
    ("mel128", "music"): "73ff29de441865318c4b3a3f98c40763c4773e7c",
    ("mel256", "env"): "34dbd7a91cdd2de6a3d6d036ac0a24d27d78e3cc",
    ("mel256", "music"): "15e483646fa3d4091a463f0affbb706e6bbbb098",
}


# sha256 of the official v0.4.0 files: {"gz": <.h5.gz>, "h5": <decompressed .h5>}. Only the default
# variant's are known here (recorded by a project that checks its openl3 downloads against them).
OPENL3_SHA256: dict[tuple[str, str], dict[str, str]] = {
    ("mel256", "music"): {
        "gz": "e379f41e880b78e157c199ebddac80d3764e6a46282bcccdbe875bcf538f9afd",
        "h5": "624ee7b1dd5ff87e18073f66fd8b2052bebb8ac70210e9c0937c0c940c63e9d6",
    },
}


def git_blob_sha1(path: str | Path, chunk_size: int = 1 << 20) -> str:
    r"""Git's object id of a file's bytes: sha1 of ``b"blob <size>\\0"`` followed by the content."""
    import hashlib

    h = hashlib.sha1(f"blob {os.path.getsize(path)}\0".encode())
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


def h5_filename(input_repr: str, content_type: str) -> str:
    """Installed openl3 file name, e.g. ``openl3_audio_mel256_music.h5``."""
    return f"openl3_audio_{input_repr}_{content_type}.h5"


def cache_dir() -> Path:
    """``$SEA_CACHE_DIR/openl3`` or ``$XDG_CACHE_HOME/sea/openl3`` or ``~/.cache/sea/openl3``."""
    if os.environ.get("SEA_CACHE_DIR"):
        return Path(os.environ["SEA_CACHE_DIR"]).expanduser() / "openl3"
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base).expanduser() / "sea" / "openl3"


def _expected_text() -> str:
    rows = []
    for k, (_name, kind, shapes) in enumerate(expected_weight_shapes(), start=1):
        rows.append(f"{k}:{kind} {' '.join(str(tuple(s)) for s in shapes)}")
    return "; ".join(rows)


def _str(x) -> str:
    return x.decode("utf-8") if isinstance(x, (bytes, np.bytes_)) else str(x)


def _kind(arrays: list[np.ndarray]) -> str | None:
    shapes = [a.shape for a in arrays]
    if len(arrays) == 4 and all(len(s) == 1 for s in shapes) and len(set(shapes)) == 1:
        return "bn"
    if len(arrays) == 2 and len(shapes[0]) == 4 and len(shapes[1]) == 1 and shapes[0][3] == shapes[1][0]:
        return "conv"
    return None


def read_keras_h5(path: str | Path) -> list[tuple[str, list[np.ndarray]]]:
    """Read the weighted BN/conv layers of a Keras HDF5 weights file, in load order.

    Parameters
    ----------
    path : path
        A Keras ``.h5`` weights file (openl3's ``openl3_audio_<repr>_<content>.h5``).

    Returns
    -------
    layers : list of (str, list of np.ndarray)
        (layer name, arrays in ``weight_names`` order); only BN-shaped (4 equal
        vectors [shape=(C,)]) and conv-shaped (kernel [shape=(kh, kw, in, out)]
        and bias [shape=(out,)]) layers are kept.

    Raises
    ------
    WeightsError
        Not an HDF5 file, no ``layer_names``, truncated or unreadable datasets.
    """
    import h5py

    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except Exception as exc:
        raise WeightsError(
            f"{str(path)!r} is not a readable HDF5 weights file ({type(exc).__name__}: {exc}); "
            f"expected an openl3 Keras .h5 with 16 weighted layers: {_expected_text()}"
        ) from None
    try:
        root = f
        if "layer_names" not in f.attrs and "model_weights" in f:
            root = f["model_weights"]
        if "layer_names" not in root.attrs:
            raise WeightsError(
                f"{str(path)!r} has no Keras 'layer_names' attribute, so it is not a Keras weights file; "
                f"expected an openl3 .h5 with 16 weighted layers: {_expected_text()}"
            )
        layers = []
        for name in (_str(n) for n in root.attrs["layer_names"]):
            if name not in root:
                raise WeightsError(
                    f"{str(path)!r} lists layer {name!r} in layer_names but has no such group (truncated?)"
                )
            group = root[name]
            weight_names = [_str(w) for w in group.attrs.get("weight_names", [])]
            if not weight_names:
                continue
            arrays = []
            for w in weight_names:
                try:
                    arrays.append(np.asarray(group[w]))
                except Exception as exc:
                    raise WeightsError(
                        f"cannot read tensor {name}/{w} of {str(path)!r} ({type(exc).__name__}: {exc}); "
                        "the file is truncated or corrupt"
                    ) from None
            # BN tensors by name when the names say so (gamma, beta, moving_mean, moving_variance)
            if len(arrays) == 4:
                keys = ("gamma", "beta", "moving_mean", "moving_variance")
                idx = [next((i for i, w in enumerate(weight_names) if k in w.rsplit("/", 1)[-1]), None) for k in keys]
                if None not in idx and len(set(idx)) == 4:
                    arrays = [arrays[i] for i in idx]
            if _kind(arrays) is not None:
                layers.append((name, arrays))
            else:
                log.debug("skipping layer %s of %s: shapes %s", name, path, [a.shape for a in arrays])
        return layers
    except WeightsError:
        raise
    except Exception as exc:  # h5py errors on damaged files
        raise WeightsError(
            f"{str(path)!r} is damaged ({type(exc).__name__}: {exc}); expected an openl3 .h5 with 16 weighted layers: "
            f"{_expected_text()}"
        ) from None
    finally:
        f.close()


def convert_h5(path: str | Path) -> dict[str, torch.Tensor]:
    """Convert an openl3 audio ``.h5`` into a PyTorch state dict, layer by layer in file order.

    Conv kernels (kh, kw, in, out) become (out, in, kh, kw) (no flip: both
    frameworks cross-correlate); BN (gamma, beta, moving_mean, moving_variance)
    become (weight, bias, running_mean, running_var).

    Parameters
    ----------
    path : path
        The Keras weights file.

    Returns
    -------
    state_dict : dict of str to torch.Tensor
        The state dict of :class:`OpenL3Audio` (any input_repr, embedding size
        and front-end: the weights do not depend on them).

    Raises
    ------
    WeightsError
        The file is not an openl3 audio weights file (layer count or shapes differ).
    """
    layers = read_keras_h5(path)
    expected = expected_weight_shapes()
    found = [tuple(a.shape for a in arrays) for _, arrays in layers]
    want = [tuple(tuple(s) for s in shapes) for _, _, shapes in expected]
    if found != want:
        raise WeightsError(
            f"{str(path)!r} does not hold the OpenL3 audio network: found {len(found)} BN/conv layers with shapes "
            f"{[list(map(tuple, s)) for s in found]}, expected exactly 16 in this order: {_expected_text()}. "
            "Use an official openl3 v0.4.0 (or v0.2.0) openl3_audio_<repr>_<content>.h5 file"
        )
    sd: dict[str, torch.Tensor] = {}
    for (prefix, kind, _), (_, arrays) in zip(expected, layers):
        arrays = [np.asarray(a, dtype=np.float32) for a in arrays]
        if not all(np.all(np.isfinite(a)) for a in arrays):
            raise WeightsError(f"{str(path)!r}: layer {prefix} contains NaN/Inf values; the file is corrupt")
        if kind == "conv":
            sd[f"{prefix}.weight"] = torch.from_numpy(np.ascontiguousarray(arrays[0].transpose(3, 2, 0, 1)))
            sd[f"{prefix}.bias"] = torch.from_numpy(arrays[1].copy())
        else:
            for key, a in zip(("weight", "bias", "running_mean", "running_var"), arrays):
                sd[f"{prefix}.{key}"] = torch.from_numpy(a.copy())
            if np.any(arrays[3] < 0):
                raise WeightsError(f"{str(path)!r}: layer {prefix} has a negative moving variance; the file is corrupt")
            sd[f"{prefix}.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    return sd


def _check_state_dict(sd: dict, source: str) -> dict[str, torch.Tensor]:
    want = {}
    for prefix, kind, shapes in expected_weight_shapes():
        if kind == "conv":
            kh, kw, cin, cout = shapes[0]
            want[f"{prefix}.weight"] = (cout, cin, kh, kw)
            want[f"{prefix}.bias"] = (cout,)
        else:
            for key in ("weight", "bias", "running_mean", "running_var"):
                want[f"{prefix}.{key}"] = tuple(shapes[0])
    if not isinstance(sd, dict):
        raise WeightsError(f"{source} does not contain a state dict (got {type(sd).__name__})")
    missing = [k for k in want if k not in sd]
    bad = [k for k in want if k in sd and tuple(sd[k].shape) != want[k]]
    if missing or bad:
        raise WeightsError(
            f"{source} is not an OpenL3 audio state dict: missing {missing[:5]}, wrong shapes {bad[:5]}; "
            f"expected the 16 layers {_expected_text()}"
        )
    out = {k: sd[k].float() for k in want}
    for prefix, kind, _ in expected_weight_shapes():
        if kind == "bn":
            out[f"{prefix}.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    return out


def _converted_path(h5: Path, digest: str) -> Path:
    return cache_dir() / f"{h5.stem}-{digest[:16]}.pt"


def load_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], str]:
    """State dict from an ``.h5`` (converted and cached as ``.pt``) or a converted ``.pt``.

    Returns
    -------
    (state dict, sha256 of ``path``)
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file {str(path)!r} does not exist")
    digest = sha256_file(path)
    if path.suffix == ".pt":
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise WeightsError(f"cannot read converted weights {str(path)!r}: {type(exc).__name__}: {exc}") from None
        return _check_state_dict(sd, repr(str(path))), digest
    cached = _converted_path(path, digest)
    if cached.is_file():
        try:
            sd = torch.load(cached, map_location="cpu", weights_only=True)
            return _check_state_dict(sd, repr(str(cached))), digest
        except WeightsError:
            log.warning("ignoring bad converted cache %s; converting %s again", cached, path)
        except Exception:
            log.warning("ignoring unreadable converted cache %s; converting %s again", cached, path)
    sd = convert_h5(path)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cached) as tmp:
            torch.save(sd, tmp)
    except OSError as exc:  # a read-only cache is not fatal
        log.warning("could not cache converted weights at %s: %s", cached, exc)
    return sd, digest


def _installed_openl3_file(input_repr: str, content_type: str) -> Path | None:
    """Locate the ``.h5`` shipped inside an installed openl3 package, without importing it."""
    try:
        spec = importlib.util.find_spec("openl3")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / h5_filename(input_repr, content_type)
        if p.is_file():
            return p
    return None


def _cached_file(input_repr: str, content_type: str) -> Path | None:
    d = cache_dir()
    h5 = d / h5_filename(input_repr, content_type)
    if h5.is_file():
        return h5
    pt = d / (Path(h5_filename(input_repr, content_type)).stem + ".pt")
    return pt if pt.is_file() else None


def _download(input_repr: str, content_type: str) -> Path:
    """Download and validate the official file into the cache; WeightsError on any failure."""
    import gzip
    import shutil

    url = os.environ.get("SEA_OPENL3_URL") or WEIGHTS_URL
    url = url.format(input_repr=input_repr, content_type=content_type)
    d = cache_dir()
    target = d / h5_filename(input_repr, content_type)
    try:
        import pooch
    except ImportError:
        raise WeightsError("downloading OpenL3 weights needs pooch ('pip install pooch')") from None
    # pooch logs "Downloading data from ..." through its own handler, outside logging's tree; sea says it itself
    pooch.get_logger().setLevel("WARNING")
    try:
        d.mkdir(parents=True, exist_ok=True)
        log.info("downloading %s", url)
        gz = pooch.retrieve(
            url,
            known_hash=None,  # pooch knows no git blob ids; the pin is checked below
            fname=target.name + ".gz.part",
            path=d,
            downloader=pooch.HTTPDownloader(timeout=15, progressbar=False),
        )
    except Exception as exc:
        raise WeightsError(f"could not download {url} ({type(exc).__name__}: {str(exc)[:200]})") from None
    try:
        blob = git_blob_sha1(gz)
        pinned_blob = OPENL3_GIT_SHA1[(input_repr, content_type)]
        if blob != pinned_blob:
            raise WeightsError(
                f"downloaded {url} has git blob id {blob}, but the official v0.4.0 file is pinned as {pinned_blob}; "
                "refusing to use it (truncated download, or not the official file). Retry, or pass --weights with "
                "a file you trust"
            )
        pinned_sha = OPENL3_SHA256.get((input_repr, content_type), {})
        gz_digest = sha256_file(gz) if pinned_sha.get("gz") else None
        if gz_digest and gz_digest != pinned_sha["gz"]:
            raise WeightsError(
                f"downloaded {url} has sha256 {gz_digest}, but the official v0.4.0 file is pinned as "
                f"{pinned_sha['gz']}; refusing to use it. Retry, or pass --weights with a file you trust"
            )
        with atomic_path(target) as tmp:
            with gzip.open(gz, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            digest = sha256_file(tmp)
            record = target.with_name(target.name + ".sha256")
            recorded = record.read_text().strip() if record.is_file() else ""
            if pinned_sha.get("h5") and digest != pinned_sha["h5"]:
                raise WeightsError(
                    f"the .h5 inside {url} has sha256 {digest}, but the official v0.4.0 file is pinned as "
                    f"{pinned_sha['h5']}; refusing to use it. Pass --weights with a file you trust"
                )
            if recorded and digest != recorded:
                raise WeightsError(
                    f"downloaded {url} has sha256 {digest}, but an earlier download recorded {recorded}; refusing "
                    f"to use it (delete {record} if the official file legitimately changed)"
                )
            convert_h5(tmp)  # layout validation: raises WeightsError naming the expected shapes
    except (OSError, EOFError) as exc:
        raise WeightsError(f"downloaded {url} is not a valid .h5.gz ({type(exc).__name__}: {exc})") from None
    finally:
        Path(gz).unlink(missing_ok=True)
    target.with_name(target.name + ".sha256").write_text(digest + "\n")
    log.info("downloaded %s (git blob %s, sha256 %s)", target.name, blob, digest)
    return target


def resolve_weights(
    input_repr: str,
    content_type: str,
    weights: str | Path | None = None,
    *,
    download: bool | None = None,
) -> Path:
    """Find the weights file for a variant (see the module docstring for the order).

    Parameters
    ----------
    input_repr : "linear", "mel128" or "mel256"
    content_type : "env" or "music"
    weights : path or None
        Explicit ``.h5`` / ``.pt``; must exist.
    download : bool or None
        Allow step 4; default: unless the environment sets ``SEA_OFFLINE=1``.

    Returns
    -------
    path : Path
        The ``.h5`` or ``.pt`` file to load.

    Raises
    ------
    WeightsError
        Nothing found; the message lists every place searched and the options.
    """
    if weights is not None:
        p = Path(weights).expanduser()
        if not p.is_file():
            raise WeightsError(
                f"--weights {str(p)!r} does not exist; pass an openl3 .h5 (e.g. {h5_filename(input_repr, content_type)}) "
                "or a converted .pt"
            )
        if p.suffix not in (".h5", ".hdf5", ".pt"):
            raise WeightsError(f"--weights {str(p)!r} must be a Keras .h5 file or a converted .pt state dict")
        return p
    found = _installed_openl3_file(input_repr, content_type)
    if found is not None:
        return found
    found = _cached_file(input_repr, content_type)
    if found is not None:
        return found
    if download is None:
        download = os.environ.get("SEA_OFFLINE", "").strip() not in ("1", "true", "yes")
    url = (os.environ.get("SEA_OPENL3_URL") or WEIGHTS_URL).format(input_repr=input_repr, content_type=content_type)
    reason = "downloads are disabled (SEA_OFFLINE=1)"
    if download:
        try:
            return _download(input_repr, content_type)
        except WeightsError as exc:
            reason = str(exc)
    name = h5_filename(input_repr, content_type)
    raise WeightsError(
        f"no OpenL3 weights for {input_repr}/{content_type}: (1) no --weights given; (2) no installed openl3 package "
        f"with {name}; (3) not in the cache {cache_dir()} ({name}); (4) download failed: {reason}. "
        f"Fix: pass --weights PATH/{name}, or put {name} (gunzipped from {url}) into {cache_dir()} "
        "(or set SEA_CACHE_DIR), or connect to the internet, or use --untrained-teacher for a dry run "
        "with random weights"
    )
