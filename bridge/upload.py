"""Streaming multipart/form-data uploads straight into the inbox.

A 40 GB ProRes master must not be held in memory nor spooled to the system's temp folder
(which lies outside the folders postbay may write): the body is parsed as it arrives and
the file part is written to a dot-named temp file in the inbox, renamed into place only
when complete and within the upload limit.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Upload", "UploadError", "idle_limited", "receive_upload", "safe_filename"]

_FIELD_LIMIT = 64 * 1024
_HEADER_LIMIT = 16 * 1024
_UNSAFE = re.compile(r"[^\w.\- ()+,@]")


class UploadError(Exception):
    """An upload that cannot be accepted; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    """What a multipart request carried: the saved file (if any) and the text fields."""

    path: Path | None = None
    filename: str | None = None
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)


def safe_filename(name: str) -> str:
    """The last component of a client's file name, with characters that could escape or
    confuse a folder replaced (no separators, no leading dot)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = _UNSAFE.sub("_", base).lstrip(".")
    if not base or base in {".", ".."}:
        raise UploadError("the uploaded file has no usable name")
    return base[:200]


def _boundary(content_type: str) -> bytes:
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.lower().startswith("multipart/form-data") or not m:
        raise UploadError("expected multipart/form-data with a boundary")
    return m.group(1).encode("latin-1")


def _disposition(headers: bytes) -> tuple[str, str | None]:
    text = headers.decode("utf-8", "replace")
    disp = next((line for line in text.split("\r\n") if line.lower().startswith("content-disposition:")), "")
    name = re.search(r'\bname="([^"]*)"', disp)
    filename = re.search(r'\bfilename="([^"]*)"', disp)
    if not name:
        raise UploadError("a form part has no name")
    return name.group(1), (filename.group(1) if filename else None)


def _unique(folder: Path, name: str) -> Path:
    target = folder / name
    stem, suffix = target.stem, target.suffix
    n = 1
    while target.exists():
        target = folder / f"{stem}-{n}{suffix}"
        n += 1
    return target


async def idle_limited(chunks: AsyncIterator[bytes], seconds: float) -> AsyncIterator[bytes]:
    """``chunks`` as they come, ended with a 408 when the client sends nothing for ``seconds``
    (a client that trickles a byte a minute would hold the upload, and its temp file, forever)."""
    stream = aiter(chunks)
    while True:
        try:
            chunk = await asyncio.wait_for(anext(stream), seconds)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise UploadError(f"the upload sent nothing for {seconds:g} s; send it again "
                              "(the limit is [api] upload_idle_seconds)", 408) from None
        yield chunk


async def receive_upload(chunks: AsyncIterator[bytes], content_type: str, inbox: Path, limit: int) -> Upload:
    """Parse a multipart body from ``chunks``; the one file part goes into ``inbox``.

    Raises :class:`UploadError` (413 past ``limit`` bytes of file) and leaves nothing behind.
    """
    delim = b"\r\n--" + _boundary(content_type)
    buf = b"\r\n"  # the first delimiter has no CRLF before it; add one so all look alike
    state = "preamble"
    result = Upload()
    part_name: str | None = None
    part_value = bytearray()
    sink = None
    tmp: Path | None = None
    try:
        async for chunk in chunks:
            buf += chunk
            while True:
                if state == "preamble":
                    i = buf.find(delim)
                    if i < 0:
                        buf = buf[-len(delim):]
                        break
                    buf = buf[i + len(delim):]
                    state = "after"
                elif state == "after":
                    if len(buf) < 2:
                        break
                    if buf[:2] == b"--":
                        state = "done"
                        break
                    if buf[:2] != b"\r\n":
                        raise UploadError("malformed multipart body")
                    buf = buf[2:]
                    state = "headers"
                elif state == "headers":
                    i = buf.find(b"\r\n\r\n")
                    if i < 0:
                        if len(buf) > _HEADER_LIMIT:
                            raise UploadError("multipart headers too long")
                        break
                    part_name, filename = _disposition(buf[:i])
                    buf = buf[i + 4:]
                    part_value = bytearray()
                    if filename is not None:
                        if sink is not None:
                            raise UploadError("send one file per request")
                        result.filename = safe_filename(filename)
                        inbox.mkdir(parents=True, exist_ok=True)
                        tmp = inbox / f".{result.filename}.postbay-upload-{os.getpid()}-{id(result)}"
                        sink = open(tmp, "wb")
                    state = "body"
                elif state == "body":
                    i = buf.find(delim)
                    data = buf[:i] if i >= 0 else buf[:max(0, len(buf) - len(delim) + 1)]
                    buf = buf[len(data):]
                    if result.filename is not None and sink is not None and not sink.closed:
                        result.size += len(data)
                        if result.size > limit:
                            raise UploadError(f"upload larger than the limit of {limit // (1 << 20)} MB", 413)
                        sink.write(data)
                    else:
                        part_value += data
                        if len(part_value) > _FIELD_LIMIT:
                            raise UploadError(f"form field {part_name!r} too long")
                    if i < 0:
                        break
                    buf = buf[len(delim):]
                    if sink is not None and not sink.closed:
                        sink.close()
                    else:
                        result.fields[part_name or ""] = part_value.decode("utf-8", "replace")
                    state = "after"
                else:
                    break
            if state == "done":
                break
        if state != "done":
            raise UploadError("the upload ended early (connection closed or body truncated)")
        if sink is None or tmp is None or result.filename is None:
            raise UploadError("no file in the upload (send it in a part with a filename)")
        final = _unique(inbox, result.filename)
        os.replace(tmp, final)
        result.path = final
        tmp = None
        return result
    finally:
        if sink is not None and not sink.closed:
            sink.close()
        if tmp is not None:
            tmp.unlink(missing_ok=True)
