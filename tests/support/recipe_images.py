"""Build small test images carrying generation metadata (PNG text chunks, EXIF comments), and upload them to
analyze-image."""
from __future__ import annotations

import io

from aiohttp import FormData
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from support.comfy_workflows import LIGHTNING, api_node, base_api
from support.library import lm_sidecar, write_lora
from support.snap import scrub

EXIF_IFD = 0x8769
USER_COMMENT = 0x9286
IMAGE_DESCRIPTION = 0x010E
EXIF_MAKE = 0x010F
EXIF_MODEL = 0x0110


def png_bytes(text: dict[str, str] | None = None, *, size=(16, 12), itxt: dict[str, str] | None = None,
              ztxt: dict[str, str] | None = None) -> bytes:
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    for key, value in (itxt or {}).items():
        info.add_itxt(key, value)
    for key, value in (ztxt or {}).items():
        info.add_text(key, value, zip=True)
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def unicode_comment(text: str, *, byteorder: str = "big") -> bytes:
    codec = "utf-16-be" if byteorder == "big" else "utf-16-le"
    return b"UNICODE\x00" + text.encode(codec)


def ascii_comment(text: str) -> bytes:
    return b"ASCII\x00\x00\x00" + text.encode("utf-8")


def exif_image(fmt: str, *, user_comment: bytes | None = None, description: str | None = None,
               ifd0: dict[int, str] | None = None, size=(16, 12), xmp: bytes | None = None,
               comment: bytes | None = None) -> bytes:
    """A JPEG or WebP image with the given EXIF fields."""
    exif = Image.Exif()
    if description is not None:
        exif[IMAGE_DESCRIPTION] = description
    for tag, value in (ifd0 or {}).items():
        exif[tag] = value
    if user_comment is not None:
        exif.get_ifd(EXIF_IFD)[USER_COMMENT] = user_comment
    buf = io.BytesIO()
    params: dict = {"exif": exif.tobytes()}
    if xmp is not None:
        params["xmp"] = xmp
    if comment is not None:
        params["comment"] = comment
    Image.new("RGB", size, (30, 200, 30)).save(buf, fmt, **params)
    return buf.getvalue()


LIGHTNING_STEM = "Qwen-Image-Lightning-8steps-V1.0"


def lightning_lora_prompt() -> dict:
    """An API prompt whose one LoRA (the Lightning LoRA at 0.8) feeds the model of the sampler."""
    prompt = base_api(model_link=("30", 0))
    prompt["30"] = api_node("LoraLoaderModelOnly", lora_name=LIGHTNING, strength_model=0.8, model=["4", 0])
    return prompt


async def lightning_library_client(lib_env, make_client):
    """A client over a library holding the Lightning LoRA, with the recipe cache ready."""
    write_lora(lib_env.loras, f"qwen/{LIGHTNING_STEM}.safetensors", sidecar=lm_sidecar(LIGHTNING_STEM, sha256="d" * 64))
    client = await make_client(lib_env)
    client.env = lib_env
    await client.lm_context.components["recipes"].wait_ready()
    return client


async def analyze_upload(client, data: bytes, filename: str, content_type: str):
    """(status, scrubbed JSON) of analyze-image on an uploaded file."""
    form = FormData()
    form.add_field("image", data, filename=filename, content_type=content_type)
    resp = await client.post("/api/lm/recipes/analyze-image", data=form)
    return resp.status, scrub(await resp.json(), client.env.tmp)
