"""A test stand-in for ComfyUI's prompt validation and execution, enough to run API-format workflows.

It does what ``execution.validate_inputs`` and ``get_input_data`` do with a node class: required inputs must be
present, a link's output type must fit the input type (``*`` fits anything, ``A,B`` means either), list widget
values arrive wrapped as ``{"__value__": [...]}`` and are unwrapped for declared inputs, INT/FLOAT/BOOLEAN/STRING
values are converted, a combo value must be one of the options unless the node's ``VALIDATE_INPUTS`` takes that
input, and ``VALIDATE_INPUTS`` answers True or an error. Inputs a node does not accept (``in`` its sections)
are dropped; hidden inputs get the node id, the prompt dict (one object for the whole run) and the workflow.
Every node runs, in link order (ComfyUI runs only what outputs need; running all checks every node). A few
core nodes (empty latent, sampler, VAE decode, text encode) are stand-ins that pass their inputs along.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SAMPLERS = ["euler", "euler_ancestral", "dpmpp_2m", "dpmpp_2m_sde"]
SCHEDULERS = ["normal", "karras", "exponential", "simple"]


class EmptyLatentImage:
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "generate"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"width": ("INT", {"default": 512}), "height": ("INT", {"default": 512}),
                             "batch_size": ("INT", {"default": 1})}}

    def generate(self, width: int, height: int, batch_size: int) -> tuple[Any]:
        return ({"samples": ("latent", width, height, batch_size)},)


class KSampler:
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "sample"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"model": ("MODEL",), "seed": ("INT", {"default": 0}), "steps": ("INT", {"default": 20}),
                             "cfg": ("FLOAT", {"default": 8.0}), "sampler_name": (SAMPLERS,), "scheduler": (SCHEDULERS,),
                             "positive": ("CONDITIONING",), "negative": ("CONDITIONING",),
                             "latent_image": ("LATENT",), "denoise": ("FLOAT", {"default": 1.0})}}

    def sample(self, **inputs: Any) -> tuple[Any]:
        return ({"samples": inputs["latent_image"]["samples"], "sampled_with": inputs},)


class VAEDecode:
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "decode"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"samples": ("LATENT",), "vae": ("VAE",)}}

    def decode(self, samples: Any, vae: Any) -> tuple[Any]:
        _, width, height, batch = samples["samples"]
        image = np.zeros((batch, max(1, height // 64), max(1, width // 64), 3), dtype="float32")
        image[..., 0] = 0.5
        return (image,)


class CLIPTextEncode:
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"text": ("STRING", {"multiline": True}), "clip": ("CLIP",)}}

    def encode(self, text: str, clip: Any) -> tuple[Any]:
        return (clip.encode_from_tokens_scheduled(clip.tokenize(text)),)


CORE_CLASSES: dict[str, type] = {"EmptyLatentImage": EmptyLatentImage, "KSampler": KSampler, "VAEDecode": VAEDecode,
                                 "CLIPTextEncode": CLIPTextEncode}


class ValidationError(AssertionError):
    """The prompt would be refused at queue time, as ComfyUI refuses it (every problem listed)."""


def is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def _types(kind: Any) -> set[str]:
    return {part.strip() for part in str(kind).split(",")}


def _fits(received: Any, wanted: Any) -> bool:
    if str(received) == "*" or str(wanted) == "*":
        return True
    return bool(_types(received) & _types(wanted))


def _input_info(classes: dict[str, Any], name: str) -> tuple[str | None, Any, dict[str, Any]]:
    """(section, type, options) as ComfyUI's ``get_input_info`` answers, or (None, None, {})."""
    for section in ("required", "optional", "hidden"):
        inputs = classes.get(section)
        if inputs is not None and name in inputs:
            spec = inputs[name]
            if section == "hidden":
                return section, spec, {}
            kind = spec[0]
            return section, kind, spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    return None, None, {}


@dataclass
class Run:
    outputs: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    ui: dict[str, dict[str, Any]] = field(default_factory=dict)


