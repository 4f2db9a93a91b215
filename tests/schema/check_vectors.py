#!/usr/bin/python3
"""Independent check of the shared vectors against the JSON Schemas in schemas/.

For every vector in tests/vectors/{commands,events}/manifest.tsv it applies the three
pre-checks of the contract (size, UTF-8, JSON as jansson accepts it), then the schema
(Draft 2020-12, python3-jsonschema), classifies the result the way command.schema.json
describes (envelope -> not_cloudevent, known_type -> unknown_type, data -> invalid) and
compares it with the manifest, including that an error concerns the named field. It also
checks that every schema is a valid 2020-12 schema whose $id matches its path, and that
schemas/asyncapi.yaml parses and all its $refs resolve.

Output is TAP; the exit status is non-zero on any disagreement.
    check_vectors.py [--root DIR] [--verdicts FILE]
--verdicts writes "commands/<file>\\t<status>" for each command vector, which
tests/unit/test_validate.c compares with the C validator when TMPROV_SCHEMA_VERDICTS names it.
"""
import argparse
import functools
import json
import os
import re
import sys

import yaml
from jsonschema import Draft202012Validator, RefResolver, ValidationError, validators

MAX_BYTES = 65536
MAX_DEPTH = 2048  # jansson's JSON_PARSER_MAX_DEPTH: a value nested deeper is not JSON
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
BASE = "https://tmprov.example/schemas/"
ROOTS = {"commands": BASE + "command.schema.json", "events": BASE + "event.schema.json"}


class NotJSON(Exception):
    pass


# ---------------------------------------------------------------- patterns

@functools.lru_cache(maxsize=None)
def ecma_regex(pattern):
    """JSON Schema patterns are ECMA-262: '$' (outside a class, unescaped) is the end of the
    string. Python's '$' also matches before a final newline, so it becomes \\Z here."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "$":
            c = r"\Z"
        out.append(c)
        i += 1
    return re.compile("".join(out))


def ecma_pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not ecma_regex(pattern).search(instance):
        yield ValidationError("%r does not match %r" % (instance, pattern))


Validator = validators.extend(Draft202012Validator, {"pattern": ecma_pattern})
# jsonschema picks the class for a subschema from its "$schema" (each of our files has one),
# so the extended class must be the one registered for draft 2020-12.
validators.validates("draft2020-12")(Validator)


def self_test(tap):
    """The ECMA-262 pattern keyword is the one in force, also below a "$schema"."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "properties": {"s": {"$schema": "https://json-schema.org/draft/2020-12/schema",
                                   "pattern": "^a$"}}}
    ok = Validator(schema).is_valid({"s": "a"}) and not Validator(schema).is_valid({"s": "a\n"})
    tap.result(ok, "pattern keyword anchors $ at the end of the string", "Python $ semantics")


# --------------------------------------------------------------- pre-checks

def bracket_depth(text):
    """Deepest nesting of [ and { outside strings: a cheap bound before parsing, so that a
    deeply nested message cannot exhaust Python's recursion limit."""
    depth = deepest = 0
    in_string = escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise NotJSON("duplicate key")
        obj[k] = v
    return obj


def int64(s):
    v = int(s)
    if not INT64_MIN <= v <= INT64_MAX:
        raise NotJSON("integer out of range")
    return v


def finite(s):
    v = float(s)
    if v in (float("inf"), float("-inf")):
        raise NotJSON("real overflow")
    return v


def reject_constant(s):
    raise NotJSON("not a JSON literal: " + s)


def bad_string(s):
    """jansson refuses \\u0000 and unpaired surrogate escapes; Python accepts both."""
    return "\x00" in s or any(0xD800 <= ord(c) <= 0xDFFF for c in s)


def check_values(doc):
    """Value nesting depth as jansson counts it (every value, keys excluded) and strings."""
    stack = [(doc, 1)]
    while stack:
        v, d = stack.pop()
        if d > MAX_DEPTH:
            raise NotJSON("too deep")
        if isinstance(v, str) and bad_string(v):
            raise NotJSON("bad string")
        if isinstance(v, dict):
            for k, x in v.items():
                if bad_string(k):
                    raise NotJSON("bad key")
                stack.append((x, d + 1))
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)


def precheck(raw):
    """Returns (status, document); status None when the bytes are a JSON document."""
    if len(raw) > MAX_BYTES:
        return "too_large", None
    try:
        text = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        return "not_utf8", None
    if bracket_depth(text) > MAX_DEPTH:
        return "not_json", None
    try:
        doc = json.loads(text, object_pairs_hook=no_duplicates, parse_int=int64,
                         parse_float=finite, parse_constant=reject_constant)
        check_values(doc)
    except (ValueError, NotJSON):
        return "not_json", None
    return None, doc


# ------------------------------------------------------------------ schemas

def load_schemas(root):
    """All schemas/**/*.json by $id. Returns (store, [(file, problem or None)])."""
    store, results = {}, []
    sdir = os.path.join(root, "schemas")
    for dirpath, dirs, files in os.walk(sdir):
        dirs.sort()
        for f in sorted(files):
            if not f.endswith(".json"):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, sdir).replace(os.sep, "/")
            problems = []
            try:
                with open(path, "rb") as fh:
                    doc = json.load(fh)
                Draft202012Validator.check_schema(doc)
            except Exception as e:  # any failure is reported as a failed test
                results.append((rel, str(e).splitlines()[0]))
                continue
            if doc.get("$id") != BASE + rel:
                problems.append("$id %r is not %r" % (doc.get("$id"), BASE + rel))
            for p in find_patterns(doc):
                if re.search(r"\\[dDwWsSbB]", p):
                    problems.append("pattern %r uses a class that differs between ECMA-262 "
                                    "and Python" % p)
            store[BASE + rel] = doc
            results.append((rel, "; ".join(problems) or None))
    return store, results


