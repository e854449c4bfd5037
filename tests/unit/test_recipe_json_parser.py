from __future__ import annotations

import json

from lora_manager.py.services.recipes.parsers.recipe_json import (
    RECIPE_MARKER,
    parse_recipe_json,
    recipe_from_dict,
    recipe_metadata_text,
    split_recipe_marker,
)

SHA = "0123456789abcdef" * 4

RECIPE = {
    "id": "ignored-by-embedding",
    "title": "Knight portrait",
    "base_model": "SDXL 1.0",
    "tags": ["knight", "portrait"],
    "loras": [
        {"file_name": "add_detail", "hash": SHA.upper(), "strength": 0.7, "modelVersionId": 1001,
         "modelName": "Add Detail", "modelVersionName": "v2", "isDeleted": False, "exclude": False},
        {"file_name": "", "hash": "", "strength": "0.5", "modelVersionId": 0, "modelName": "Name Only",
         "modelVersionName": ""},
        {"file_name": "excluded", "strength": 1, "exclude": True},
    ],
    "gen_params": {"prompt": "a knight", "steps": 30, "cfg_scale": 7, "seed": 1, "size": "832x1216",
                   "unknown": "dropped by the parser"},
    "checkpoint": {"type": "checkpoint", "modelId": 5, "id": 290640, "name": "Juggernaut", "version": "XI",
                   "hash": "ABCDEF" * 10 + "ABCD", "file_name": "juggernautXL_v11", "baseModel": "SDXL 1.0"},
}


def test_metadata_text_has_the_reference_shape():
    text = recipe_metadata_text(RECIPE)
    assert text.startswith(RECIPE_MARKER)
    data = json.loads(text[len(RECIPE_MARKER):])
    assert list(data) == ["title", "base_model", "loras", "gen_params", "tags", "checkpoint"]
    assert data["loras"][0] == {"file_name": "add_detail", "hash": SHA, "strength": 0.7, "modelVersionId": 1001,
                                "modelName": "Add Detail", "modelVersionName": "v2"}
    assert data["loras"][1]["strength"] == 0.5
    assert len(data["loras"]) == 2  # the excluded LoRA is not embedded
    assert data["checkpoint"] == {"type": "checkpoint", "modelId": 5, "modelVersionId": 290640,
                                  "modelName": "Juggernaut", "modelVersionName": "XI", "hash": ("abcdef" * 10 + "abcd"),
                                  "file_name": "juggernautXL_v11", "baseModel": "SDXL 1.0"}
    assert "\n" not in text


def test_round_trip_through_text_fields():
    text = recipe_metadata_text(RECIPE)
    result = parse_recipe_json({"parameters": "a knight\nSteps: 30 \n " + text})
    assert result.source_format == "lora-manager-recipe"
    assert [(l.name, l.file_name, l.strength_model) for l in result.loras] == [
        ("add_detail", "add_detail", 0.7), ("Name Only", None, 0.5),
    ]
    first = result.loras[0]
    assert first.hashes == {"sha256": SHA}
    assert (first.model_version_id, first.model_name, first.version_name) == (1001, "Add Detail", "v2")
    assert result.loras[1].model_version_id is None
    assert result.gen_params == {"prompt": "a knight", "steps": 30, "cfg_scale": 7.0, "seed": 1, "size": "832x1216",
                                 "width": 832, "height": 1216}
    assert result.checkpoint.name == "juggernautXL_v11"
    assert result.checkpoint.model_version_id == 290640
    assert result.base_model == "SDXL 1.0"
    assert result.raw == {"title": "Knight portrait", "tags": ["knight", "portrait"]}


def test_excluded_loras_in_embedded_json_are_skipped():
    payload = json.dumps({"loras": [{"file_name": "a", "exclude": True}, {"file_name": "b"}]})
    assert [l.name for l in parse_recipe_json({"recipe": payload}).loras] == ["b"]


def test_recipe_key_and_exif_comment():
    payload = json.dumps({"loras": [{"file_name": "x", "strength": 1}], "checkpoint": {"baseModel": "Flux.1 D",
                                                                                        "file_name": "flux"}})
    result = parse_recipe_json({"recipe": payload})
    assert [l.name for l in result.loras] == ["x"]
    assert result.base_model == "Flux.1 D"
    assert parse_recipe_json({"exif_user_comment": RECIPE_MARKER + payload}).loras[0].name == "x"
    assert parse_recipe_json({"recipe": RECIPE_MARKER + payload}).loras[0].name == "x"


def test_minimal_and_missing_fields():
    text = recipe_metadata_text({"loras": [{"strength": None}, "junk"]})
    result = parse_recipe_json({"parameters": text})
    assert result.loras == [] and result.checkpoint is None and result.base_model is None
    assert recipe_metadata_text({}).endswith('"tags": []}')


def test_split_marker():
    rest, data = split_recipe_marker('prompt, Recipe metadata: {"a": 1} trailing')
    assert (rest, data) == ("prompt trailing", {"a": 1})
    assert split_recipe_marker("no marker") == ("no marker", None)
    assert split_recipe_marker("Recipe metadata: {broken") == ("Recipe metadata: {broken", None)
    assert split_recipe_marker("Recipe metadata: [1]") == ("Recipe metadata: [1]", None)
    assert split_recipe_marker(None) == ("", None)  # type: ignore[arg-type]


def test_not_a_recipe():
    assert parse_recipe_json({"parameters": "Recipe metadata: {\"title\": \"only\"}"}) is None
    assert parse_recipe_json({"recipe": "[]", "parameters": "nothing"}) is None
    assert parse_recipe_json("x") is None  # type: ignore[arg-type]
    assert recipe_from_dict({"checkpoint": "x", "loras": "y", "gen_params": []}).loras == []
