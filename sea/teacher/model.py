"""The OpenL3 audio network (openl3 0.4.x ``_construct_*_audio_network``) in PyTorch.

Layout (openl3.md §5): front-end -> input BatchNorm (1 channel) -> 4 blocks of
2 x (3x3 conv -> BN -> ReLU) with 2x2 max-pools after blocks 1-3; the last conv
(``audio_embedding_layer``, ``conv8``) has no BN and no ReLU; a variant-dependent
max-pool gives 4x3x512 (6144) or 1x1x512 (512) values, flattened channels-last
(Keras order ``(h * W + w) * 512 + c``). BN eps is Keras' 1e-3.

The network runs in channels-last memory format (oneDNN/cuDNN NHWC kernels).
In eval mode each BN that follows a conv is folded into it on first use (exact
algebra, float32 rounding only); the input BN cannot be folded because conv1
zero-pads after it. In eval mode on CPU (``cpu_kernels``, default on) conv1 runs as
im2col + GEMM, conv3-conv8 as Winograd F(4x4, 3x3) (:mod:`sea.teacher.winograd`),
max-pools come before their ReLU, and batches run in chunks of 2 windows spread
over worker threads that each run single-threaded kernels: about 3x the windows/s
of plain ``conv2d`` at half the memory, equal to float32 rounding (1e-6 relative).
``state_dict()`` always holds the unfolded Keras-equivalent tensors: 4,689,860
values (4,687,042 trainable + 2,818 BN moving statistics).
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError
from .frontends import SPEC_SHAPES, Frontend
from .winograd import winograd_conv3x3, winograd_filter

__all__ = [
    "AUDIO_POOLING_SIZES",
    "CONV_CHANNELS",
    "N_PARAMETERS",
    "N_TRAINABLE",
    "OpenL3Audio",
    "conv_macs",
    "expected_weight_shapes",
]

BN_EPS = 1e-3
BN_MOMENTUM = 0.01  # Keras momentum 0.99 (only matters for training)
CONV_CHANNELS = ((1, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512), (512, 512))
AUDIO_POOLING_SIZES = {
    "linear": {6144: (8, 8), 512: (32, 24)},
    "mel128": {6144: (4, 8), 512: (16, 24)},
    "mel256": {6144: (8, 8), 512: (32, 24)},
}
N_PARAMETERS = 4_689_860
N_TRAINABLE = 4_687_042
# conv3-conv8 run as Winograd on CPU (1.5-2.3x faster each, measured at 4 windows); the 64-channel
# conv2 on the full 256x199 map is faster direct, its transforms cost more than they save.
WINOGRAD_LAYERS = (3, 4, 5, 6, 7, 8)


def expected_weight_shapes() -> list[tuple[str, str, list[tuple[int, ...]]]]:
    """List the 16 weighted Keras layers in file order: (torch prefix, kind, Keras tensor shapes).

    BN tensors are (gamma, beta, moving_mean, moving_variance); conv tensors are
    (kernel (kh, kw, in, out), bias (out,)).
    """
    out = [("input_bn", "bn", [(1,)] * 4)]
    for i, (cin, cout) in enumerate(CONV_CHANNELS, start=1):
        out.append((f"conv{i}", "conv", [(3, 3, cin, cout), (cout,)]))
        if i < 8:
            out.append((f"bn{i}", "bn", [(cout,)] * 4))
    return out


def conv_macs(input_repr: str) -> int:
    """Count the multiply-accumulates of the 8 convolutions for one 1-s window (front-end excluded).

    Parameters
    ----------
    input_repr : "linear", "mel128" or "mel256"

    Returns
    -------
    n_macs : int
    """
    h, w = SPEC_SHAPES[input_repr]
    total = 0
    for i, (cin, cout) in enumerate(CONV_CHANNELS, start=1):
        total += h * w * cout * cin * 9
        if i in (2, 4, 6):
            h, w = h // 2, w // 2
    return total


class OpenL3Audio(nn.Module):
    """OpenL3 audio embedding model: 1-s windows at 48 kHz -> embeddings.

    Parameters
    ----------
    input_repr : "linear", "mel128" or "mel256"
    embedding_size : 512 or 6144
    frontend : "kapre" (openl3 0.4.x), "librosa" or "legacy" (kapre 0.1.4)

    Examples
    --------
    >>> m = OpenL3Audio("mel256", 512).eval()
    >>> m(torch.zeros(2, 48000)).shape
    torch.Size([2, 512])
    """

    def __init__(self, input_repr: str = "mel256", embedding_size: int = 6144, frontend: str = "kapre") -> None:
        super().__init__()
        if input_repr not in AUDIO_POOLING_SIZES:
            raise ParameterError(f"input_repr={input_repr!r} is not one of 'linear', 'mel128', 'mel256'")
        if embedding_size not in (512, 6144):
            raise ParameterError(f"embedding_size={embedding_size!r} is not one of 512, 6144")
        self.input_repr = input_repr
        self.embedding_size = int(embedding_size)
        self.frontend_name = frontend
        self.frontend = Frontend(input_repr, frontend)
        self.pool_size = AUDIO_POOLING_SIZES[input_repr][self.embedding_size]
        self.input_bn = nn.BatchNorm2d(1, eps=BN_EPS, momentum=BN_MOMENTUM)
        for i, (cin, cout) in enumerate(CONV_CHANNELS, start=1):
            setattr(self, f"conv{i}", nn.Conv2d(cin, cout, 3, padding=1))
            if i < 8:
                setattr(self, f"bn{i}", nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM))
        # None: float32; torch.bfloat16 / torch.float16: autocast of the CNN (front-end stays fp32).
        self.autocast_dtype: torch.dtype | None = None
        self._folded: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self._folded_version: tuple | None = None
        # Eval on CPU: conv1 by im2col, conv3-8 by Winograd F(4x4, 3x3), pool before ReLU, and
        # batches cut into chunks of ``cpu_chunk`` windows. Set ``cpu_kernels = False`` for plain conv2d.
        self.cpu_kernels = True
        self.cpu_chunk = 2  # 2-4 run at the same speed on one thread; 2 is fastest and smallest on workers
        # Chunks run on this many worker threads (None: torch.get_num_threads()), see _chunk_pool.
        self.cpu_workers: int | None = None
        self._winograd: tuple | None = None
        self.to(memory_format=torch.channels_last)

    # -- info ---------------------------------------------------------------------------------------
    @property
    def variant(self) -> str:
        """``<input_repr>_<embedding_size>_<frontend>``, e.g. ``mel256_512_kapre``."""
        return f"{self.input_repr}_{self.embedding_size}_{self.frontend_name}"

    def count_parameters(self) -> tuple[int, int]:
        """Count the parameters.

        Returns
        -------
        n_total : int
            Parameters and BN moving statistics (Keras' count, :data:`N_PARAMETERS`).
        n_trainable : int
            Parameters only (:data:`N_TRAINABLE`).
        """
        trainable = sum(p.numel() for p in self.parameters())
        stats = sum(b.numel() for n, b in self.named_buffers() if n.endswith(("running_mean", "running_var")))
        return trainable + stats, trainable

    def extra_repr(self) -> str:
        """Describe the model in its repr."""
        return f"embedding_size={self.embedding_size}, final_pool={self.pool_size}, channels_last"

    # -- BN folding -----------------------------------------------------------------------------------
    def _state_version(self) -> tuple:
        tensors = list(self.parameters()) + list(self.buffers())
        return tuple((t.data_ptr(), t._version, t.device, t.dtype) for t in tensors)

    def folded_weights(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Conv (weight, bias) pairs with the following BN folded in (conv8 unchanged)."""
        version = self._state_version()
        if self._folded is not None and self._folded_version == version:
            return self._folded
        folded = []
        # Normal (not inference) tensors, so the cache also serves calls outside inference_mode.
        with torch.inference_mode(False), torch.no_grad():
            for i in range(1, 9):
                conv = getattr(self, f"conv{i}")
                w, b = conv.weight.detach(), conv.bias.detach()
                if i < 8:
                    bn = getattr(self, f"bn{i}")
                    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
                    w = w * scale.view(-1, 1, 1, 1)
                    b = (b - bn.running_mean) * scale + bn.bias.detach()
                folded.append((w.contiguous(memory_format=torch.channels_last), b.contiguous()))
        self._folded, self._folded_version = folded, version
        return folded

    def _apply(self, fn, recurse=True):  # .to()/.cuda() invalidate the folded cache
        self._folded = None
        self._winograd = None
        return super()._apply(fn, recurse)

    # -- forward --------------------------------------------------------------------------------------
    def spectrogram(self, x: torch.Tensor) -> torch.Tensor:
        """Front-end only: [B, 48000] -> [B, 1, F, T] dB spectrogram (float32)."""
        return self.frontend(x)

    def embed_spectrogram(self, s: torch.Tensor) -> torch.Tensor:
        """CNN on a dB spectrogram [B, 1, F, T] -> [B, embedding_size] float32."""
        s = self.input_bn(s).contiguous(memory_format=torch.channels_last)
        ctx = contextlib.nullcontext()
        if self.autocast_dtype is not None:
            ctx = torch.autocast(device_type=s.device.type, dtype=self.autocast_dtype)
        with ctx:
            if self.training:
                y = s
                for i in range(1, 9):
                    y = getattr(self, f"conv{i}")(y)
                    if i < 8:
                        y = F.relu(getattr(self, f"bn{i}")(y))
                    if i in (2, 4, 6):
                        y = F.max_pool2d(y, 2)
            elif self._use_cpu_kernels(s):
                y = self._embed_cpu(s)
            else:
                y = s
                for i, (w, b) in enumerate(self.folded_weights(), start=1):
                    y = F.conv2d(y, w, b, padding=1)
                    if i < 8:
                        y = F.relu_(y) if not y.requires_grad else F.relu(y)
                    if i in (2, 4, 6):
                        y = F.max_pool2d(y, 2)
            y = F.max_pool2d(y, self.pool_size)
        # channels-last flatten, as Keras' Flatten on (H, W, C)
        return y.float().permute(0, 2, 3, 1).reshape(y.shape[0], -1)

    def _use_cpu_kernels(self, s: torch.Tensor) -> bool:
        return (
            self.cpu_kernels
            and s.device.type == "cpu"
            and s.dtype == torch.float32
            and self.autocast_dtype is None
            and not torch.is_grad_enabled()
        )

    def _winograd_filters(self) -> dict[int, torch.Tensor]:
        folded = self.folded_weights()
        if self._winograd is None or self._winograd[0] is not folded:
            self._winograd = (folded, {i: winograd_filter(folded[i - 1][0]) for i in WINOGRAD_LAYERS})
        return self._winograd[1]

    def _embed_cpu(self, s: torch.Tensor) -> torch.Tensor:
        """Eval CNN on CPU, same values as the plain path to float32 rounding (see ``cpu_kernels``)."""
        folded = self.folded_weights()
        filters = self._winograd_filters()
        y = _conv1_im2col(s, *folded[0])
        for i in range(2, 9):
            w, b = folded[i - 1]
            pooled = i in (2, 4, 6)
            if i in filters:
                y = winograd_conv3x3(y, filters[i], b, relu=i < 8 and not pooled)
            else:
                y = F.conv2d(y, w, b, padding=1)
                if i < 8 and not pooled:
                    y = F.relu_(y)
            if pooled:  # max-pool before ReLU: they commute, and ReLU then runs on 4x fewer values
                y = F.relu_(F.max_pool2d(y, 2))
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed 1-s windows at 48 kHz.

        Parameters
        ----------
        x : torch.Tensor [shape=(B, 48000)]
            float32, or float64 for the librosa front-end.

        Returns
        -------
        embedding : torch.Tensor [shape=(B, D)]
            float32, ``D = embedding_size``.
        """
        if not self.training and x.device.type == "cpu" and self.cpu_chunk and x.shape[0] > self.cpu_chunk:
            # A few windows' activations stay in the L3 cache; 32 windows of mel256 are 0.4 GB per layer.
            self.frontend.check_input(x)  # name the caller's shape, not a chunk's
            chunks = x.split(self.cpu_chunk)
            pool = self._chunk_workers(len(chunks))
            if pool is not None:
                inference = torch.is_inference_mode_enabled()

                def run(c):
                    with torch.inference_mode(inference), torch.no_grad():
                        return self.embed_spectrogram(self.spectrogram(c))

                return torch.cat(list(pool.map(run, chunks)))
            return torch.cat([self.embed_spectrogram(self.spectrogram(c)) for c in chunks])
        return self.embed_spectrogram(self.spectrogram(x))

    def _chunk_workers(self, n_chunks: int) -> ThreadPoolExecutor | None:
        """Return a pool for the CPU chunks, or None to run them in this thread."""
        n_threads = torch.get_num_threads()
        n_workers = min(self.cpu_workers or n_threads, n_threads, n_chunks)
        if (
            n_workers < 2
            or not self.cpu_kernels
            or torch.is_grad_enabled()
            or self.autocast_dtype is not None
            or torch.jit.is_tracing()
            or torch.compiler.is_compiling()
        ):
            return None
        # Build the folded and Winograd weights here, not racing in the workers.
        self._winograd_filters()
        return _chunk_pool(n_workers, max(1, n_threads // n_workers))


_POOLS: dict[tuple[int, int], ThreadPoolExecutor | None] = {}  # None: the threads failed to start
_POOLS_LOCK = threading.Lock()


def _forget_pools_in_child() -> None:
    # A forked child has none of the parent's threads: its pools would take work and never run it.
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools_in_child)


def _init_worker(n_threads: int, ready: threading.Barrier) -> None:
    # get_num_threads first: a thread's first parallel op would otherwise reset its count to the
    # process default. The count is per thread under OpenMP/MKL, so the caller keeps its own.
    torch.get_num_threads()
    torch.set_num_threads(n_threads)
    ready.wait()


def _chunk_pool(n_workers: int, threads_each: int) -> ThreadPoolExecutor | None:
    """Worker threads for CPU chunks, ``threads_each`` intra-op threads each (cached).

    On 2 cores, two single-threaded chunks at a time give 1.1-1.25x the windows/s of
    one chunk at a time on 2 threads: no barrier after every op, which on a shared
    (steal-prone) box stalls both threads whenever one is descheduled.
    """
    key = (n_workers, threads_each)
    with _POOLS_LOCK:
        if key in _POOLS:
            return _POOLS[key]
        n_main = torch.get_num_threads()
        ready = threading.Barrier(n_workers + 1)
        pool = ThreadPoolExecutor(
            n_workers, thread_name_prefix="sea-teacher", initializer=_init_worker, initargs=(threads_each, ready)
        )
        try:
            for _ in range(n_workers):  # each blocks in its initializer, so every submit starts a thread
                pool.submit(int)
            ready.wait(timeout=60)
        except threading.BrokenBarrierError:
            pool.shutdown(wait=False)
            pool = None  # run chunks in the caller's thread from now on
        finally:
            # at::set_num_threads also sets the count that threads started later begin with
            torch.set_num_threads(n_main)
        _POOLS[key] = pool
        return pool


def _conv1_im2col(s: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """First conv (1 input channel) as 9 shifted copies times a [9, 64] matrix, then ReLU.

    oneDNN runs a 1-channel 3x3 conv at a few GMAC/s; this is one GEMM with K = 9.
    """
    n, _, h, w = s.shape
    sp = F.pad(s[:, 0], (1, 1, 1, 1))
    cols = torch.stack([sp[:, i : i + h, j : j + w] for i in range(3) for j in range(3)], dim=-1)
    y = torch.addmm(bias, cols.view(-1, 9), weight.reshape(weight.shape[0], 9).t()).view(n, h, w, -1)
    return y.relu_().permute(0, 3, 1, 2)
