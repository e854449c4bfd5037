"""Properties of the pre-transfer rules and of CivArchive normalisation on arbitrary input."""
from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given, settings, strategies as st

from lora_manager.py.services.downloads import rules
from lora_manager.py.services.metadata import civarchive_client as ca

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)
keys = st.sampled_from(["id", "modelId", "name", "version", "files", "mirrors", "url", "images", "data",
                        "sha256", "trigger", "versions", "type", "image_url", "deletedAt", "is_primary",
                        "downloadUrl", "tags", "creator_username", "hashes", "trainedWords", "metadata"])
archive_like = st.recursive(
    st.none() | st.integers(min_value=-5, max_value=10**6) | st.text(max_size=30)
    | st.sampled_from(["https://hf.test/x", "http://127.0.0.1:1/y", "/relative", "video", "Model", "12", "²", "٣"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=40,
)


@settings(max_examples=150, deadline=None)
@given(st.one_of(json_values, archive_like))
def test_normalize_never_raises_and_only_keeps_absolute_urls(payload):
    found = ca.normalize(payload)
    if found is None:
        return
    version, model = found
    assert isinstance(version["id"], int) and version["source"] == "civarchive"
    assert model["id"] == version["modelId"]
    for file in version["files"]:
        assert all(u.startswith(("http://", "https://")) for u in file["mirrors"])
        assert file["downloadUrl"] is None or file["downloadUrl"] == file["mirrors"][0]
    assert sum(1 for f in version["files"] if f["primary"]) >= (1 if version["files"] else 0)
    assert all(i["url"].startswith(("http://", "https://")) for i in version["images"])


@settings(max_examples=150, deadline=None)
@given(base=st.text(max_size=15), excluded=st.lists(st.one_of(st.text(max_size=15), st.none(), st.integers()),
                                                     max_size=5),
       remembered=st.booleans(), setting=st.booleans(), name=st.text(max_size=20))
def test_skip_rules(base, excluded, remembered, setting, name):
    version = {"id": 11, "baseModel": base, "name": "v"}
    decision = rules.decide_skip(version, {"name": name}, skip_previously_downloaded=setting,
                                 previously_downloaded=remembered, excluded_base_models=excluded)
    wanted = {e.strip().casefold() for e in excluded if isinstance(e, str) and e.strip()}
    if setting and remembered:
        assert decision.reason == rules.PREVIOUSLY_DOWNLOADED
    elif base.strip() and base.strip().casefold() in wanted:
        assert decision.reason == rules.BASE_MODEL_EXCLUDED and decision.body()["base_model"] == base.strip()
    else:
        assert decision is None
    if decision is not None:
        body = decision.body()
        assert body["success"] is True and body["status"] == "skipped" and body["model_version_id"] == 11
        assert (name or "v") in body["message"]


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["availability", "earlyAccessEndsAt", "name"]), json_values, max_size=3),
       st.datetimes(timezones=st.just(timezone.utc)))
def test_early_access_until_never_raises(version, now):
    until = rules.early_access_until(version, now)
    assert until is None or isinstance(until, str) and until
    if str(version.get("availability") or "").strip().lower() == "earlyaccess":
        assert until is not None


@settings(max_examples=100, deadline=None)
@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)))
def test_a_future_end_date_is_early_access_and_a_past_one_is_not(moment):
    now = datetime(2050, 1, 1, tzinfo=timezone.utc)
    stamp = moment.isoformat().replace("+00:00", "Z")
    until = rules.early_access_until({"earlyAccessEndsAt": stamp}, now)
    assert (until is not None) == (moment > now)
    if until is not None:
        assert until == moment.strftime("%Y-%m-%d %H:%M UTC")
