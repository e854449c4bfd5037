"""Hugging Face addresses: any text is either a file inside one repository (no way up or out), or a
repository link in its canonical form, or a clear refusal; a file's own addresses parse back to it; the token goes to the HF origin only; only a 64-hex tag is
taken as a sha256."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from lora_manager.py.services.downloads.huggingface import HfFile, HfUrlError, auth_headers, hf_file, parse_hf_url, \
    model_files_of_tree, parse_repo_url, stated_sha256
from lora_manager.py.services.remote.errors import ErrorKind, RemoteError

BASE = "https://huggingface.co"
_piece = st.lists(st.sampled_from(list("aZ09._-/\\%2eE@?#:\x00") + ["..", "%2F", "%2e%2e", "%5C", "%00"]),
                  max_size=8).map("".join)
_name = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,10}", fullmatch=True)
_segment = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_. -]{0,10}", fullmatch=True).filter(
    lambda s: s not in (".", "..") and ".." not in s)


def _assert_confined(file: HfFile) -> None:
    owner, name = file.repo.split("/")
    assert owner and name and ".." not in file.repo
    for segment in file.path.split("/"):
        assert segment not in ("", ".", "..")
        assert not any(c in segment for c in "\\\x00")
    assert not file.path.startswith("/")


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(_piece, min_size=1, max_size=8), scheme=st.sampled_from(["hf://", f"{BASE}/"]),
       middle=st.sampled_from(["", "x/y/resolve/main/", "x/y/blob/v1/"]))
def test_any_text_is_a_confined_file_or_a_refusal(parts, scheme, middle):
    text = scheme + middle + "/".join(parts)
    try:
        file = parse_hf_url(text, BASE)
    except HfUrlError as exc:
        assert str(exc)
        return
    _assert_confined(file)


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(st.text(max_size=80), st.builds(
    "https://huggingface.co:{}/a/b/resolve/main/{}".format, st.text(max_size=8), st.text(max_size=12))))
def test_arbitrary_text_never_crashes(text):
    try:
        _assert_confined(parse_hf_url(text, BASE))
    except HfUrlError:
        pass


@settings(max_examples=200, deadline=None)
@given(owner=_name, name=_name, revision=_name, segments=st.lists(_segment, min_size=1, max_size=4))
def test_a_files_addresses_parse_back_to_it(owner, name, revision, segments):
    file = hf_file(f"{owner}/{name}", "/".join(segments), revision)
    assert parse_hf_url(file.resolve_url(BASE), BASE) == file
    assert parse_hf_url(f"hf://{file.repo}@{file.revision}/{file.path}", BASE) == file
    _assert_confined(file)


@settings(max_examples=200, deadline=None)
@given(url=st.sampled_from(["https://huggingface.co/a", "http://huggingface.co/a", "https://huggingface.co:8443/a",
                            "https://cdn-lfs.huggingface.co/a", "https://huggingface.co.evil.example/a",
                            "https://evil.example/huggingface.co/a"]),
       token=st.text(min_size=1, max_size=20).filter(str.strip))
def test_the_token_goes_to_the_hf_origin_only(url, token):
    headers = auth_headers(url, token.strip(), BASE)
    assert bool(headers) == (url == "https://huggingface.co/a")


def test_only_a_64_hex_tag_is_a_sha256():
    sha = "ab" * 32
    assert stated_sha256({"X-Linked-Etag": f'"{sha}"', "ETag": '"0123"'}) == sha
    assert stated_sha256({"ETag": f'W/"{sha.upper()}"'}) == sha
    assert stated_sha256({"ETag": '"' + "a" * 40 + '"'}) is None  # a git blob's sha1
    assert stated_sha256({}) is None


@settings(max_examples=300, deadline=None)
@given(path=st.lists(_piece, min_size=0, max_size=4).map("/".join),
       prefix=st.sampled_from(["https://huggingface.co/", "http://huggingface.co/", "https://huggingface.co:1/",
                               "https://hf.co/", "https://user@huggingface.co/", ""]))
def test_a_repository_link_is_canonical_or_refused(path, prefix):
    try:
        link = parse_repo_url(prefix + path)
    except HfUrlError as exc:
        assert str(exc)
        return
    owner, name = link.removeprefix("https://huggingface.co/").split("/")
    assert hf_file(f"{owner}/{name}", "x.safetensors").repo == f"{owner}/{name}"  # names a valid repository


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                         st.sampled_from(["type", "path", "size", "lfs", "oid"]), inner, max_size=4), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(tree=st.one_of(_json, st.lists(st.fixed_dictionaries(
    {"type": st.sampled_from(["file", "directory"]), "path": st.text(max_size=20).map(lambda t: t + ".safetensors"),
     "size": st.integers(min_value=-5, max_value=10**12)}), max_size=6)))
def test_any_tree_answer_is_a_sorted_file_list_or_malformed(tree):
    try:
        files = model_files_of_tree(tree, frozenset({".safetensors"}))
    except RemoteError as exc:
        assert exc.kind is ErrorKind.MALFORMED and not isinstance(tree, list)
        return
    assert all(set(f) == {"filename", "size"} and f["size"] >= 0 and f["filename"].endswith(".safetensors")
               for f in files)
    assert [f["size"] for f in files] == sorted((f["size"] for f in files), reverse=True)
