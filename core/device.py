"""The torch device a setting or option names: `auto`, `cpu`, `cuda`, `cuda:N` or `mps`
(the syntax is checked by `core.settings`). `resolve_device` also checks the device exists
here, so a model is never loaded onto a device that is not there."""

from __future__ import annotations

from typing import Any


class DeviceError(ValueError):
    """A device that is not available here. `reason` is the cause alone."""

    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason = name, reason
        super().__init__(f"device {name!r}: {reason}")


def resolve_device(name: str | None) -> Any:
    """`auto`/None -> cuda when torch can use a GPU, else cpu. Raises DeviceError (a ValueError,
    "device 'cuda:3': ...") when the named device is not available."""
    import torch  # heavy; only the commands that load models call this

    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise DeviceError(name, "expected auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch is a CPU-only build" if torch.version.cuda is None else "no GPU found"
            raise DeviceError(name, f"CUDA is not available ({why})")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise DeviceError(name, f"no such GPU ({count} found)")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(name, "MPS (Apple GPU) is not available")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(name, "expected auto, cpu, cuda, cuda:N or mps")
    return dev
