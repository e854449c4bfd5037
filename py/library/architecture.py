"""What a model is: base model, network type, rank, trigger words, from its header, name and size.

Why one place: the scanner, the index, the UI and downloads all need the same answer, and users need to see
*why* we think a LoRA is SDXL. Every value of ``ModelIdentity`` therefore carries its source, e.g.
``"metadata:ss_base_model_version"``, ``"shapes:text_encoder_width=768"`` or ``"name:sdxl"``.

Order of evidence for the base model: trainer metadata (``modelspec.architecture``, then
``ss_base_model_version``), then the tensor keys of transformer families (Flux, SD3, Wan, Hunyuan Video; checked
before widths because their LoRAs also carry CLIP text-encoder weights), then tensor shapes of the Stable
Diffusion family (text-encoder and cross-attention widths), then the file name. Pony / Illustrious / NoobAI are
SDXL fine-tunes that look exactly like SDXL; only metadata naming the training checkpoint can tell them apart.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import PurePath
from typing import Any, Callable, Iterable, Mapping

from .safetensors import SafetensorsHeader, TensorInfo

UNKNOWN = "Unknown"
SDXL = "SDXL 1.0"
MAX_TRIGGER_WORDS = 10
VRAM_FACTOR = 1.2
MODEL_TYPES = ("lora", "checkpoint", "embedding")
_EMPTY_VALUES = {"", "none", "null", "undefined"}


@dataclass
class ModelIdentity:
    model_type: str
    base_model: str = UNKNOWN
    base_model_source: str = "unknown"
    network_type: str = UNKNOWN
    network_type_source: str = "unknown"
    rank: int | None = None
    rank_source: str = "unknown"
    alpha: float | None = None
    alpha_source: str = "unknown"
    trigger_words: list[str] = field(default_factory=list)
    trigger_words_source: str = "none"
    vram_estimate_bytes: int = 0
    vram_estimate_source: str = "file_size*1.2"
    sshs_model_hash: str | None = None
    title: str | None = None
    author: str | None = None
    description: str | None = None
    resolution: str | None = None
    training_comment: str | None = None
    # source of each optional descriptive field above that has a value, e.g. {"title": "metadata:modelspec.title"}
    field_sources: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy; shallow per field (lists and dicts copied) because it runs once per scanned file."""
        result: dict[str, Any] = {}
        for name in _FIELD_NAMES:
            value = getattr(self, name)
            if isinstance(value, (list, dict)):
                value = value.copy()
            result[name] = value
        return result


_FIELD_NAMES = tuple(f.name for f in fields(ModelIdentity))


def identify(
    header: SafetensorsHeader | None, *, file_name: str, file_size: int, model_type: str
) -> ModelIdentity:
    """Describe one model file. ``header`` is None for files that are not safetensors (.pt, .ckpt, .gguf...)."""
    identity = ModelIdentity(model_type=model_type, vram_estimate_bytes=round(max(file_size, 0) * VRAM_FACTOR))
    if header is None:
        _identify_from_name(identity, file_name, model_type)
        return identity

    metadata = header.metadata
    tensors = _TensorView(header.tensors)
    identity.base_model, identity.base_model_source = _base_model(metadata, tensors, file_name)
    identity.network_type, identity.network_type_source = _network_type(metadata, tensors, model_type)
    if identity.network_type not in ("Full", "Embedding"):
        identity.rank, identity.rank_source = _rank(metadata, tensors)
        identity.alpha, identity.alpha_source = _alpha(metadata)
    identity.trigger_words, identity.trigger_words_source = _trigger_words(metadata)
    _descriptive_fields(identity, metadata)
    return identity


# ------------------------------------------------------------------------------------------ helpers


def _meta(metadata: Mapping[str, str], key: str) -> str | None:
    """A metadata value, or None when absent or a placeholder such as ``"None"``."""
    value = metadata.get(key)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return None if value.lower() in _EMPTY_VALUES else value


