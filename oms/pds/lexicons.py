"""The lexicons a node knows: loaded from `lexicons/`, indexed by NSID, and the entry points
that validate records, XRPC params and bodies against them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from oms.errors import InvalidRequest
from oms.pds.data_model import check_data_model
from oms.pds.lexicon_schema import LexiconError, check_document, split_ref
from oms.pds.lexicon_validate import ValueValidator
from oms.pds.syntax import is_valid_nsid, is_valid_record_key, is_valid_tid

__all__ = ["LexiconDoc", "LexiconError", "Lexicons", "MethodKind", "load_lexicons"]

MethodKind = Literal["query", "procedure", "subscription"]
_METHOD_KINDS: tuple[MethodKind, ...] = ("query", "procedure", "subscription")
_DECIMAL = re.compile(r"-?[0-9]{1,18}")


@dataclass(frozen=True)
class LexiconDoc:
    """One well-formed lexicon document and where it came from."""

    nsid: str
    source: str
    document: Mapping[str, Any]

    @property
    def main(self) -> Mapping[str, Any] | None:
        main: Mapping[str, Any] | None = self.document["defs"].get("main")
        return main


def load_lexicons(directory: Path) -> Lexicons:
    """Load every `*.json` below `directory` (see `Lexicons.load`)."""
    return Lexicons.load(directory)


class Lexicons:
    """An immutable set of lexicon documents, indexed by NSID."""

    def __init__(self, docs: Iterable[LexiconDoc]) -> None:
        self._docs: dict[str, LexiconDoc] = {}
        for doc in docs:
            other = self._docs.get(doc.nsid)
            if other is not None:
                raise LexiconError(
                    doc.source, "$.id", f"{doc.nsid} is also defined by {other.source}"
                )
            self._docs[doc.nsid] = doc
        self._values = ValueValidator({nsid: d.document for nsid, d in self._docs.items()})

    @classmethod
    def load(cls, directory: Path) -> Lexicons:
        """Load and check every `*.json` document below `directory` (other files are ignored).

        Raises `LexiconError` naming the file and JSON path of the first malformed document.
        """
        if not directory.is_dir():
            raise LexiconError(str(directory), "$", "is not a directory of lexicons")
        docs = []
        for path in sorted(directory.rglob("*.json")):
            source = str(path)
            try:
                parsed: object = json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise LexiconError(source, "$", f"is not valid JSON: {exc}") from exc
            docs.append(cls.parse(parsed, source))
        return cls(docs)

    @staticmethod
    def parse(document: object, source: str) -> LexiconDoc:
        """Check one parsed JSON document; `source` names it in errors."""
        checked = check_document(document, source)
        return LexiconDoc(nsid=checked["id"], source=source, document=checked)

    # -- lookup ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._docs)

    def nsids(self) -> list[str]:
        return sorted(self._docs)

    def has(self, nsid: str) -> bool:
        return nsid in self._docs

    def get(self, nsid: str) -> LexiconDoc:
        """The document of `nsid`; raises `InvalidRequest` if there is none."""
        doc = self._docs.get(nsid)
        if doc is None:
            raise InvalidRequest(f"Lexicon not found: {nsid}")
        return doc

    def method_kind(self, nsid: str) -> MethodKind | None:
        """`query`, `procedure` or `subscription`; None when `nsid` is not a known method."""
        doc = self._docs.get(nsid)
        kind = doc.main.get("type") if doc is not None and doc.main is not None else None
        for known in _METHOD_KINDS:
            if kind == known:
                return known
        return None

    def error_names(self, nsid: str) -> tuple[str, ...]:
        """The method-specific error names `nsid` declares."""
        return tuple(e["name"] for e in self._method(nsid).get("errors", []))

    def input_encoding(self, nsid: str) -> str | None:
        """The MIME type a procedure's body must have; None if it takes no body."""
        body = self._method(nsid).get("input")
        return None if body is None else str(body["encoding"])

    def output_encoding(self, nsid: str) -> str | None:
        body = self._method(nsid).get("output")
        return None if body is None else str(body["encoding"])

    def unresolved_refs(self) -> list[str]:
        """References to other documents that this set does not define, one line each."""
        problems: list[str] = []
        for doc in self._docs.values():
            for json_path, ref in _refs(doc.document, "$"):
                nsid, name = split_ref(ref, doc.nsid)
                target = self._docs.get(nsid)
                if target is None or name not in target.document["defs"]:
                    problems.append(f"{doc.source}: {json_path} refers to missing {nsid}#{name}")
        return problems

    # -- validation --------------------------------------------------------------------------

    def validate_record(self, collection: str, value: object) -> None:
        """Check a record value against the record lexicon `collection`.

        The value is the JSON form of the data model (`$link`, `$bytes`, typed blob refs) and
        must carry `"$type": collection`. Fields the lexicon does not name are allowed.
        """
        main = self._main_of(collection)
        if main.get("type") != "record":
            raise InvalidRequest(f"Lexicon {collection} does not describe a record")
        if not isinstance(value, dict):
            raise InvalidRequest("Record must be an object")
        check_data_model(value, "Record")
        if "$type" not in value:
            raise InvalidRequest('Record must have the property "$type"')
        if value["$type"] != collection:
            raise InvalidRequest(f"Record/$type must be {collection}")
        self._values.validate(value, main["record"], "Record", collection, defaults=False)

    def validate_record_key(self, collection: str, rkey: str) -> None:
        """Check `rkey` against the key type of record lexicon `collection`."""
        main = self._main_of(collection)
        key = main.get("key", "any")
        if not is_valid_record_key(rkey):
            raise InvalidRequest("Record key must be a valid record key")
        if key == "tid" and not is_valid_tid(rkey):
            raise InvalidRequest(f"Record key must be a valid tid for {collection}")
        if key == "nsid" and not is_valid_nsid(rkey):
            raise InvalidRequest(f"Record key must be a valid nsid for {collection}")
        literal = key.removeprefix("literal:")
        if literal != key and rkey != literal:
            raise InvalidRequest(f"Record key must be {literal} for {collection}")

    def validate_params(
        self, nsid: str, params: Mapping[str, str | list[str]]
    ) -> dict[str, object]:
        """Check query-string params of method `nsid`, coerced to their lexicon types.

        Missing params get their default; params the lexicon does not name are dropped.
        """
        schema = self._method(nsid).get("parameters") or {}
        properties = schema.get("properties")
        if not properties:  # most procedures: nothing to take
            return {}
        required = set(schema.get("required", []))
        result: dict[str, object] = {}
        for name, prop in properties.items():
            path = f"Params/{name}"
            raw = params.get(name)
            if raw is None or raw == []:
                if "default" in prop:
                    result[name] = prop["default"]
                elif name in required:
                    raise InvalidRequest(f'Params must have the property "{name}"')
                continue
            if prop["type"] == "array":
                items = raw if isinstance(raw, list) else [raw]
                value: object = [
                    _coerce_param(item, prop["items"], f"{path}/{i}")
                    for i, item in enumerate(items)
                ]
            else:
                if isinstance(raw, list):
                    if len(raw) != 1:
                        raise InvalidRequest(f"{path} must be a single value")
                    raw = raw[0]
                value = _coerce_param(raw, prop, path)
            if _param_type(prop) != "unknown":
                self._values.validate(value, prop, path, nsid, defaults=False)
            result[name] = value
        return result

    def validate_input(self, nsid: str, body: object) -> object:
        """Check a procedure's request body; returns it with object defaults filled in.

        Bodies without a JSON schema (e.g. blob uploads) are returned unchanged.
        """
        method = self._method(nsid)
        if method["type"] != "procedure":
            raise InvalidRequest(f"{nsid} is a {method['type']}, which takes no request body")
        return self._body(method.get("input"), body, "Input", nsid)

    def validate_output(self, nsid: str, body: object) -> object:
        """Check a query's or procedure's response body against its lexicon."""
        method = self._method(nsid)
        if method["type"] == "subscription":
            raise InvalidRequest(f"{nsid} is a subscription: use validate_message")
        return self._body(method.get("output"), body, "Output", nsid)

    def validate_message(self, nsid: str, message: object) -> None:
        """Check one event of subscription `nsid` (its `$type` selects the union member)."""
        method = self._method(nsid)
        if method["type"] != "subscription":
            raise InvalidRequest(f"{nsid} is not a subscription")
        schema = method["message"]["schema"]
        self._values.validate(message, schema, "Message", nsid, defaults=False)

    # -- internals ---------------------------------------------------------------------------

    def _main_of(self, nsid: str) -> Mapping[str, Any]:
        main = self.get(nsid).main
        if main is None:
            raise InvalidRequest(f"Lexicon {nsid} has no main definition")
        return main

    def _method(self, nsid: str) -> Mapping[str, Any]:
        main = self._main_of(nsid)
        if main.get("type") not in _METHOD_KINDS:
            raise InvalidRequest(f"Lexicon {nsid} does not describe an XRPC method")
        return main

    def _body(self, spec: Mapping[str, Any] | None, body: object, path: str, nsid: str) -> object:
        if spec is None:
            if body is not None:
                raise InvalidRequest(f"{path}: a body was provided when none was expected")
            return None
        if "schema" not in spec:
            return body
        if body is None:
            raise InvalidRequest(f"{path}: a body was expected but none was provided")
        return self._values.validate(body, spec["schema"], path, nsid, defaults=True)


def _param_type(prop: Mapping[str, Any]) -> str:
    kind: str = prop["items"]["type"] if prop["type"] == "array" else prop["type"]
    return kind


def _coerce_param(raw: str, prop: Mapping[str, Any], path: str) -> object:
    """A query-string value -> the lexicon type of `prop` (integer, boolean or string)."""
    kind = prop["type"]
    if kind == "integer":
        if not _DECIMAL.fullmatch(raw):
            raise InvalidRequest(f"{path} must be an integer")
        return int(raw)
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise InvalidRequest(f"{path} must be a boolean (true or false)")
        return raw == "true"
    return raw


def _refs(node: object, path: str) -> Iterable[tuple[str, str]]:
    """Every (JSON path, reference) in a lexicon document."""
    if isinstance(node, dict):
        if node.get("type") == "ref" and isinstance(node.get("ref"), str):
            yield f"{path}.ref", node["ref"]
        if node.get("type") == "union" and isinstance(node.get("refs"), list):
            for i, ref in enumerate(node["refs"]):
                yield f"{path}.refs[{i}]", ref
        for key, child in node.items():
            yield from _refs(child, f"{path}.{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _refs(child, f"{path}[{i}]")
