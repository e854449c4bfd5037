"""Hypothesis: sort orders hold, filters are exact, and paging never repeats or skips an item.

The column-based query engine is checked against a plain reading of the filter rules over the records
(``expected_matches``), for random libraries, random queries and random edits.
"""
from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings, strategies as st

from lora_manager.py.library.index import ModelProjection
from lora_manager.py.library.query import ListQuery, parse_sort, run_query
from lora_manager.py.library.records import ModelRecord, natural_key

names = st.text(alphabet="abcXYZ019 _-漢", min_size=1, max_size=8)
records = st.lists(
    st.builds(
        lambda i, name, size, mtime, base, tags, fav, folder, extra: ModelRecord(
            file_path=f"/lib/{folder}/{i}_{name}.safetensors", model_type="lora", root="/lib", folder=folder,
            file_name=f"{name}", extension=".safetensors", size=size, mtime_ns=mtime, base_model=base,
            tags=tags, favorite=fav, **extra),
        st.integers(0, 10**6), names, st.integers(0, 1000), st.integers(0, 1000),
        st.sampled_from(["SD 1.5", "SDXL 1.0", "Flux.1 D"]), st.lists(st.sampled_from(["a", "b", "c"]), max_size=2),
        st.booleans(), st.sampled_from(["", "x", "x/y", "z", "X/Y2"]),
        st.fixed_dictionaries({}, optional={
            "exclude": st.booleans(), "model_name": names, "creator": st.sampled_from(["", "Ann", "bob"]),
            "sub_type": st.sampled_from(["", "locon", "dora"]), "civitai_model_id": st.sampled_from([None, 1, 2]),
            "update_available": st.booleans(), "usage_count": st.integers(0, 3)})),
    max_size=40, unique_by=lambda r: r.file_path,
)
queries = st.builds(
    ListQuery, page_size=st.integers(1, 7), sort_by=st.sampled_from(["name", "date", "size", "random", "usage"]),
    descending=st.booleans(), random_seed=st.text(max_size=3),
    folder=st.sampled_from([None, "", "x", "x/y"]), recursive=st.booleans(),
    base_models=st.sampled_from([(), ("SD 1.5",), ("SDXL 1.0", "Flux.1 D")]),
    tag_include=st.sampled_from([(), ("a",), ("a", "b"), ("__no_tags__",)]),
    tag_logic=st.sampled_from(["any", "all"]), favorites_only=st.booleans(), search=st.sampled_from(["", "a", "x"]),
)
wide_queries = st.builds(
    ListQuery, page_size=st.just(500), sort_by=st.sampled_from(["name", "date", "size", "usage"]),
    descending=st.booleans(), folder=st.sampled_from([None, "", "x", "x/y", "/X/"]), recursive=st.booleans(),
    folder_include=st.sampled_from([(), ("x",), ("z", "x/y")]), folder_exclude=st.sampled_from([(), ("x/y",)]),
    search=st.sampled_from(["", "a", "x", "ann", "b", "_"]), search_filename=st.booleans(),
    search_modelname=st.booleans(), search_tags=st.booleans(), search_creator=st.booleans(),
    base_models=st.sampled_from([(), ("SD 1.5",), ("SDXL 1.0", "Flux.1 D"), ("nope",)]),
    sub_types=st.sampled_from([(), ("LoCon",), ("lora", "dora")]),
    tag_include=st.sampled_from([(), ("a",), ("A", "b"), ("__no_tags__",), ("__no_tags__", "c")]),
    tag_exclude=st.sampled_from([(), ("b",), ("__no_tags__",)]), tag_logic=st.sampled_from(["any", "all"]),
    favorites_only=st.booleans(), update_available_only=st.booleans(), first_letter=st.sampled_from(["", "A", "#"]),
    include_excluded=st.booleans(), civitai_model_id=st.sampled_from([None, 1]),
)


def _in(folder_key: str, prefix: str) -> bool:
    return not prefix or folder_key == prefix or folder_key.startswith(prefix + "/")