def _json(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return None


class _TensorView:
    """Tensor names lowercased once, with the lookups the detectors need."""

    def __init__(self, tensors: Mapping[str, TensorInfo]) -> None:
        self.items: list[tuple[str, TensorInfo]] = [(name.lower(), info) for name, info in tensors.items()]

    def any(self, *needles: str) -> bool:
        return any(needle in name for name, _ in self.items for needle in needles)

    def any_prefix(self, *prefixes: str) -> bool:
        return any(name.startswith(prefixes) for name, _ in self.items)

    def matching(self, pattern: re.Pattern[str]) -> Iterable[tuple[str, TensorInfo, re.Match[str]]]:
        for name, info in self.items:
            match = pattern.search(name)
            if match:
                yield name, info, match

    def max_index(self, pattern: re.Pattern[str]) -> int:
        return max((int(match.group(1)) for _, _, match in self.matching(pattern)), default=-1)


def _last_dim(info: TensorInfo) -> int | None:
    return info.shape[-1] if info.shape else None


def _most_common(values: Iterable[int]) -> int | None:
    counts = Counter(values)
    if not counts:
        return None
    # most frequent, larger value on ties: deterministic whatever the key order
    return max(counts.items(), key=lambda item: (item[1], item[0]))[0]


# ------------------------------------------------------------------------------------------ base model

_MODELSPEC_MAP: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), name)
    for p, name in [
        (r"^stable-diffusion-xl|^sdxl", SDXL),
        (r"^stable-diffusion-v1|^sd-?v?1", "SD 1.5"),
        (r"^stable-diffusion-v2.*768", "SD 2.1 768"),
        (r"^stable-diffusion-v2|^sd-?v?2", "SD 2.1"),
        (r"^stable-diffusion-(v)?3\.5-large", "SD 3.5 Large"),
        (r"^stable-diffusion-(v)?3\.5-medium", "SD 3.5 Medium"),
        (r"^stable-diffusion-(v)?3\.5", "SD 3.5"),
        (r"^stable-diffusion-(v)?3|^sd-?v?3", "SD 3"),
        (r"^flux[-.]?1[-.]?schnell", "Flux.1 S"),
        (r"^flux[-.]?1[-.]?kontext", "Flux.1 Kontext"),
        (r"^flux[-.]?1", "Flux.1 D"),
        (r"^chroma", "Chroma"),
        (r"^hunyuan-?video", "Hunyuan Video"),
        (r"^wan", "Wan Video"),
        (r"^lumina", "Lumina"),
        (r"^hidream", "HiDream"),
        (r"^qwen-?image", "Qwen"),
        (r"^auraflow", "AuraFlow"),
    ]
]

_KOHYA_MAP: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), name)
    for p, name in [
        (r"^sdxl", SDXL),
        (r"^sd_?v?1", "SD 1.5"),
        (r"^sd_?v?2.*_v$|^sd_?v?2.*768", "SD 2.1 768"),
        (r"^sd_?v?2", "SD 2.1"),
        (r"^sd_?v?3[._]?5.*large", "SD 3.5 Large"),
        (r"^sd_?v?3[._]?5.*medium", "SD 3.5 Medium"),
        (r"^sd_?v?3[._]?5", "SD 3.5"),
        (r"^sd_?v?3", "SD 3"),
        (r"^flux[-_.]?1?[-_.]?schnell", "Flux.1 S"),
        (r"^flux", "Flux.1 D"),
        (r"^chroma", "Chroma"),
        (r"^hunyuan[-_]?video", "Hunyuan Video"),
        (r"^wan", "Wan Video"),
        (r"^lumina", "Lumina"),
        (r"^hidream", "HiDream"),
    ]
]

# SDXL fine-tunes: the training checkpoint's file name is a reliable hint; the LoRA's own title only when
# it uses an unmistakable tag.
_SDXL_CHECKPOINT_HINTS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"noob"), "NoobAI"),
    (re.compile(r"illustrious"), "Illustrious"),
    (re.compile(r"pony"), "Pony"),
]
_SDXL_TITLE_HINTS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"noobai"), "NoobAI"),
    (re.compile(r"illustrious"), "Illustrious"),
    (re.compile(r"pony[\W_]*(diffusion|xl|v6)|(?<![a-z])pdxl(?![a-z])"), "Pony"),
]