class Executor:
    """Validates and runs one API-format prompt with the given node classes."""

    def __init__(self, classes: dict[str, type]) -> None:
        self.classes = {**CORE_CLASSES, **classes}
        self.instances: dict[str, Any] = {}  # ComfyUI keeps node objects between runs of the same prompt

    def _order(self, prompt: dict[str, Any]) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(node_id: str) -> None:
            if state.get(node_id) == 2:
                return
            if state.get(node_id) == 1:
                raise ValidationError(f"cycle at node {node_id}")
            state[node_id] = 1
            for value in prompt[node_id]["inputs"].values():
                if is_link(value):
                    visit(value[0])
            state[node_id] = 2
            order.append(node_id)

        for node_id in sorted(prompt, key=lambda k: int(k) if k.isdigit() else k):
            visit(node_id)
        return order

    def validate(self, prompt: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Check every node; returns the converted widget values per node (ComfyUI validates in place)."""
        errors: list[str] = []
        converted: dict[str, dict[str, Any]] = {}
        for node_id, node in prompt.items():
            cls = self.classes.get(node["class_type"])
            if cls is None:
                errors.append(f"{node_id}: unknown node type {node['class_type']!r}")
                continue
            spec = cls.INPUT_TYPES()
            inputs = dict(node["inputs"])
            validate_args: list[str] = []
            if hasattr(cls, "VALIDATE_INPUTS"):
                validate_args = inspect.getfullargspec(cls.VALIDATE_INPUTS).args
            declared = [*(spec.get("required") or {}), *(spec.get("optional") or {})]
            for name in declared:
                section, kind, options = _input_info(spec, name)
                if name not in inputs:
                    if section == "required":
                        errors.append(f"{node_id} {node['class_type']}: required input {name!r} missing")
                    continue
                value = inputs[name]
                if is_link(value):
                    source = prompt.get(value[0])
                    if source is None:
                        errors.append(f"{node_id}: {name} links to missing node {value[0]}")
                        continue
                    source_cls = self.classes.get(source["class_type"])
                    returns = getattr(source_cls, "RETURN_TYPES", ())
                    if value[1] >= len(returns) or not _fits(returns[value[1]], kind):
                        got = returns[value[1]] if value[1] < len(returns) else "nothing"
                        errors.append(f"{node_id} {node['class_type']}: {name} expects {kind}, gets {got}")
                    continue
                if isinstance(value, dict) and "__value__" in value:
                    value = value["__value__"]
                try:
                    if kind == "INT":
                        value = int(value)
                    elif kind == "FLOAT":
                        value = float(value)
                    elif kind == "STRING":
                        value = str(value)
                    elif kind == "BOOLEAN":
                        value = bool(value)
                except (TypeError, ValueError) as exc:
                    errors.append(f"{node_id}: {name} = {value!r} is not {kind}: {exc}")
                    continue
                if isinstance(value, list) and not isinstance(kind, list) and kind not in ("LORAS",):
                    errors.append(f"{node_id}: {name} is a bare list (would be read as a link)")
                if isinstance(kind, list) and name not in validate_args and value not in kind:
                    errors.append(f"{node_id} {node['class_type']}: {name} {value!r} not in {kind}")
                inputs[name] = value
            if validate_args:
                given = {k: v for k, v in inputs.items() if k in validate_args and not is_link(v)}
                verdict = cls.VALIDATE_INPUTS(**given)
                if verdict is not True:
                    errors.append(f"{node_id} {node['class_type']}: {verdict}")
            converted[node_id] = inputs
        if errors:
            raise ValidationError("; ".join(errors))
        return converted

    def run(self, prompt: dict[str, Any], extra_pnginfo: dict[str, Any] | None = None) -> Run:
        values = self.validate(prompt)
        result = Run()
        for node_id in self._order(prompt):
            node = prompt[node_id]
            cls = self.classes[node["class_type"]]
            spec = cls.INPUT_TYPES()
            kwargs: dict[str, Any] = {}
            for name, value in values[node_id].items():
                section, _kind, _options = _input_info(spec, name)
                if is_link(value):
                    kwargs[name] = result.outputs[value[0]][value[1]]
                elif section is not None:
                    kwargs[name] = value
            for name, kind in (spec.get("hidden") or {}).items():
                kwargs[name] = {"UNIQUE_ID": node_id, "PROMPT": prompt,
                                "EXTRA_PNGINFO": extra_pnginfo or {}}.get(kind)
            instance = self.instances.setdefault(node_id, cls())
            out = getattr(instance, cls.FUNCTION)(**kwargs)
            if isinstance(out, dict):
                result.ui[node_id] = out.get("ui", {})
                out = out.get("result", ())
            result.outputs[node_id] = tuple(out)
        return result