def expected_matches(recs: list[ModelRecord], q: ListQuery) -> list[ModelRecord]:
    """The filter rules read literally, one record at a time, then the sort."""
    def keep(r: ModelRecord) -> bool:
        folder_key = r.folder.casefold()
        tags = {t.casefold() for t in r.tags}
        if r.exclude and not q.include_excluded:
            return False
        if q.favorites_only and not r.favorite or q.update_available_only and not r.update_available:
            return False
        if q.civitai_model_id is not None and r.civitai_model_id != q.civitai_model_id:
            return False
        if q.base_models and r.base_model not in q.base_models:
            return False
        if q.sub_types and (r.sub_type or r.model_type) not in {s.lower() for s in q.sub_types}:
            return False
        if q.first_letter and r.letter != q.first_letter:
            return False
        if q.folder is not None:
            wanted = q.folder.strip("/").casefold()
            if q.recursive and not _in(folder_key, wanted) or not q.recursive and folder_key != wanted:
                return False
        if q.folder_include and not any(_in(folder_key, f.strip("/").casefold()) for f in q.folder_include):
            return False
        if any(_in(folder_key, f.strip("/").casefold()) for f in q.folder_exclude):
            return False
        if q.tag_include:
            wanted_tags = {t.casefold() for t in q.tag_include}
            untagged = "__no_tags__" in wanted_tags
            real = wanted_tags - {"__no_tags__"}
            if q.tag_logic == "all":
                if untagged and tags or not real <= tags:
                    return False
            elif not (real & tags or untagged and not tags):
                return False
        unwanted = {t.casefold() for t in q.tag_exclude}
        if unwanted & tags or "__no_tags__" in unwanted and not tags:
            return False
        needle = q.search.strip().casefold()
        if needle:
            texts = [text for text, on in ((r.file_name, q.search_filename), (r.model_name or r.file_name,
                     q.search_modelname), (" ".join(sorted(tags)), q.search_tags), (r.creator, q.search_creator)) if on]
            if not any(needle in text.casefold() for text in texts):
                return False
        return True

    matches = [r for r in recs if keep(r)]
    if q.sort_by == "usage":
        matches.sort(key=lambda r: (r.usage_count, natural_key(r.model_name or r.file_name), r.file_path))
    else:
        key = {"name": lambda r: (natural_key(r.model_name or r.file_name), r.file_path),
               "date": lambda r: (r.mtime_ns, r.file_path), "size": lambda r: (r.size, r.file_path)}[q.sort_by]
        matches.sort(key=key)
    return matches[::-1] if q.descending else matches


def all_pages(projection: ModelProjection, query: ListQuery) -> tuple[list[ModelRecord], int]:
    seen: list[ModelRecord] = []
    first = run_query(projection, query)
    for page in range(1, first.total_pages + 1):
        result = run_query(projection, ListQuery(**{**query.__dict__, "page": page}))
        assert result.total == first.total
        seen.extend(result.items)
    return seen, first.total


@settings(max_examples=150, deadline=None)
@given(records, queries)
def test_paging_never_repeats_or_skips(recs, query):
    projection = ModelProjection(recs)
    seen, total = all_pages(projection, query)
    paths = [r.file_path for r in seen]
    assert len(paths) == len(set(paths)) == total
    everything = run_query(projection, ListQuery(**{**query.__dict__, "page": 1, "page_size": 500}))
    assert paths == [r.file_path for r in everything.items]


@settings(max_examples=150, deadline=None)
@given(records, st.sampled_from(["name", "date", "size"]), st.booleans())
def test_sort_orders_hold(recs, field, descending):
    projection = ModelProjection(recs)
    result = run_query(projection, ListQuery(page_size=500, sort_by=field, descending=descending, include_excluded=True))
    key = {"name": lambda r: r.name_key, "date": lambda r: r.mtime_ns, "size": lambda r: r.size}[field]
    keys = [key(r) for r in result.items]
    assert keys == sorted(keys, reverse=descending)
    assert result.total == len(recs)


@settings(max_examples=150, deadline=None)
@given(records, queries)
def test_filters_are_exact(recs, query):
    projection = ModelProjection(recs)
    result = run_query(projection, ListQuery(**{**query.__dict__, "page_size": 500}))
    for record in result.items:
        if query.favorites_only:
            assert record.favorite
        if query.base_models:
            assert record.base_model in query.base_models
        if query.folder and not query.recursive:
            assert record.folder == query.folder
    expected = [r for r in recs if (not query.favorites_only or r.favorite)
                and (not query.base_models or r.base_model in query.base_models)]
    assert result.total <= len(expected)


@settings(max_examples=100, deadline=None)
@given(records, records)
def test_projection_updates_per_row_equal_a_rebuild(first, second):
    projection = ModelProjection(first)
    for record in second:
        projection.put(record)
    for record in first[::2]:
        projection.remove(record.file_path)
    rebuilt = ModelProjection(projection.values())
    for key in ("name", "date", "size"):
        assert [r.file_path for r in projection.ordered(key)] == [r.file_path for r in rebuilt.ordered(key)]


@given(st.text(max_size=20))
def test_parse_sort_never_crashes(text):
    field, _desc, _seed = parse_sort(text)
    assert field in ("name", "date", "size", "usage", "random")


@given(st.text(max_size=30))
def test_natural_key_is_total(text):
    assert natural_key(text) == natural_key(text)
    sorted([natural_key(text), natural_key("a1"), natural_key("1a")])


