"""One example file fetched under the shared resilience rules (rate limit, breaker, retries, Retry-After)."""
from __future__ import annotations

from dataclasses import dataclass

from ..remote.errors import ErrorKind, RemoteError, classify_status
from ..remote.resilience import ResilientHttp, host_key

MAX_MEDIA_BYTES = 128 * 1024 * 1024
CHUNK = 256 * 1024


@dataclass(frozen=True)
class FetchedMedia:
    data: bytes
    content_type: str
    url: str  # after redirects


async def fetch_media(http: ResilientHttp, url: str, *, max_bytes: int = MAX_MEDIA_BYTES) -> FetchedMedia:
    """The bytes behind ``url``; every failure is a classified ``RemoteError`` (404 is NOT_FOUND, never
    retried). No API key is sent: example media are public."""
    try:
        host = host_key(url)
    except ValueError:
        raise RemoteError(ErrorKind.CLIENT, f"Not a usable image URL: {url[:200]}", url=url) from None

    async def operation() -> FetchedMedia:
        session = await http.session()
        async with session.get(url, timeout=http.timeout) as response:
            final_url = str(response.url)
            error = classify_status(response.status, response.headers, final_url)
            if error is not None:
                raise error
            too_big = RemoteError(ErrorKind.MALFORMED, f"The file is larger than {max_bytes} bytes", url=url)
            if response.content_length is not None and response.content_length > max_bytes:
                raise too_big
            body = bytearray()
            async for chunk in response.content.iter_chunked(CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise too_big
            return FetchedMedia(bytes(body), response.headers.get("Content-Type", ""), final_url)

    return await http.call(host, operation, describe=f"GET {url}")
