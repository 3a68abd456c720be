"""Files that readers (nginx, the API, an operator's shell) never see half-written."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    """Write `data` to `path` through a temporary file in the same directory, fsync and rename.

    `mode` is set before the rename because the reader may run as another user (nginx). On any
    failure the temporary file is removed and the error raised; `path` keeps its old content.
    `durable=False` skips the fsync, for files rebuilt from the store at every start (snapshots):
    readers still never see half a file, and a crash loses nothing that is not rebuilt.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
