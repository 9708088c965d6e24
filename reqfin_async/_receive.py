"""Reading request bodies in the receivers (webhooks, Invoice-Collector callbacks)."""

from __future__ import annotations

from aiohttp import web

__all__ = ["read_limited"]


async def read_limited(request: web.Request, limit: int) -> bytes:
    """The request body, refused (413) past ``limit`` bytes without reading it all into memory.

    A declared ``Content-Length`` over the limit is refused before reading; a
    chunked body is read chunk by chunk and refused as soon as it goes over. A
    compressed body that does not decode is refused with 400.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=declared)
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = await request.content.readany()
        except web.RequestPayloadError as exc:
            # A compressed body that did not decode (or grew past aiohttp's own
            # cap): the sender's fault, not a server error.
            raise web.HTTPBadRequest(text=f"unreadable request body: {exc}") from None
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
        chunks.append(chunk)
    return b"".join(chunks)
