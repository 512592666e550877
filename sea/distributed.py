"""torch.distributed under torchrun, owned once for every stage.

Sharded extraction, DDP distillation and ``sea run``'s barriers all go through
one :class:`World`. Outside torchrun (``WORLD_SIZE`` unset or 1) it is a world
of one whose collectives are no-ops, so stages need no special case.

One process group serves the whole process. Its backend follows from the
devices this machine has, not from the first stage that asks: with CUDA it is
``cpu:gloo,cuda:nccl`` (CPU tensors over gloo, CUDA tensors over NCCL), so a
barrier of ``sea run`` before distillation can never pin a gloo-only group on
a CUDA job. One timeout serves every collective: ranks wait at barriers while
the slowest rank finishes its share, which can take hours on big corpora.
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any

from .errors import SeaError

__all__ = ["TIMEOUT", "World"]

#: Timeout of every collective (the slowest rank may still be extracting its shards).
TIMEOUT = _dt.timedelta(hours=12)


class World:
    """This process's place in a torchrun job.

    Parameters
    ----------
    device : str
        The device this stage computes on (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        Under torchrun ``"cuda"`` becomes ``cuda:<LOCAL_RANK>``.

    Attributes
    ----------
    rank, size, local_rank : int
        Global rank, world size and rank on this node (0, 1, 0 outside torchrun).
    device : str
        The resolved device.
    """

    def __init__(self, device: str = "cpu"):
        self.size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = device
        self.dist: Any = None
        self.owned = False
        if self.size <= 1:
            self.size, self.rank = 1, 0
            return
        import torch
        import torch.distributed as dist

        if not dist.is_available():
            raise SeaError("WORLD_SIZE > 1 but this torch has no torch.distributed; run without torchrun")
        if device.startswith("cuda"):
            self.device = f"cuda:{self.local_rank}" if device == "cuda" else device
            torch.cuda.set_device(torch.device(self.device))
        if not dist.is_initialized():
            cuda = torch.cuda.is_available() and dist.is_nccl_available()
            dist.init_process_group(backend="cpu:gloo,cuda:nccl" if cuda else "gloo", timeout=TIMEOUT)
            self.owned = True
        self.dist = dist
        self.rank, self.size = dist.get_rank(), dist.get_world_size()

    @property
    def main(self) -> bool:
        """True on rank 0, which does the single-process work and writes shared files."""
        return self.rank == 0

    def _tensor(self, values: list, dtype) -> Any:
        import torch

        # CUDA tensors travel over NCCL only when this rank computes on CUDA
        dev = self.device if self.device.startswith("cuda") else "cpu"
        return torch.tensor(values, dtype=dtype, device=dev)

    def broadcast_int(self, value: int) -> int:
        """Rank 0's ``value`` on every rank."""
        if self.dist is None:
            return int(value)
        import torch

        t = self._tensor([int(value)], torch.int64)
        self.dist.broadcast(t, src=0)
        return int(t.item())

    def sum_ints(self, values: list[int]) -> list[int]:
        """Element-wise sum over ranks (int64)."""
        if self.dist is None:
            return [int(v) for v in values]
        import torch

        t = self._tensor([int(v) for v in values], torch.int64)
        self.dist.all_reduce(t)
        return [int(v) for v in t.cpu().tolist()]

    def sum_floats(self, values: list[float]) -> list[float]:
        """Element-wise sum over ranks (float64)."""
        if self.dist is None:
            return [float(v) for v in values]
        import torch

        t = self._tensor([float(v) for v in values], torch.float64)
        self.dist.all_reduce(t)
        return t.cpu().tolist()

    def gather_floats(self, value: float) -> list[float]:
        """Every rank's ``value``, in rank order."""
        if self.dist is None:
            return [float(value)]
        import torch

        parts = [self._tensor([0.0], torch.float64) for _ in range(self.size)]
        self.dist.all_gather(parts, self._tensor([float(value)], torch.float64))
        return [float(p.item()) for p in parts]

    def broadcast_tensors(self, tensors) -> None:
        """Rank 0's values of ``tensors`` (in place) on every rank."""
        if self.dist is None:
            return
        for t in tensors:
            self.dist.broadcast(t, src=0)

    def barrier(self) -> None:
        if self.dist is not None:
            self.dist.barrier()

    def close(self) -> None:
        """Destroy the process group if this World created it (``sea run`` keeps one for all stages)."""
        if self.owned and self.dist is not None and self.dist.is_initialized():
            self.dist.destroy_process_group()
            self.owned = False