@settings(max_examples=100, deadline=None)
@given(records, queries, records)
def test_cached_pages_equal_fresh_results_and_follow_changes(recs, query, more):
    from lora_manager.py.library.query import QueryCache

    projection = ModelProjection(recs)
    cache = QueryCache(size=2)
    for _ in range(2):  # the second round is served from the cache
        cached = run_query(projection, query, cache=cache)
        fresh = run_query(projection, query)
        assert [r.file_path for r in cached.items] == [r.file_path for r in fresh.items]
        assert cached.total == fresh.total
    for record in more:
        projection.put(record)
    after = run_query(projection, query, cache=cache)
    assert after.total == run_query(projection, query).total


@settings(max_examples=300, deadline=None)
@given(records, wide_queries)
def test_every_filter_matches_the_rules_read_literally(recs, query):
    result = run_query(ModelProjection(recs), query)
    assert [r.file_path for r in result.items] == [r.file_path for r in expected_matches(recs, query)]


@settings(max_examples=150, deadline=None)
@given(records, records, wide_queries, st.data())
def test_filters_follow_edits_and_removals(first, second, query, data):
    projection = ModelProjection(first)
    run_query(projection, query)  # builds the order arrays of the first version
    for record in second:
        projection.put(record)
    for record in first[::2]:
        projection.remove(record.file_path)
    for record in list(projection.values())[::3]:
        projection.put(record.evolve(tags=data.draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=2)),
                                     favorite=not record.favorite, exclude=False))
    expected = expected_matches(list(projection.values()), query)
    assert [r.file_path for r in run_query(projection, query).items] == [r.file_path for r in expected]


@settings(max_examples=100, deadline=None)
@given(records, st.text(max_size=4), st.text(max_size=4))
def test_random_order_is_a_stable_permutation_per_seed(recs, seed, other):
    projection = ModelProjection(recs)
    query = ListQuery(page_size=500, sort_by="random", random_seed=seed, include_excluded=True)
    first = [r.file_path for r in run_query(projection, query).items]
    assert first == [r.file_path for r in run_query(projection, query).items]
    assert sorted(first) == sorted(r.file_path for r in recs)
    shuffled = [r.file_path for r in run_query(projection, replace(query, random_seed=other)).items]
    assert sorted(shuffled) == sorted(first)


def test_fuzzy_search_applies_after_the_other_filters():
    recs = [ModelRecord(file_path=f"/lib/{i}.safetensors", model_type="lora", root="/lib", folder="",
                        file_name=name, extension=".safetensors", size=1, mtime_ns=i, favorite=i < 2)
            for i, name in enumerate(["portrait_style", "portrit_detail", "landscape", "portrait_film"])]
    projection = ModelProjection(recs)
    everything = run_query(projection, ListQuery(page_size=50, search="portrait", fuzzy=True))
    assert [r.file_name for r in everything.items] == ["portrait_film", "portrait_style", "portrit_detail"]
    favourites = run_query(projection, ListQuery(page_size=50, search="portrait", fuzzy=True, favorites_only=True))
    assert [r.file_name for r in favourites.items] == ["portrait_style", "portrit_detail"]