_NAME_HINTS: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(p), name, label)
    for p, name, label in [
        (r"noobai", "NoobAI", "noobai"),
        (r"illustrious", "Illustrious", "illustrious"),
        (r"pony[\W_]*(diffusion|xl|v6)|(?<![a-z])pdxl(?![a-z])", "Pony", "pony"),
        (r"flux[\W_]*1?[\W_]*schnell", "Flux.1 S", "flux schnell"),
        (r"flux", "Flux.1 D", "flux"),
        (r"(?<![a-z0-9])sd[\W_]?3[\W_.]?5(?!\d)", "SD 3.5", "sd3.5"),
        (r"(?<![a-z0-9])sd[\W_]?3(?!\d)", "SD 3", "sd3"),
        (r"hunyuan[\W_]*video", "Hunyuan Video", "hunyuan video"),
        (r"(?<![a-z0-9])wan[\W_]?2[\W_.]?[12](?!\d)", "Wan Video", "wan"),
        (r"(?<![a-z0-9])sd[\W_]?xl|sdxl|(?<![a-z0-9])xl(?![a-z0-9])", SDXL, "sdxl"),
        (r"(?<![a-z0-9])sd[\W_]?1[\W_.]?5(?!\d)|(?<![a-z0-9])v1-5(?!\d)", "SD 1.5", "sd1.5"),
        (r"(?<![a-z0-9])sd[\W_]?1[\W_.]?4(?!\d)|(?<![a-z0-9])v1-4(?!\d)", "SD 1.4", "sd1.4"),
        (r"(?<![a-z0-9])sd[\W_]?2[\W_.]?1(?!\d)|(?<![a-z0-9])v2-1(?!\d)", "SD 2.1", "sd2.1"),
        (r"(?<![a-z0-9])sd[\W_]?2[\W_.]?0(?!\d)|(?<![a-z0-9])v2-0(?!\d)", "SD 2.0", "sd2.0"),
    ]
]

_WIDTH_FAMILY = {768: "SD 1.5", 1024: "SD 2.1", 1280: SDXL, 2048: SDXL}

_DOUBLE_BLOCK = re.compile(r"double_blocks[._](\d+)")
_SINGLE_BLOCK = re.compile(r"single_(?:transformer_)?blocks[._](\d+)")
_JOINT_BLOCK = re.compile(r"joint_blocks[._](\d+)")
_WAN_BLOCK = re.compile(r"(?:^|[._])blocks[._]\d+[._](?:cross_attn|self_attn)[._](?:q|k|v|o|norm_k|norm_q)(?:\.|$)")
_LORA_DOWN = re.compile(r"(?:[._]lora_down|[._]lora_a|[._]lora\.down)\.weight$")
_TE_PREFIXES = ("lora_te_", "lora_te1_", "lora_te2_", "text_encoder.", "text_encoder_2.", "te_", "te1_", "te2_")
_TE_DOWN = re.compile(r"(?:[._]lora_down|[._]lora_a|[._]lora\.down)\.weight$|[._]hada_w[12]_b$")
_CROSS_ATTN_KV = re.compile(r"attn2[._]to_[kv](?:[._]|$)")
_TOKEN_EMBEDDING = re.compile(r"token_embedding\.weight$")


def _base_model(metadata: Mapping[str, str], tensors: _TensorView, file_name: str) -> tuple[str, str]:
    found = (
        _base_from_metadata(metadata)
        or _base_from_transformer_keys(tensors)
        or _base_from_sd_shapes(tensors)
    )
    if found is None:
        return _base_from_name(file_name) or (UNKNOWN, "unknown")
    base, source = found
    if base == SDXL:
        refined = _refine_sdxl(metadata)
        if refined:
            return refined[0], f"{refined[1]} over {source}"
    return base, source


def _base_from_metadata(metadata: Mapping[str, str]) -> tuple[str, str] | None:
    architecture = _meta(metadata, "modelspec.architecture")
    if architecture:
        family = architecture.lower().split("/", 1)[0].strip()
        for pattern, name in _MODELSPEC_MAP:
            if pattern.search(family):
                return name, "metadata:modelspec.architecture"
    version = _meta(metadata, "ss_base_model_version")
    if version:
        lowered = version.lower()
        for pattern, name in _KOHYA_MAP:
            if pattern.search(lowered):
                return name, "metadata:ss_base_model_version"
    v2 = _meta(metadata, "ss_v2")
    if v2 and v2.lower() == "true":  # older kohya versions only say "v2 or not"; "False" says nothing about SDXL
        return "SD 2.1", "metadata:ss_v2"
    return None


def _refine_sdxl(metadata: Mapping[str, str]) -> tuple[str, str] | None:
    checkpoint = _meta(metadata, "ss_sd_model_name")
    if checkpoint:
        lowered = checkpoint.lower()
        for pattern, name in _SDXL_CHECKPOINT_HINTS:
            if pattern.search(lowered):
                return name, "metadata:ss_sd_model_name"
    for key in ("modelspec.title", "ss_output_name"):
        value = _meta(metadata, key)
        if not value:
            continue
        lowered = value.lower()
        for pattern, name in _SDXL_TITLE_HINTS:
            if pattern.search(lowered):
                return name, f"metadata:{key}"
    return None


