"""Values shaped by the shipped lexicons: mostly what a schema asks for, with a wrong value
mixed in at any depth. Purely random JSON stops at the first required property; shaped
values get past it into the checks and handlers behind."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

from oms.pds.dagcbor import cid_for, cid_to_str
from oms.pds.lexicon_schema import split_ref
from oms.pds.lexicons import Lexicons
from tests.fuzz.strategies import json_values, mostly, nasty_text

__all__ = ["Shapes"]


def _main(lexicons: Lexicons, nsid: str) -> Mapping[str, Any]:
    main = lexicons.get(nsid).main
    assert main is not None, nsid
    return main


_CIDS = (cid_to_str(cid_for({"a": 1})), cid_to_str(cid_for(b"audio", 0x55)))  # type: ignore[arg-type]
_MAX_DEPTH = 6


class Shapes:
    """Strategies for values of the definitions of `lexicons`; `dids` and `handles` are
    identities worth aiming at (the fuzzed node's own accounts)."""

    def __init__(
        self,
        lexicons: Lexicons,
        *,
        dids: Sequence[str] = (),
        handles: Sequence[str] = (),
        rkeys: Sequence[str] = (),
        cids: Sequence[str] = (),
    ) -> None:
        self.lexicons = lexicons
        self.dids = (*dids, "did:plc:abcdefghijklmnopqrstuvwx", "did:web:localhost")
        self.handles = (*handles, "nobody.localhost", "localhost")
        self.rkeys = (*rkeys, "3jzfcijpj2z2a", "self", "3k2a4b5c6d7e8", "a:b", ".")
        self.cids = (*cids, *_CIDS)
        self.nsids = (*lexicons.nsids(), "com.example.note")
        self._cache: dict[tuple[int, str, int], st.SearchStrategy[Any]] = {}
        self.records = [
            n for n in lexicons.nsids() if (lexicons.get(n).main or {}).get("type") == "record"
        ]

    # -- entry points ------------------------------------------------------------------------

    def record(self, collection: str | None = None) -> st.SearchStrategy[dict[str, Any]]:
        """A record of `collection` (any record lexicon when None), `$type` included."""
        if collection is None:
            return st.sampled_from(self.records).flatmap(self.record)
        main = _main(self.lexicons, collection)
        shaped = self.value(main["record"], collection)
        return shaped.map(lambda v: {"$type": collection, **v} if isinstance(v, dict) else v)

    def body(self, nsid: str) -> st.SearchStrategy[Any]:
        """A request body of procedure `nsid` (anything JSON when it declares no schema)."""
        spec = _main(self.lexicons, nsid).get("input") or {}
        if "schema" not in spec:
            return json_values()
        return self.value(spec["schema"], nsid)

    def params(self, nsid: str) -> st.SearchStrategy[list[tuple[str, str]]]:
        """Query-string pairs for method `nsid`: its own params, repeated or left out, and
        names it does not know."""
        schema = _main(self.lexicons, nsid).get("parameters") or {}
        properties: Mapping[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))

        def pairs_of(name: str, prop: Mapping[str, Any]) -> st.SearchStrategy[Any]:
            pair = self._param(prop, nsid).map(lambda v: (name, v))
            fewest = 1 if name in required else 0  # the calls without: test_lexicons
            if prop["type"] == "array":
                return st.lists(pair, min_size=fewest, max_size=3)
            # A single value repeated is refused at once: one call in ten tries it.
            once = st.lists(pair, min_size=fewest, max_size=1)
            return mostly(once, st.lists(pair, min_size=2, max_size=2), 9)

        pairs = [pairs_of(name, prop) for name, prop in properties.items()]
        unknown = st.lists(st.tuples(nasty_text(12), nasty_text()), max_size=2)
        return st.tuples(*pairs, unknown).map(lambda groups: [p for g in groups for p in g])

    def _param(self, prop: Mapping[str, Any], nsid: str) -> st.SearchStrategy[str]:
        kind = prop["type"]
        if kind == "array":
            return self._param(prop["items"], nsid)
        if kind == "integer":
            within = st.integers(prop.get("minimum"), prop.get("maximum")).map(str)
            return mostly(within, st.integers().map(str) | nasty_text())
        if kind == "boolean":
            return mostly(st.sampled_from(("true", "false")), st.sampled_from(("1", "True", "")))
        if kind == "string":
            return self._string(prop)
        return nasty_text()

    # -- values ------------------------------------------------------------------------------

    def value(self, schema: Mapping[str, Any], base: str, depth: int = 0) -> st.SearchStrategy[Any]:
        key = (id(schema), base, depth)
        if key not in self._cache:
            # One value in ten is of any type at all.
            self._cache[key] = mostly(self._shaped(schema, base, depth), json_values(6), 9)
        return self._cache[key]

    def _shaped(self, schema: Mapping[str, Any], base: str, depth: int) -> st.SearchStrategy[Any]:
        kind = schema["type"]
        if depth > _MAX_DEPTH:
            return json_values(4)
        if kind in ("object", "params"):
            properties: Mapping[str, Any] = schema.get("properties", {})
            required = set(schema.get("required", []))

            def prop(p: Mapping[str, Any]) -> st.SearchStrategy[Any]:
                return st.deferred(lambda: self.value(p, base, depth + 1))

            return st.fixed_dictionaries(
                {k: prop(p) for k, p in properties.items() if k in required},
                optional={k: prop(p) for k, p in properties.items() if k not in required},
            )
        if kind == "array":
            limit = min(int(schema.get("maxLength", 4)), 4)
            return st.lists(self.value(schema["items"], base, depth + 1), max_size=limit)
        if kind == "ref":
            return self._ref(schema["ref"], base, depth)
        if kind == "union":
            return st.sampled_from(schema["refs"]).flatmap(
                lambda ref: self._ref(ref, base, depth).map(
                    lambda v, r=ref: {"$type": "#".join(split_ref(r, base)).removesuffix("#main"),
                                      **v} if isinstance(v, dict) else v
                )
            )  # fmt: skip
        if kind == "string":
            return self._string(schema)
        if kind == "integer":
            low, high = schema.get("minimum"), schema.get("maximum")
            return st.integers(low, high) | st.sampled_from((-1, 0, 2**53, 2**64))
        if kind == "boolean":
            return st.booleans()
        if kind == "blob":
            return st.fixed_dictionaries(
                {
                    "$type": st.just("blob"),
                    "ref": st.sampled_from(_CIDS).map(lambda c: {"$link": c}),
                    "mimeType": st.sampled_from(("audio/flac", "image/png", "text/html", "")),
                    "size": st.integers(-1, 2**40),
                }
            )
        if kind == "cid-link":
            return st.sampled_from(_CIDS).map(lambda c: {"$link": c})
        if kind == "bytes":
            return st.binary(max_size=32).map(lambda b: {"$bytes": base64.b64encode(b).decode()})
        if kind == "unknown":
            return st.one_of(self.record(), st.dictionaries(nasty_text(8), json_values(6)))
        return json_values(4)

    def _ref(self, ref: str, base: str, depth: int) -> st.SearchStrategy[Any]:
        nsid, name = split_ref(ref, base)
        definition = self.lexicons.get(nsid).document["defs"][name]
        if definition["type"] == "token":
            return st.just(f"{nsid}#{name}")
        if definition["type"] == "record":
            definition = definition["record"]
        return self._shaped(definition, nsid, depth + 1)

    def _string(self, schema: Mapping[str, Any]) -> st.SearchStrategy[str]:
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        if "knownValues" in schema:
            return st.sampled_from(schema["knownValues"]) | nasty_text()
        fmt = schema.get("format")
        samples = (
            self._formatted(fmt) if fmt else st.text(max_size=int(schema.get("maxLength", 40)))
        )
        return mostly(samples, nasty_text(), 8)

    def _formatted(self, fmt: str) -> st.SearchStrategy[str]:
        dids, handles = st.sampled_from(self.dids), st.sampled_from(self.handles)
        rkeys = st.sampled_from(self.rkeys)
        nsids = st.sampled_from(self.nsids)
        if fmt == "did":
            return dids
        if fmt == "handle":
            return handles
        if fmt == "at-identifier":
            return dids | handles
        if fmt == "nsid":
            return nsids
        if fmt in ("record-key", "tid"):
            return rkeys
        if fmt == "at-uri":
            return st.builds(lambda *p: "at://" + "/".join(p), dids | handles, nsids, rkeys)
        if fmt == "cid":
            return st.sampled_from(self.cids)
        if fmt == "datetime":
            return st.sampled_from(
                ("2024-05-01T12:00:00.000Z", "1985-04-12T23:20:50.12345678912345Z",
                 "2024-02-30T00:00:00Z", "0000-01-01T00:00:00+00:01")
            )  # fmt: skip
        if fmt == "language":
            return st.sampled_from(("en", "pt-BR", "x-klingon", "en-"))
        return st.sampled_from(("https://example.com/", "mailto:a@b", "http://[::1", "a"))