fuzzy_names = st.text(alphabet="portaicyl_ -\u00a0\u2003\t", min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(names=st.lists(fuzzy_names, min_size=1, max_size=30), needle=st.lists(
    st.text(alphabet="portaicyl", min_size=1, max_size=9), min_size=1, max_size=2).map(" ".join))
def test_fuzzy_search_through_the_vocabulary_agrees_with_record_by_record(names, needle):
    """The fast fuzzy path (close words from the library's vocabulary, candidates by text search) finds
    exactly what comparing the query with every record's own words finds."""
    from lora_manager.py.library.query import fuzzy_predicate

    recs = [ModelRecord(file_path=f"/lib/{i}.safetensors", model_type="lora", root="/lib", folder="",
                        file_name=name, extension=".safetensors", size=1, mtime_ns=i)
            for i, name in enumerate(names)]
    projection = ModelProjection(recs)
    query = ListQuery(page_size=500, search=needle, fuzzy=True)
    found = {r.file_path for r in run_query(projection, query).items}
    reference = fuzzy_predicate(query)  # no vocabulary: the record-by-record comparison
    assert found == {r.file_path for r in recs if reference(r)}


long_words = st.text(alphabet="portaicyl", min_size=7, max_size=10)
long_names = st.lists(long_words, min_size=1, max_size=3).map("_".join)


@st.composite
def library_and_typo(draw):
    """Names of long words and a needle that is one of those words with a letter left out: close to a word of
    the library (ratio >= 85) without being in its text, so only the word table can find it."""
    names = draw(st.lists(long_names, min_size=1, max_size=20))
    words = [w for name in names for w in name.split("_")]
    word = draw(st.sampled_from(words))
    cut = draw(st.integers(1, len(word) - 2))
    return names, word[:cut] + word[cut + 1:]


@settings(max_examples=150, deadline=None)
@given(library=st.one_of(library_and_typo(), st.tuples(st.lists(fuzzy_names, min_size=1, max_size=20),
                                                         st.text(alphabet="portaicyl", min_size=1, max_size=9))),
       edits=st.lists(st.tuples(st.integers(0, 25), st.one_of(st.none(), long_names, fuzzy_names)), max_size=15))
def test_fuzzy_search_stays_exact_while_the_library_changes(library, edits):
    """The word table is built on the first fuzzy search and then kept up to date by every rename, new file and
    removal: later searches still find exactly what the record-by-record comparison finds."""
    from lora_manager.py.library.query import fuzzy_predicate

    def record(i: int, name: str) -> ModelRecord:
        return ModelRecord(file_path=f"/lib/{i}.safetensors", model_type="lora", root="/lib", folder="",
                           file_name=name, extension=".safetensors", size=1, mtime_ns=i)

    names, needle = library
    projection = ModelProjection([record(i, name) for i, name in enumerate(names)])
    query = ListQuery(page_size=500, search=needle, fuzzy=True)
    reference = fuzzy_predicate(query)
    found = {r.file_path for r in run_query(projection, query).items}  # builds the word table
    assert found == {r.file_path for r in projection.values() if reference(r)}
    for index, name in edits:
        if name is None:
            projection.remove(f"/lib/{index}.safetensors")
        else:
            projection.put(record(index, name))
        reference = fuzzy_predicate(query)
        found = {r.file_path for r in run_query(projection, query).items}
        assert found == {r.file_path for r in projection.values() if reference(r)}


@settings(max_examples=300, deadline=None)
@given(words=st.lists(st.text(alphabet="abcde", min_size=1, max_size=14), max_size=40),
       word=st.text(alphabet="abcde", min_size=1, max_size=14))
def test_length_buckets_skip_only_words_that_cannot_reach_the_cutoff(words, word):
    """Comparing only the length buckets within reach (and a set lookup where no edit fits) finds exactly
    the words a comparison with every word finds."""
    from rapidfuzz import fuzz

    from lora_manager.py.library.vocabulary import FUZZY_CUTOFF, Vocabulary

    vocabulary = Vocabulary.of((slot, [w]) for slot, w in enumerate(words))
    expected = {w for w in words if len(w) >= 2 and fuzz.ratio(word, w) >= FUZZY_CUTOFF}
    assert vocabulary.similar(word) == expected


@st.composite
def word_and_neighbours(draw):
    """A word and up to 12 words one or two edits away (a letter changed, left out or added), of every length
    the cutoff can reach, mixed with unrelated words."""
    word = draw(st.text(alphabet="abcde", min_size=2, max_size=14))
    neighbours = []
    for _ in range(draw(st.integers(0, 12))):
        edited = word
        for _ in range(draw(st.integers(1, 2))):
            at = draw(st.integers(0, len(edited)))
            kind = draw(st.sampled_from(["change", "drop", "add"]))
            letter = draw(st.sampled_from("abcde"))
            if kind == "add" or at == len(edited):
                edited = edited[:at] + letter + edited[at:]
            elif kind == "drop" and len(edited) > 1:
                edited = edited[:at] + edited[at + 1:]
            else:
                edited = edited[:at] + letter + edited[at + 1:]
        neighbours.append(edited)
    others = draw(st.lists(st.text(alphabet="abcde", min_size=1, max_size=14), max_size=20))
    return word, draw(st.permutations(neighbours + others))


@settings(max_examples=300, deadline=None)
@given(case=word_and_neighbours())
def test_every_close_word_is_found_whatever_its_length(case):
    """Words one or two edits from the query, in buckets of other lengths and of the same length, are all found
    (more than a handful at once), exactly as comparing with every word finds them."""
    from rapidfuzz import fuzz

    from lora_manager.py.library.vocabulary import FUZZY_CUTOFF, Vocabulary

    word, words = case
    vocabulary = Vocabulary.of((slot, [w]) for slot, w in enumerate(words))
    expected = {w for w in words if len(w) >= 2 and fuzz.ratio(word, w) >= FUZZY_CUTOFF}
    assert vocabulary.similar(word) == expected


def test_a_word_exactly_at_the_cutoff_is_found():
    """17 of 23 letters shared: 2 * 17 / 40 = 0.85, the cutoff itself, across a length gap of 6."""
    from lora_manager.py.library.vocabulary import Vocabulary

    long, short = "abcdefghijklmnopqrstuvw", "abcdefghijklmnopq"
    assert Vocabulary.of([(0, [short]), (1, ["zz"])]).similar(long) == {short}
    assert Vocabulary.of([(0, [long])]).similar(short) == {long}
