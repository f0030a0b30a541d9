"""Reading user YAML safely: what ``kubectl apply --validate=strict`` refuses, and what a YAML bomb costs.

The API server decodes manifests strictly: a field given twice in one object is an error ("duplicate
field"), never "the last one wins". go-yaml, which Kubernetes uses, also caps how far aliases may
expand, so a one-kilobyte document whose anchors nest nine deep cannot turn into 9⁹ strings. This
module gives kubetwin's scenario and manifest loaders the same two guarantees, and one more: it never
builds PyYAML's node tree (several hundred bytes per scalar, GBs for a 50 MB file).

:func:`load_documents` reads a text with libyaml's event parser (``CSafeLoader``; the pure-Python
parser when libyaml is missing) and builds plain Python data straight from the event stream, resolving
scalars exactly as ``yaml.safe_load`` does. While building it

* counts how many nodes the aliases add; past :data:`ALIAS_EXPANSION_LIMIT` it stops with an
  :class:`~models.errors.InputError` at once (an alias costs O(1) here; the values are shared);
* refuses a key written twice in one mapping, naming the key, its field path and both lines;
* refuses recursive aliases and tags other than the YAML core schema's scalars.

Line numbers for later (pydantic) errors come from :func:`locate`, which streams the events again and
stops at the field: nothing is kept per node between the two passes.
"""

from __future__ import annotations

from typing import Any

import yaml

from models.errors import InputError

#: the libyaml loader when PyYAML was built with it, else the pure-Python one (same results, slower)
Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: at most this many nodes (scalars, mappings, sequences) may be added to a file by its aliases
ALIAS_EXPANSION_LIMIT = 100_000

