"""Download a pinned SigmaHQ release archive and verify its SHA-256 before unpacking it."""

from __future__ import annotations

import hashlib
import io
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Final

from dwell.errors import UsageError

#: The SigmaHQ release dwell is tested with (rules for all products, zip).
SIGMA_RELEASE: Final = "r2026-04-01"
SIGMA_URL: Final = (
    f"https://github.com/SigmaHQ/sigma/releases/download/{SIGMA_RELEASE}/"
    f"sigma_all_rules.zip"
)
#: Unknown until pinned by the maintainers; ``dwell rules fetch --sha256`` must then be given.
SIGMA_SHA256: Final[str | None] = None
MAX_BYTES: Final = 256 * 1024 * 1024
MAX_RULE_BYTES: Final = 4 * 1024 * 1024  # one rule file
MAX_UNPACKED_BYTES: Final = 1024 * 1024 * 1024  # the whole archive, unpacked


def fetch_rules(dest: str | Path, url: str = SIGMA_URL, sha256: str | None = SIGMA_SHA256,
                timeout: float = 60.0) -> tuple[Path, int]:
    """Download ``url``, check its SHA-256, unpack its ``.yml`` files under ``dest``.

    Returns the folder and the number of rule files written.
    """
    if not sha256:
        raise UsageError("no pinned SHA-256 for this archive; pass --sha256 HEX")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read(MAX_BYTES + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise UsageError(f"cannot download {url}: {exc}; check the network or --url") from exc
    if len(data) > MAX_BYTES:
        raise UsageError(f"{url} is larger than {MAX_BYTES} bytes; refusing it")
    got = hashlib.sha256(data).hexdigest()
    if got != sha256.lower():
        raise UsageError(f"{url}: SHA-256 mismatch (expected {sha256.lower()}, got {got}); "
                         "the archive was not unpacked")
    folder = Path(dest)
    count = 0
    unpacked = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                name = Path(info.filename)
                if info.is_dir() or name.suffix not in (".yml", ".yaml"):
                    continue
                if name.is_absolute() or ".." in name.parts:
                    continue
                unpacked += info.file_size
                if info.file_size > MAX_RULE_BYTES or unpacked > MAX_UNPACKED_BYTES:
                    raise UsageError(f"{url}: {info.filename} would unpack past the size limit; "
                                     "refusing the archive")
                target = folder / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(info))
                count += 1
    except zipfile.BadZipFile as exc:
        raise UsageError(f"{url} is not a zip archive: {exc}") from exc
    return folder, count