def _base_from_transformer_keys(tensors: _TensorView) -> tuple[str, str] | None:
    if tensors.any("double_blocks", "single_blocks", "single_transformer_blocks"):
        if tensors.any("token_refiner"):
            return "Hunyuan Video", "keys:token_refiner"
        # Flux has 19 double / 38 single blocks, Hunyuan Video 20 / 40.
        if tensors.max_index(_DOUBLE_BLOCK) >= 19 or tensors.max_index(_SINGLE_BLOCK) >= 38:
            return "Hunyuan Video", "keys:more than 19 double_blocks"
        if tensors.any("distilled_guidance_layer"):
            return "Chroma", "keys:distilled_guidance_layer"
        if tensors.any("guidance_in", "guidance_embedder"):
            return "Flux.1 D", "keys:flux guidance_in"
        if tensors.any("img_in.", "x_embedder."):
            return "Flux.1 S", "keys:flux without guidance_in"
        return "Flux.1 D", "keys:flux double_blocks"
    if tensors.any("joint_blocks", "context_block"):
        if tensors.max_index(_JOINT_BLOCK) >= 37:
            return "SD 3.5 Large", "keys:sd3 joint_blocks=38"
        if tensors.any("x_block.attn2", "x_block_attn2"):
            return "SD 3.5 Medium", "keys:sd3 x_block.attn2"
        return "SD 3", "keys:sd3 joint_blocks"
    if any(True for _ in tensors.matching(_WAN_BLOCK)):
        return "Wan Video", "keys:wan blocks.cross_attn"
    return None


def _base_from_sd_shapes(tensors: _TensorView) -> tuple[str, str] | None:
    if tensors.any_prefix("lora_te2_", "text_encoder_2.", "te2_"):
        return SDXL, "keys:lora_te2"
    if tensors.any_prefix("lora_te1_", "te1_"):
        return SDXL, "keys:lora_te1"
    if tensors.any_prefix("conditioner.embedders."):
        return SDXL, "keys:conditioner.embedders"
    if tensors.any_prefix("clip_g"):
        return SDXL, "keys:clip_g"

    def family(width: int | None, label: str) -> tuple[str, str] | None:
        if width in _WIDTH_FAMILY:
            return _WIDTH_FAMILY[width], f"shapes:{label}={width}"
        return None

    te_widths = [
        width
        for name, info in tensors.items
        if name.startswith(_TE_PREFIXES) and "fc2" not in name and _TE_DOWN.search(name)
        for width in [_last_dim(info)]
        if width in _WIDTH_FAMILY
    ]
    found = family(_most_common(te_widths), "text_encoder_width")
    if found:
        return found
    cross = [
        width
        for name, info, _ in tensors.matching(_CROSS_ATTN_KV)
        if _is_input_side(name)
        for width in [_last_dim(info)]
        if width in _WIDTH_FAMILY
    ]
    found = family(_most_common(cross), "cross_attention_width")
    if found:
        return found
    tokens = [w for _, info, _ in tensors.matching(_TOKEN_EMBEDDING) for w in [_last_dim(info)] if w in _WIDTH_FAMILY]
    found = family(_most_common(tokens), "token_embedding_width")
    if found:
        return found
    embeddings = [
        w
        for name, info in tensors.items
        if name in ("emb_params", "clip_l", "*") or name.startswith("string_to_param")
        for w in [_last_dim(info)]
        if w in _WIDTH_FAMILY
    ]
    return family(_most_common(embeddings), "embedding_width")


def _is_input_side(name: str) -> bool:
    """Weights whose last dimension is the layer's input width (not LoRA up / LoHa ``_a`` halves)."""
    if name.endswith(("hada_w1_b", "hada_w2_b")):
        return True
    return name.endswith(".weight") and not name.endswith(("lora_up.weight", "lora_b.weight", "lora.up.weight"))


def _base_from_name(file_name: str) -> tuple[str, str] | None:
    lowered = PurePath(file_name).name.lower()
    for pattern, name, label in _NAME_HINTS:
        if pattern.search(lowered):
            return name, f"name:{label}"
    return None


# ------------------------------------------------------------------------------------------ network type

