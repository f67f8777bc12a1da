"""Command-line input checked before any model loads: conversation ids, the output WAV, options
that override settings. Each problem is a `UserError`: one line naming the option or path, exit 2.

`OutputWav` is the reply file at a path the user chose. It is checked by creating its temporary
file next to it (the only test that tells a writable directory from /proc, a read-only mount
or a directory of another user, whatever the process's privileges), filled by the command, and
renamed over the path when the command succeeds (`commit`): a failed or interrupted command
leaves whatever was there before, never half a WAV. A new file is created 0600 like everything
else stepvox stores (the reply may read out private documents); a file that already exists
keeps its mode.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from assistant.errors import UserError
from core.device import DeviceError, resolve_device
from core.settings import SettingsError, check_setting
from core.thread_ids import shown, thread_id_problem


def check_thread(thread: str, option: str = "--thread") -> str:
    problem = thread_id_problem(thread)
    if problem:
        raise UserError(f"{option} {shown(thread)}: {problem}")
    return thread


def check_option(setting: str, value: Any, option: str) -> Any:
    """An option that overrides a setting, checked by the settings model's own validator."""
    try:
        return check_setting(setting, value, option)
    except SettingsError as e:
        raise UserError(str(e)) from None


class OutputWav:
    """The WAV a command writes to a path the user chose (see the module docstring)."""

    def __init__(self, path: Path, option: str = "-o") -> None:
        path = Path(path)
        if path.suffix.lower() != ".wav":
            raise UserError(f"{option} {path}: the output is written as WAV; use a .wav file name")
        if path.is_symlink() and path.exists():
            path = Path(os.path.realpath(path))  # write the file the link points at
        if path.is_dir():
            raise UserError(f"{option} {path}: is a directory")
        mode = 0o600
        if path.exists():
            st = path.stat()
            if not stat.S_ISREG(st.st_mode):
                raise UserError(f"{option} {path}: exists and is not a regular file")
            mode = stat.S_IMODE(st.st_mode)
        parent = path.parent
        try:
            if parent.exists() and not parent.is_dir():
                raise NotADirectoryError(f"{parent} is not a directory")
            parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp.wav")
        except OSError as e:
            reason = e.strerror or str(e)
            raise UserError(f"{option} {path}: cannot write there ({reason})") from None
        os.close(fd)
        self.path, self.tmp, self.mode = path, Path(tmp), mode
        self._done = False

    def commit(self) -> Path:
        """Move the finished file into place (atomic rename in the same directory)."""
        os.chmod(self.tmp, self.mode)
        os.replace(self.tmp, self.path)
        self._done = True
        return self.path

    def discard(self) -> None:
        if not self._done:
            self.tmp.unlink(missing_ok=True)
            self._done = True

    def __enter__(self) -> OutputWav:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


def check_device(value: str, option: str = "--device") -> str:
    """A torch device option: its syntax (the settings' validator), then whether it is here
    (imports torch: call it after the cheap checks)."""
    value = check_option("device", value, option)
    try:
        return str(resolve_device(value))
    except DeviceError as e:
        raise UserError(f"{option} {shown(value)}: {e.reason}") from None
