"""One file over HTTP into a `.part` file, resuming from its size with a Range request."""

from __future__ import annotations

import http.client
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

USER_AGENT = "sigattn-fetch/0.1 (python urllib)"
_CHUNK = 1 << 16
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")

Progress: TypeAlias = Callable[[str, int, int | None], None]  # (file name, bytes so far, total or None)


def download_resuming(url: str, part: Path, name: str, timeout: float, progress: Progress | None) -> int:
    """Fetch `url` into `part`, resuming from its current size; returns the bytes transferred."""
    offset = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code != 416 or not offset:
            raise
        e.close()  # the .part is as long as the file or longer: start over
        part.unlink()
        return download_resuming(url, part, name, timeout, progress)
    with response:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
        if response.status == 206 and match and int(match.group(1)) == offset:
            mode, total = "ab", (int(match.group(3)) if match.group(3) != "*" else None)
        else:  # no Range asked, or the server ignored it and sent the whole file
            mode, offset = "wb", 0
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        done = offset
        with open(part, mode) as out:
            try:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(name, done, total)
            except http.client.IncompleteRead:
                pass  # reported just below, with the byte counts
    if total is not None and done < total:
        raise ConnectionError(f"the connection closed after {done:,} of {total:,} bytes")
    return done - offset