_LYCORIS_ALGOS = {
    "locon": "LoCon",
    "loha": "LoHa",
    "lokr": "LoKr",
    "full": "Full",
    "dylora": "DyLoRA",
    "ia3": "IA3",
    "glora": "GLoRA",
    "oft": "OFT",
    "diag-oft": "OFT",
    "boft": "OFT",
}


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"true", "1", "yes", "on"}


def _has_conv(args: Mapping[str, Any]) -> bool:
    for key in ("conv_dim", "conv_rank"):
        value = args.get(key)
        if value is None:
            continue
        try:
            if float(str(value)) > 0:
                return True
        except ValueError:
            continue
    return False


def _network_from_metadata(metadata: Mapping[str, str]) -> tuple[str, str] | None:
    module = _meta(metadata, "ss_network_module")
    if not module:
        return None
    parsed = _json(_meta(metadata, "ss_network_args"))
    args: Mapping[str, Any] = parsed if isinstance(parsed, dict) else {}
    lowered = module.lower()
    dora = _truthy(args.get("dora_wd", False)) or _truthy(args.get("use_dora", False))
    if "lycoris" in lowered:
        algo = str(args.get("algo", "lora")).strip().lower()
        source = f"metadata:ss_network_args algo={algo}"
        if dora and algo in ("lora", "locon", "loha", "lokr"):
            return "DoRA", "metadata:ss_network_args dora_wd"
        if algo == "lora":
            return ("LoCon" if _has_conv(args) else "LoRA"), source
        if algo in _LYCORIS_ALGOS:
            return _LYCORIS_ALGOS[algo], source
        return None
    source = f"metadata:ss_network_module={module}"
    if "dylora" in lowered:
        return "DyLoRA", source
    if "oft" in lowered:
        return "OFT", source
    if "lora" in lowered:
        if dora:
            return "DoRA", "metadata:ss_network_args dora"
        if _has_conv(args):
            return "LoCon", "metadata:ss_network_args conv_dim"
        return "LoRA", source
    return None


def _network_from_keys(tensors: _TensorView) -> tuple[str, str] | None:
    if tensors.any("dora_scale"):
        return "DoRA", "keys:dora_scale"
    if tensors.any("hada_w1_a"):
        return "LoHa", "keys:hada_w1_a"
    if tensors.any("lokr_w1"):
        return "LoKr", "keys:lokr_w1"
    if tensors.any("oft_blocks", "oft_diag"):
        return "OFT", "keys:oft_blocks"
    downs = [info for name, info in tensors.items if _LORA_DOWN.search(name)]
    if downs:
        if any(len(info.shape) == 4 and (info.shape[2] > 1 or info.shape[3] > 1) for info in downs):
            return "LoCon", "keys:lora_down on conv layers"
        return "LoRA", "keys:lora_down"
    if any(name.endswith((".diff", ".diff_b")) for name, _ in tensors.items):
        return "Full", "keys:diff"
    return None


def _network_type(metadata: Mapping[str, str], tensors: _TensorView, model_type: str) -> tuple[str, str]:
    if model_type == "embedding":
        return "Embedding", "model_type:embedding"
    found = _network_from_metadata(metadata) or _network_from_keys(tensors)
    if found:
        kind, source = found
        if kind in ("LoRA", "LoCon") and source.startswith("metadata:") and tensors.any("dora_scale"):
            return "DoRA", "keys:dora_scale"
        return found
    if model_type == "checkpoint":
        return "Full", "model_type:checkpoint"
    if tensors.any_prefix("model.diffusion_model.", "double_blocks.", "joint_blocks."):
        return "Full", "keys:model.diffusion_model"
    return UNKNOWN, "unknown"


# ------------------------------------------------------------------------------------------ rank / alpha


def _positive_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or value <= 0 or value != int(value):
        return None
    return int(value)


def _finite_float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _rank(metadata: Mapping[str, str], tensors: _TensorView) -> tuple[int | None, str]:
    rank = _positive_int(_meta(metadata, "ss_network_dim"))
    if rank is not None:
        return rank, "metadata:ss_network_dim"
    shapes = [
        info.shape[0]
        for name, info in tensors.items
        if info.shape and info.shape[0] > 0 and (_LORA_DOWN.search(name) or name.endswith(("hada_w1_b", "hada_w2_b")))
    ]
    rank = _most_common(shapes)
    if rank is not None:
        return rank, "shapes:lora_down"
    return None, "unknown"