_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"
_CONTAINER_TAGS = {None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_NO_KEY = object()


class _Frame:
    """One open mapping or sequence while its events stream in."""

    __slots__ = ("anchor", "container", "key", "key_line", "lines", "merges", "size")

    def __init__(self, container: dict[Any, Any] | list[Any], anchor: str | None) -> None:
        self.container = container
        self.anchor = anchor
        self.size = 1
        self.key: Any = _NO_KEY
        self.key_line = 0
        self.lines: dict[Any, int] = {}
        self.merges: list[dict[Any, Any]] = []


def _path(stack: list[_Frame]) -> str:
    out = ""
    for f in stack:
        if isinstance(f.container, list):
            out += f"[{len(f.container)}]"
        elif f.key is not _NO_KEY:
            out += ("." if out else "") + str(f.key)
    return out


def _syntax_error(e: yaml.YAMLError, file: str, text: str) -> InputError:
    if isinstance(e, yaml.reader.ReaderError):
        pos = min(max(e.position, 0), len(text))
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        char = chr(e.character) if isinstance(e.character, int) else e.character
        return InputError(f"YAML cannot contain the character {char!r} ({e.reason})", file=file, line=line,
                          column=col, fix="remove it; YAML files are plain UTF-8 text")
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        return InputError(f"YAML syntax error: {e.problem or e.context}", file=file,
                          line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None,
                          fix="check indentation, colons and quotes around this place")
    return InputError(f"not valid YAML: {e}", file=file)


def _unknown_tag(tag: str, mark: Any, file: str) -> InputError:
    return InputError(f"YAML syntax error: could not determine a constructor for the tag {tag!r}", file=file,
                      line=mark.line + 1, column=mark.column + 1,
                      fix="remove the tag; kubetwin reads plain YAML (strings, numbers, lists, mappings)")


def load_documents(text: str, file: str) -> list[Any]:
    """Every document of ``text`` as plain data (``None`` for an empty one); raises :class:`InputError`."""
    try:
        return _run(Loader, text, file)
    except yaml.YAMLError as e:
        if "nesting depth" in str(getattr(e, "problem", "")):
            raise InputError("YAML nests too deeply", file=file) from None
        if Loader is yaml.SafeLoader:
            raise _syntax_error(e, file, text) from None
        first = e
    try:  # libyaml's messages are terser than PyYAML's: read the broken file again for the better one
        _run(yaml.SafeLoader, text, file)
    except yaml.YAMLError as e:
        raise _syntax_error(e, file, text) from None
    raise _syntax_error(first, file, text) from None


def _run(loader_class: Any, text: str, file: str) -> list[Any]:
    loader = loader_class(text)
    try:
        return _build(loader, file)
    finally:
        loader.dispose()


def _build(loader: Any, file: str) -> list[Any]:
    docs: list[Any] = []
    stack: list[_Frame] = []
    anchors: dict[str, tuple[Any, int]] = {}
    open_anchors: set[str] = set()
    added = 0
    result: Any = None

    def fail(msg: str, mark: Any, fix: str) -> InputError:
        return InputError(msg, file=file, field=_path(stack) or None, line=mark.line + 1, column=mark.column + 1,
                          fix=fix)

    def put(value: Any, size: int, mark: Any) -> None:
        nonlocal result
        if not stack:
            result = value
            return
        top = stack[-1]
        top.size += size
        c = top.container
        if isinstance(c, list):
            c.append(value)
        elif top.key is _NO_KEY:
            if isinstance(value, dict | list):
                raise fail("a mapping key must be a plain value, not a mapping or a list", mark,
                           "write the key as a string")
            top.key = value
            top.key_line = mark.line + 1
        else:
            key = top.key
            top.key = _NO_KEY
            if key is _MERGE:
                items = value if isinstance(value, list) else [value]
                if not all(isinstance(m, dict) for m in items):
                    raise fail("a merge key '<<' needs a mapping or a list of mappings", mark,
                               "merge an anchored mapping, e.g. <<: *defaults")
                top.merges.extend(items)
                return
            if key in top.lines:
                raise InputError(f"key {key!r} is given twice (lines {top.lines[key]} and {top.key_line}); "
                                 "YAML keeps only the last one", file=file,
                                 field=".".join(x for x in (_path(stack[:-1]), str(key)) if x),
                                 line=top.key_line,
                                 fix="remove one of them or merge their values")
            top.lines[key] = top.key_line
            try:
                c[key] = value
            except TypeError:
                raise fail(f"the key {key!r} cannot be used as a mapping key", mark, "write it as a string") \
                    from None

    while True:
        ev = loader.get_event()
        mark: Any = ev.start_mark
        if isinstance(ev, yaml.ScalarEvent):
            tag: Any = ev.tag
            if tag is None or tag == "!":
                tag = loader.resolve(yaml.ScalarNode, ev.value, ev.implicit)
            if tag == _STR:
                value: Any = ev.value
            elif tag == _MERGE and stack and isinstance(stack[-1].container, dict) and stack[-1].key is _NO_KEY:
                value = _MERGE
            else:
                ctor = loader.yaml_constructors.get(tag)
                if ctor is None or tag == _MERGE:
                    raise _unknown_tag(tag, ev.start_mark, file)
                try:
                    value = ctor(loader, yaml.ScalarNode(tag, ev.value, mark, None))
                except (ValueError, yaml.YAMLError) as e:
                    raise fail(f"cannot read {ev.value!r} as {tag}: {e}", ev.start_mark, "quote it") from None
            if ev.anchor is not None:
                anchors[ev.anchor] = (value, 1)
            if value is _MERGE:
                top = stack[-1]
                top.key = _MERGE
                top.key_line = mark.line + 1
                continue
            put(value, 1, ev.start_mark)
        elif isinstance(ev, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            if ev.tag not in _CONTAINER_TAGS:
                raise _unknown_tag(str(ev.tag), mark, file)
            if ev.anchor is not None:
                open_anchors.add(ev.anchor)
            stack.append(_Frame({} if isinstance(ev, yaml.MappingStartEvent) else [], ev.anchor))
        elif isinstance(ev, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            frame = stack.pop()
            value = frame.container
            if frame.merges:
                merged: dict[Any, Any] = {}
                for m in reversed(frame.merges):
                    merged.update(m)
                merged.update(value)
                value = merged
            if frame.anchor is not None:
                open_anchors.discard(frame.anchor)
                anchors[frame.anchor] = (value, frame.size)
            put(value, frame.size, ev.start_mark)
        elif isinstance(ev, yaml.AliasEvent):
            name = ev.anchor
            if name in open_anchors:
                raise fail(f"the alias *{name} refers to a node that contains it (a recursive alias)",
                           ev.start_mark, "remove the alias")
            if name not in anchors:
                raise fail(f"the alias *{name} has no anchor &{name} before it", ev.start_mark,
                           f"define &{name} first")
            value, size = anchors[name]
            added += size
            if added > ALIAS_EXPANSION_LIMIT:
                raise fail(f"YAML aliases expand to more than {ALIAS_EXPANSION_LIMIT:,} nodes; refusing to "
                           "read further (an alias bomb?)", ev.start_mark,
                           "write the repeated parts out, or reuse fewer and smaller anchors")
            put(value, size, ev.start_mark)
        elif isinstance(ev, yaml.DocumentStartEvent):
            anchors.clear()
            result = None
        elif isinstance(ev, yaml.DocumentEndEvent):
            docs.append(result)
        elif isinstance(ev, yaml.StreamEndEvent):
            return docs


def locate(text: str, loc: tuple[int | str, ...], *, key: bool = False) -> tuple[int, int] | None:
    """(line, column), 1-based, of the node at field path ``loc`` of the first document, or of the
    deepest node on the way that exists; with ``key``, of the mapping key ``loc[-1]`` itself."""
    loader = Loader(text)
    target = tuple(str(p) if not isinstance(p, int) else p for p in loc)
    best: tuple[int, tuple[int, int]] | None = None
    # one entry per open container: [is_mapping, path to it, next index or pending key, expecting key]
    stack: list[list[Any]] = []
    try:
        while True:
            ev = loader.get_event()
            if isinstance(ev, yaml.StreamEndEvent | yaml.DocumentEndEvent):
                break
            if not isinstance(ev, yaml.NodeEvent):
                if isinstance(ev, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                    stack.pop()
                    _advance(stack)
                continue
            mark: Any = ev.start_mark
            if stack and stack[-1][0] and stack[-1][3]:  # a mapping key
                top = stack[-1]
                k = ev.value if isinstance(ev, yaml.ScalarEvent) else None
                top[2] = k
                top[3] = False
                path = (*top[1], k)
                if key and path == target:
                    return mark.line + 1, mark.column + 1
                if isinstance(ev, yaml.CollectionStartEvent):
                    stack.append([isinstance(ev, yaml.MappingStartEvent), (None,), 0, True])
                continue
            path = (*stack[-1][1], stack[-1][2]) if stack else ()
            here = (mark.line + 1, mark.column + 1)
            if path == target[:len(path)] and (best is None or len(path) > best[0]):
                best = (len(path), here)
                if path == target and not key:
                    return here
            if isinstance(ev, yaml.CollectionStartEvent):
                stack.append([isinstance(ev, yaml.MappingStartEvent), path, 0, True])
            else:
                _advance(stack)
    except yaml.YAMLError:
        pass
    finally:
        loader.dispose()
    return best[1] if best else None


def _advance(stack: list[list[Any]]) -> None:
    """A value just ended inside the top container: move to its next index, or to the next key."""
    if not stack:
        return
    top = stack[-1]
    if top[0]:
        top[3] = True
    else:
        top[2] += 1


__all__ = ["ALIAS_EXPANSION_LIMIT", "Loader", "load_documents", "locate"]
