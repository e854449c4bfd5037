"""Random workflows with random mute/bypass/switch states agree with a small reference evaluator.

The workflow is a chain of stages between a checkpoint and a KSampler: a LoRA loader (active, muted or bypassed,
strength 0 or not) or a ComfySwitchNode choosing between a LoRA branch and the model as it came in, its selector a
literal, a linked PrimitiveBoolean, or a value that cannot be told. Side loaders may feed the text encoder their
CLIP output. The reference evaluates that description directly: the LoRAs whose output reached the sampler.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lora_manager.py.services.recipes.parsers import parse_metadata_text
from support.comfy_workflows import BYPASSED, MUTED, UIGraph, base_ui


@dataclass
class Loader:
    name: str
    mode: int
    strength: float


@dataclass
class Switch:
    selector: str  # "literal" | "primitive" | "unknown"
    value: bool
    branch: Loader


loaders = st.builds(Loader, name=st.just(""), mode=st.sampled_from([0, 0, MUTED, BYPASSED]),
                    strength=st.sampled_from([0.0, 0.5, 1.0]))
stages = st.lists(st.one_of(loaders, st.builds(Switch, selector=st.sampled_from(["literal", "primitive", "unknown"]),
                                               value=st.booleans(), branch=loaders)), max_size=6)
sides = st.lists(st.tuples(loaders, st.booleans()), max_size=3)


State = "tuple[frozenset[str], frozenset[str]] | None"  # (sure, doubtful) LoRAs of a model, None: cut off


def reference(chain: list, side: list) -> tuple[set[str], set[str]]:
    """(LoRAs that ran for sure, LoRAs kept behind an undecidable switch), evaluated forward from the checkpoint:
    a muted node drops its links (cut), a bypassed one passes its input on, a switch picks its selected side or,
    with one side connected, that side; an undecidable one keeps both, sure only what both sides have."""
    empty: frozenset[str] = frozenset()

    def apply(loader: Loader, state):
        if loader.mode == MUTED:
            return None
        if loader.mode == BYPASSED:
            return state
        sure, doubt = state if state is not None else (empty, empty)
        return (sure | {loader.name}, doubt) if loader.strength != 0 else (sure, doubt)

    state = (empty, empty)
    for stage in chain:
        if isinstance(stage, Loader):
            state = apply(stage, state)
            continue
        # a switch whose input is already cut off by a muted node is a workflow ComfyUI refuses to run:
        # what it "used" is undefined, so such graphs are not generated
        assume(state is not None)
        on_false, on_true = state, apply(stage.branch, state)
        if on_false is None or on_true is None:
            state = on_true if on_false is None else on_false
        elif stage.selector != "unknown":
            state = on_true if stage.value else on_false
        else:
            sure = on_false[0] & on_true[0]
            state = (sure, (on_false[0] | on_false[1] | on_true[0] | on_true[1]) - sure)
    sure, doubt = set(state[0]) if state else set(), set(state[1]) if state else set()
    connected = [loader for loader, linked in side if linked]
    for loader in reversed(connected):
        if loader.mode == MUTED:
            break
        if loader.mode == 0 and loader.strength != 0:
            sure.add(loader.name)
    return sure, doubt - sure


def build(chain: list, side: list) -> dict:
    graph = UIGraph()
    node_id = 100
    previous = (4, 0)

    def loader(stage: Loader, source: tuple[int, int]) -> int:
        nonlocal node_id
        node_id += 1
        stage.name = f"lora_{node_id}.safetensors"
        graph.add(node_id, "LoraLoaderModelOnly", [stage.name, stage.strength], inputs=[("model", "MODEL")],
                  outputs=("MODEL",), mode=stage.mode)
        graph.connect(*source, node_id, "model")
        return node_id

    for stage in chain:
        if isinstance(stage, Loader):
            previous = (loader(stage, previous), 0)
            continue
        branch = loader(stage.branch, previous)
        node_id += 1
        switch = node_id
        graph.add(switch, "ComfySwitchNode", [stage.value if stage.selector == "literal" else not stage.value],
                  inputs=[("on_false", "MODEL"), ("on_true", "MODEL")], widget_inputs=[("switch", "BOOLEAN")],
                  outputs=("MODEL",))
        graph.connect(*previous, switch, "on_false").connect(branch, 0, switch, "on_true")
        if stage.selector != "literal":
            node_id += 1
            kind = "PrimitiveBoolean" if stage.selector == "primitive" else "UnknownBooleanSource"
            graph.add(node_id, kind, [stage.value], widget_inputs=[("value", "BOOLEAN")], outputs=("BOOLEAN",))
            graph.connect(node_id, 0, switch, "switch")
            if stage.selector == "unknown":
                graph.nodes[node_id]["inputs"] = [{"name": "image", "type": "IMAGE", "link": None}]
                graph.connect(5, 0, node_id, "image")
        previous = (switch, 0)
    base_ui(graph, model_src=previous)
    clip = (4, 1)
    for stage, connected in side:
        node_id += 1
        stage.name = f"side_{node_id}.safetensors"
        graph.add(node_id, "LoraLoader", [stage.name, 1.0, stage.strength], inputs=[("model", "MODEL"),
                                                                                      ("clip", "CLIP")],
                  outputs=("MODEL", "CLIP"), mode=stage.mode)
        graph.connect(4, 0, node_id, "model").connect(*clip, node_id, "clip")
        if connected:
            clip = (node_id, 1)
    graph.edges = [edge for edge in graph.edges if edge[2] != 6 or edge[3] != "clip"]
    graph.connect(*clip, 6, "clip")
    return graph.data()


@settings(max_examples=150, deadline=None)
@given(chain=stages, side=sides)
def test_random_graphs_agree_with_the_reference(chain, side):
    workflow = build(chain, side)
    sure, doubtful = reference(chain, side)
    try:
        result = parse_metadata_text({"workflow": json.dumps(workflow)})
        found = {lora.name: lora.confidence for lora in result.loras}
    except Exception as exc:  # NoGenerationMetadata: nothing at all reached the sampler
        assert not sure and not doubtful, exc
        return
    assert set(found) == sure | doubtful
    assert {name for name, confidence in found.items() if confidence == "ambiguous"} == doubtful
    assert all(found[name] == "exact" for name in sure)
