"""Well-formedness of lexicon documents: the lexicon language itself, checked once at load.

A malformed document raises `LexiconError`, whose message names the file and the JSON path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from oms.pds.syntax import is_valid_nsid, is_valid_record_key

__all__ = [
    "FIELD_TYPES",
    "STRING_FORMATS",
    "LexiconError",
    "check_document",
    "split_ref",
]

PRIMARY_TYPES = frozenset({"record", "query", "procedure", "subscription", "permission-set"})
FIELD_TYPES = frozenset(
    {
        "boolean",
        "integer",
        "string",
        "bytes",
        "cid-link",
        "blob",
        "array",
        "object",
        "ref",
        "union",
        "unknown",
    }
)
# `ref`, `union` and `params` only describe fields; they cannot be named definitions.
DEF_TYPES = PRIMARY_TYPES | (FIELD_TYPES - {"ref", "union"}) | {"token"}
PARAM_TYPES = frozenset({"boolean", "integer", "string", "unknown"})
STRING_FORMATS = frozenset(
    {
        "at-identifier",
        "at-uri",
        "cid",
        "datetime",
        "did",
        "handle",
        "nsid",
        "tid",
        "record-key",
        "uri",
        "language",
    }
)

_COMMON = frozenset({"type", "description"})
# Keys are checked strictly: a typo such as "requried" would otherwise silently disable a rule.
_KEYS: dict[str, frozenset[str]] = {
    "record": _COMMON | {"key", "record"},
    "query": _COMMON | {"parameters", "output", "errors"},
    "procedure": _COMMON | {"parameters", "input", "output", "errors"},
    "subscription": _COMMON | {"parameters", "message", "errors"},
    "params": _COMMON | {"required", "properties"},
    "object": _COMMON | {"required", "nullable", "properties"},
    "array": _COMMON | {"items", "minLength", "maxLength"},
    "string": _COMMON
    | {
        "format",
        "maxLength",
        "minLength",
        "maxGraphemes",
        "minGraphemes",
        "knownValues",
        "enum",
        "const",
        "default",
    },
    "integer": _COMMON | {"minimum", "maximum", "enum", "const", "default"},
    "boolean": _COMMON | {"const", "default"},
    "bytes": _COMMON | {"minLength", "maxLength"},
    "cid-link": _COMMON,
    "blob": _COMMON | {"accept", "maxSize"},
    "union": _COMMON | {"refs", "closed"},
    "ref": _COMMON | {"ref"},
    "token": _COMMON,
    "unknown": _COMMON,
}
_DOC_KEYS = frozenset({"lexicon", "id", "revision", "description", "defs", "$type"})
_BODY_KEYS = frozenset({"description", "encoding", "schema"})
_DEF_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_ERROR_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_MIME_PATTERN = re.compile(r"^(\*/\*|[a-z0-9.+-]+/(\*|[a-z0-9.+-]+))$", re.IGNORECASE)


class LexiconError(ValueError):
    """A lexicon document is malformed; the message names the file and the JSON path."""

    def __init__(self, source: str, json_path: str, problem: str) -> None:
        super().__init__(f"{source}: {json_path} {problem}")
        self.source = source
        self.json_path = json_path
        self.problem = problem


def split_ref(ref: str, base_nsid: str) -> tuple[str, str]:
    """`#def`, `nsid` or `nsid#def` seen from document `base_nsid` -> (nsid, def name)."""
    nsid, _, name = ref.partition("#")
    return (nsid or base_nsid, name or "main")


def check_document(document: object, source: str) -> dict[str, Any]:
    """Return `document` if it is a well-formed lexicon, else raise `LexiconError`."""
    return _DocumentChecker(source).check(document)


class _DocumentChecker:
    def __init__(self, source: str) -> None:
        self.source = source
        self.nsid = ""
        self.def_names: frozenset[str] = frozenset()

    def fail(self, path: str, problem: str) -> LexiconError:
        return LexiconError(self.source, path, problem)

    def check(self, doc: object) -> dict[str, Any]:
        if not isinstance(doc, dict):
            raise self.fail("$", "must be a JSON object")
        self.keys(doc, _DOC_KEYS, "$")
        version = doc.get("lexicon")
        if type(version) is not int or version != 1:
            raise self.fail("$.lexicon", "must be 1 (the only lexicon language version)")
        nsid = doc.get("id")
        if not isinstance(nsid, str) or not is_valid_nsid(nsid):
            raise self.fail("$.id", "must be a valid NSID")
        self.nsid = nsid
        self.opt_int(doc, "revision", "$", minimum=0)
        self.opt_str(doc, "description", "$")
        defs = doc.get("defs")
        if not isinstance(defs, dict) or not defs:
            raise self.fail("$.defs", "must be a non-empty object of definitions")
        self.def_names = frozenset(defs)
        for name, definition in defs.items():
            path = f"$.defs.{name}"
            if not _DEF_NAME.match(name):
                raise self.fail(path, "is not a valid definition name")
            self.definition(definition, path, is_main=name == "main")
        return doc

    # -- definitions -------------------------------------------------------------------------

    def definition(self, d: object, path: str, *, is_main: bool) -> None:
        kind = self.typed(d, path, DEF_TYPES)
        assert isinstance(d, dict)
        if kind in PRIMARY_TYPES and not is_main:
            raise self.fail(f"{path}.type", f'"{kind}" is only allowed for the main definition')
        if kind == "record":
            self.keys(d, _KEYS[kind], path)
            key = d.get("key")
            if not isinstance(key, str) or not _valid_record_key_type(key):
                raise self.fail(f"{path}.key", 'must be "tid", "nsid", "any" or "literal:<key>"')
            self.typed(d.get("record"), f"{path}.record", frozenset({"object"}))
            self.field(d["record"], f"{path}.record")
        elif kind in ("query", "procedure", "subscription"):
            self.method(d, kind, path)
        elif kind == "permission-set":
            # Newer addition to the language; checked loosely so that such documents load.
            perms = d.get("permissions", [])
            if not isinstance(perms, list) or not all(isinstance(p, dict) for p in perms):
                raise self.fail(f"{path}.permissions", "must be an array of objects")
        elif kind == "token":
            self.keys(d, _KEYS[kind], path)
            self.opt_str(d, "description", path)
        else:
            self.field(d, path)

    def method(self, d: dict[str, Any], kind: str, path: str) -> None:
        self.keys(d, _KEYS[kind], path)
        if "parameters" in d:
            self.params(d["parameters"], f"{path}.parameters")
        for body in ("input", "output"):
            if body in d:
                self.body(d[body], f"{path}.{body}", with_encoding=True)
        if "message" in d:
            self.body(d["message"], f"{path}.message", with_encoding=False)
        errors = d.get("errors", [])
        if not isinstance(errors, list):
            raise self.fail(f"{path}.errors", "must be an array")
        seen: set[str] = set()
        for i, err in enumerate(errors):
            epath = f"{path}.errors[{i}]"
            if not isinstance(err, dict):
                raise self.fail(epath, "must be an object")
            self.keys(err, frozenset({"name", "description"}), epath)
            name = err.get("name")
            if not isinstance(name, str) or not _ERROR_NAME.match(name):
                raise self.fail(f"{epath}.name", "must be an error name such as InvalidSwap")
            if name in seen:
                raise self.fail(f"{epath}.name", f'repeats the error "{name}"')
            seen.add(name)
            self.opt_str(err, "description", epath)

    def params(self, p: object, path: str) -> None:
        self.typed(p, path, frozenset({"params"}))
        assert isinstance(p, dict)
        self.keys(p, _KEYS["params"], path)
        props = self.properties(p, path, required=False)
        for name, prop in props.items():
            ppath = f"{path}.properties.{name}"
            kind = self.typed(prop, ppath, PARAM_TYPES | {"array"})
            if kind == "array":
                self.typed(prop.get("items"), f"{ppath}.items", PARAM_TYPES)
            self.field(prop, ppath)
        self.names_defined(p, "required", props, path)

    def body(self, b: object, path: str, *, with_encoding: bool) -> None:
        if not isinstance(b, dict):
            raise self.fail(path, "must be an object")
        self.keys(b, _BODY_KEYS if with_encoding else _BODY_KEYS - {"encoding"}, path)
        if with_encoding:
            encoding = b.get("encoding")
            if not isinstance(encoding, str) or not _MIME_PATTERN.match(encoding):
                raise self.fail(f"{path}.encoding", "must be a MIME type such as application/json")
        self.opt_str(b, "description", path)
        if "schema" in b:
            spath = f"{path}.schema"
            self.typed(b["schema"], spath, frozenset({"object", "ref", "union"}))
            self.field(b["schema"], spath)
        elif not with_encoding:
            raise self.fail(f"{path}.schema", "is required")

    # -- fields ------------------------------------------------------------------------------

    def field(self, d: object, path: str) -> None:
        kind = self.typed(d, path, FIELD_TYPES | {"token"})
        assert isinstance(d, dict)
        self.keys(d, _KEYS[kind], path)
        self.opt_str(d, "description", path)
        if kind == "string":
            fmt = d.get("format")
            if fmt is not None and fmt not in STRING_FORMATS:
                raise self.fail(f"{path}.format", f'"{fmt}" is not a known string format')
            for key in ("maxLength", "minLength", "maxGraphemes", "minGraphemes"):
                self.opt_int(d, key, path, minimum=0)
            self.ordered(d, "minLength", "maxLength", path)
            self.ordered(d, "minGraphemes", "maxGraphemes", path)
            self.opt_list(d, "knownValues", path, str)
            self.opt_list(d, "enum", path, str)
            self.opt_str(d, "const", path)
            self.opt_str(d, "default", path)
        elif kind == "integer":
            for key in ("minimum", "maximum", "const", "default"):
                self.opt_int(d, key, path)
            self.ordered(d, "minimum", "maximum", path)
            self.opt_list(d, "enum", path, int)
        elif kind == "boolean":
            for key in ("const", "default"):
                if key in d and not isinstance(d[key], bool):
                    raise self.fail(f"{path}.{key}", "must be a boolean")
        elif kind in ("bytes", "array"):
            self.opt_int(d, "minLength", path, minimum=0)
            self.opt_int(d, "maxLength", path, minimum=0)
            self.ordered(d, "minLength", "maxLength", path)
            if kind == "array":
                if "items" not in d:
                    raise self.fail(f"{path}.items", "is required")
                self.field(d["items"], f"{path}.items")
        elif kind == "blob":
            self.opt_list(d, "accept", path, str)
            for i, pattern in enumerate(d.get("accept", [])):
                if not _MIME_PATTERN.match(pattern):
                    raise self.fail(f"{path}.accept[{i}]", "must be a MIME type or pattern")
            self.opt_int(d, "maxSize", path, minimum=0)
        elif kind == "object":
            props = self.properties(d, path, required=True)
            for name, prop in props.items():
                self.field(prop, f"{path}.properties.{name}")
            self.names_defined(d, "required", props, path)
            self.names_defined(d, "nullable", props, path)
        elif kind == "ref":
            self.ref(d.get("ref"), f"{path}.ref")
        elif kind == "union":
            refs = d.get("refs")
            if not isinstance(refs, list):
                raise self.fail(f"{path}.refs", "must be an array of references")
            for i, ref in enumerate(refs):
                self.ref(ref, f"{path}.refs[{i}]")
            if "closed" in d and not isinstance(d["closed"], bool):
                raise self.fail(f"{path}.closed", "must be a boolean")
        elif kind == "token":
            raise self.fail(f"{path}.type", '"token" is only allowed as a named definition')

    def ref(self, ref: object, path: str) -> None:
        if not isinstance(ref, str) or not ref:
            raise self.fail(path, "must be a reference such as #def or nsid#def")
        nsid, name = split_ref(ref, self.nsid)
        if not is_valid_nsid(nsid) or not _DEF_NAME.match(name) or ref.count("#") > 1:
            raise self.fail(path, f'"{ref}" is not a valid reference')
        if nsid == self.nsid and name not in self.def_names:
            raise self.fail(path, f'"{ref}" refers to a definition missing from this document')

    # -- small checks ------------------------------------------------------------------------

    def typed(self, d: object, path: str, allowed: frozenset[str]) -> str:
        if not isinstance(d, dict):
            raise self.fail(path, "must be an object")
        kind = d.get("type")
        if not isinstance(kind, str):
            raise self.fail(f"{path}.type", "is required")
        if kind not in allowed:
            raise self.fail(f"{path}.type", f'"{kind}" is not allowed here')
        return kind

    def keys(self, d: Mapping[str, object], allowed: frozenset[str], path: str) -> None:
        for key in d:
            if key not in allowed:
                raise self.fail(f"{path}.{key}", "is not a known field here")

    def properties(self, d: Mapping[str, object], path: str, *, required: bool) -> dict[str, Any]:
        props = d.get("properties")
        if props is None and not required:
            return {}
        if not isinstance(props, dict):
            raise self.fail(f"{path}.properties", "must be an object")
        for name in props:
            if not name or "." in name or "#" in name:
                raise self.fail(f"{path}.properties", f'has an invalid property name "{name}"')
        return props

    def names_defined(
        self, d: Mapping[str, object], key: str, props: Mapping[str, object], path: str
    ) -> None:
        self.opt_list(d, key, path, str)
        names = d.get(key, [])
        assert isinstance(names, list)
        for i, name in enumerate(names):
            if name not in props:
                raise self.fail(f"{path}.{key}[{i}]", f'names "{name}", which is not a property')

    def ordered(self, d: Mapping[str, object], low: str, high: str, path: str) -> None:
        lo, hi = d.get(low), d.get(high)
        if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
            raise self.fail(f"{path}.{low}", f"must not exceed {high}")

    def opt_int(
        self, d: Mapping[str, object], key: str, path: str, minimum: int | None = None
    ) -> None:
        if key not in d:
            return
        value = d[key]
        if type(value) is not int or (minimum is not None and value < minimum):
            at_least = "" if minimum is None else f" of at least {minimum}"
            raise self.fail(f"{path}.{key}", f"must be an integer{at_least}")

    def opt_str(self, d: Mapping[str, object], key: str, path: str) -> None:
        if key in d and not isinstance(d[key], str):
            raise self.fail(f"{path}.{key}", "must be a string")

    def opt_list(self, d: Mapping[str, object], key: str, path: str, item: type) -> None:
        if key not in d:
            return
        value = d[key]
        if not isinstance(value, list) or not all(type(v) is item for v in value):
            noun = "strings" if item is str else "integers"
            raise self.fail(f"{path}.{key}", f"must be an array of {noun}")


def _valid_record_key_type(key: str) -> bool:
    if key in ("tid", "nsid", "any"):
        return True
    literal = key.removeprefix("literal:")
    return literal != key and is_valid_record_key(literal)