def find_patterns(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "pattern" and isinstance(v, str):
                yield v
            else:
                yield from find_patterns(v)
    elif isinstance(node, list):
        for v in node:
            yield from find_patterns(v)


def validator_for(store, uri):
    """A validator for the schema at uri (a stored document, or a fragment of one)."""
    doc_uri = uri.partition("#")[0]
    resolver = RefResolver(base_uri=doc_uri, referrer=store[doc_uri], store=store)
    return Validator({"$ref": uri}, resolver=resolver)


def leaf_errors(errors):
    for e in errors:
        yield e
        if e.context:
            yield from leaf_errors(e.context)


def error_fields(errors):
    """Field names an error set concerns: each error's path (data.rooms), and its path joined
    with any quoted name in the message (required, additionalProperties, propertyNames)."""
    fields = set()
    for e in leaf_errors(errors):
        path = ".".join(str(p) for p in e.absolute_path)
        fields.add(path or "message")
        for name in re.findall(r"'([^']*)'", e.message):
            fields.add(path + "." + name if path else name)
    return fields


def classify(store, root_uri, doc):
    """Returns (status, fields the errors concern)."""
    full = validator_for(store, root_uri)
    errors = list(full.iter_errors(doc))
    if not errors:
        return "ok", set()
    envelope = list(validator_for(store, root_uri + "#/$defs/envelope").iter_errors(doc))
    if envelope:
        return "not_cloudevent", error_fields(envelope)
    known = list(validator_for(store, root_uri + "#/$defs/known_type").iter_errors(doc))
    if known:
        return "unknown_type", error_fields(known)
    return "invalid", error_fields(errors)


# ----------------------------------------------------------------- asyncapi

def resolve_pointer(doc, pointer):
    for part in pointer.lstrip("/").split("/") if pointer.strip("/") else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(doc, list):
            doc = doc[int(part)]
        else:
            doc = doc[part]
    return doc


def find_refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield v
            else:
                yield from find_refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from find_refs(v)


def check_asyncapi(root, tap):
    path = os.path.join(root, "schemas", "asyncapi.yaml")
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
        ok = isinstance(doc, dict) and str(doc.get("asyncapi")) == "3.0.0"
        tap.result(ok, "asyncapi.yaml parses as AsyncAPI 3.0.0", "no asyncapi: 3.0.0")
    except Exception as e:
        tap.result(False, "asyncapi.yaml parses", str(e).splitlines()[0])
        return
    addresses = {c.get("address") for c in (doc.get("channels") or {}).values()}
    want = {"tm.commands", "tm.events", "tm.commands.dlq"}
    tap.result(want <= addresses, "asyncapi.yaml describes " + ", ".join(sorted(want)),
               "channels: %s" % sorted(a for a in addresses if a))
    for ref in sorted(set(find_refs(doc))):
        target, _, pointer = ref.partition("#")
        why = None
        try:
            if target:
                fpath = os.path.normpath(os.path.join(os.path.dirname(path), target))
                with open(fpath) as f:
                    tdoc = json.load(f) if fpath.endswith(".json") else yaml.safe_load(f)
            else:
                tdoc = doc
            resolve_pointer(tdoc, pointer)
        except (OSError, KeyError, IndexError, ValueError) as e:
            why = "%s: %s" % (type(e).__name__, e)
        tap.result(why is None, "asyncapi.yaml $ref %s resolves" % ref, why)


# --------------------------------------------------------------------- main

class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def result(self, ok, name, why=None):
        self.n += 1
        if ok:
            print("ok %d - %s" % (self.n, name))
        else:
            self.failed += 1
            print("not ok %d - %s: %s" % (self.n, name, why))


def read_manifest(folder):
    rows = []
    with open(os.path.join(folder, "manifest.tsv")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, status, field = line.rstrip("\n").split("\t")
            rows.append((name, status, field))
    return rows


def check_set(root, store, kind, tap, verdicts):
    folder = os.path.join(root, "tests", "vectors", kind)
    for name, want, field in read_manifest(folder):
        with open(os.path.join(folder, name), "rb") as f:
            raw = f.read()
        status, doc = precheck(raw)
        fields = {"message"}
        if status is None:
            status, fields = classify(store, ROOTS[kind], doc)
        if kind == "commands":
            verdicts.append("commands/%s\t%s\n" % (name, status))
        why = None
        if status != want:
            why = "schema says %s, manifest %s" % (status, want)
        elif field != "-" and not any(f == field or f.startswith(field + ".") for f in fields):
            why = "no error concerns %s (errors concern: %s)" % (field, ", ".join(sorted(fields)))
        tap.result(why is None, "%s/%s" % (kind, name), why)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), help="source root (default: this script's)")
    ap.add_argument("--verdicts", help="write the command verdicts to this file")
    args = ap.parse_args()
    # Parsing up to MAX_DEPTH nested values recurses in the json module.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * MAX_DEPTH))

    tap = Tap()
    self_test(tap)
    store, results = load_schemas(args.root)
    for rel, why in results:
        tap.result(why is None, "schema %s is 2020-12 with $id = its path" % rel, why)
    verdicts = []
    for kind in ("commands", "events"):
        check_set(args.root, store, kind, tap, verdicts)
    check_asyncapi(args.root, tap)
    if args.verdicts:
        with open(args.verdicts, "w") as f:
            f.writelines(verdicts)
    print("1..%d" % tap.n)
    if tap.failed:
        print("# %d of %d failed" % (tap.failed, tap.n))
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