def _alpha(metadata: Mapping[str, str]) -> tuple[float | None, str]:
    alpha = _finite_float(_meta(metadata, "ss_network_alpha"))
    if alpha is not None:
        return alpha, "metadata:ss_network_alpha"
    return None, "unknown (alpha tensors hold it; tensor data is not read)"


# ------------------------------------------------------------------------------------------ trigger words


class _TagTally:
    """Counts tags case-insensitively, keeping the first spelling; ties keep first-seen order.

    Boosted tags (a DreamBooth subset's class tokens) rank before counted ones.
    """

    def __init__(self) -> None:
        self.counts: dict[str, float] = {}
        self.spelling: dict[str, str] = {}
        self.boosted: set[str] = set()

    def add(self, tag: Any, count: Any = 1, *, boost: bool = False) -> None:
        if not isinstance(tag, str):
            return
        tag = tag.strip()
        if not tag:
            return
        key = tag.lower()
        valid = (isinstance(count, int) and not isinstance(count, bool)) or (
            isinstance(count, float) and math.isfinite(count)
        )
        self.spelling.setdefault(key, tag)
        self.counts[key] = self.counts.get(key, 0) + (max(count, 0) if valid else 0)
        if boost:
            self.boosted.add(key)

    def add_frequency(self, frequency: Any) -> None:
        if not isinstance(frequency, dict):
            return
        for tags in frequency.values():
            if isinstance(tags, dict):
                for tag, count in tags.items():
                    self.add(tag, count)

    def top(self, limit: int = MAX_TRIGGER_WORDS) -> list[str]:
        order = {key: index for index, key in enumerate(self.counts)}
        ranked = sorted(
            self.counts, key=lambda key: (key not in self.boosted, -self.counts[key], order[key])
        )
        return [self.spelling[key] for key in ranked[:limit]]


def _trigger_words(metadata: Mapping[str, str]) -> tuple[list[str], str]:
    phrase = _meta(metadata, "modelspec.trigger_phrase")
    if phrase:
        tally = _TagTally()
        for part in phrase.split(","):
            tally.add(part)
        words = tally.top()
        if words:
            return words, "metadata:modelspec.trigger_phrase"
    tally = _TagTally()
    tally.add_frequency(_json(_meta(metadata, "ss_tag_frequency")))
    if tally.counts:
        return tally.top(), "metadata:ss_tag_frequency"
    datasets = _json(_meta(metadata, "ss_datasets"))
    if isinstance(datasets, list):
        tally = _TagTally()
        for dataset in datasets:
            if not isinstance(dataset, dict):
                continue
            subsets = dataset.get("subsets")
            for subset in subsets if isinstance(subsets, list) else []:
                if isinstance(subset, dict):
                    tally.add(subset.get("class_tokens"), 0, boost=True)
            tally.add_frequency(dataset.get("tag_frequency"))
        if tally.counts:
            return tally.top(), "metadata:ss_datasets"
    return [], "none"


# ------------------------------------------------------------------------------------------ descriptive fields

_DESCRIPTIVE: list[tuple[str, str, Callable[[str], str]]] = [
    ("sshs_model_hash", "sshs_model_hash", str.lower),
    ("title", "modelspec.title", str),
    ("author", "modelspec.author", str),
    ("description", "modelspec.description", str),
    ("resolution", "modelspec.resolution", str),
    ("training_comment", "ss_training_comment", str),
]


def _descriptive_fields(identity: ModelIdentity, metadata: Mapping[str, str]) -> None:
    for attribute, key, convert in _DESCRIPTIVE:
        value = _meta(metadata, key)
        if value is not None:
            setattr(identity, attribute, convert(value))
            identity.field_sources[attribute] = f"metadata:{key}"


# ------------------------------------------------------------------------------------------ not safetensors


def _identify_from_name(identity: ModelIdentity, file_name: str, model_type: str) -> None:
    suffix = PurePath(file_name).suffix.lower() or "no extension"
    named = _base_from_name(file_name)
    if named:
        identity.base_model, identity.base_model_source = named
    else:
        identity.base_model_source = f"unknown ({suffix} file: name only)"
    defaults = {"lora": "LoRA", "checkpoint": "Full", "embedding": "Embedding"}
    if model_type in defaults:
        identity.network_type = defaults[model_type]
        identity.network_type_source = f"model_type:{model_type} ({suffix} file not read)"
    identity.rank_source = identity.alpha_source = f"unknown ({suffix} file not read)"
    identity.trigger_words_source = f"none ({suffix} file not read)"
