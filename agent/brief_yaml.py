"""Reading a brief file safely: everything a hostile or broken file can do is refused before it is
parsed or built, with the file and the place (line:col) named.

1. the file: a regular file, under a size limit (checked before reading), UTF-8 text without NUL bytes;
2. the YAML: plain YAML only (no tags), nesting and alias expansion bounded (checked on the parser's
   events and on the node graph, never by recursion), no key given twice in one mapping;
3. the result: plain data, and an index from each field path to where it is written.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

from agent.errors import BriefError

MAX_BRIEF_BYTES = 1_000_000
MAX_DEPTH = 40  # the schema nests 5 deep; 40 leaves room for options and catches a nesting bomb
MAX_EXPANDED_NODES = 100_000
MERGE_KEY = "tag:yaml.org,2002:merge"

# A field path (("formats", "duration_s"), ("segments", 0, "id")) -> (line, column), both from 1.
Places = dict[tuple, tuple[int, int]]


def at(path: Path, place: tuple[int, int] | None) -> str:
    """`file:line:col` (or just the file) for the start of an error line."""
    return f"{path}:{place[0]}:{place[1]}" if place else str(path)


def read_brief_bytes(path: Path) -> str:
    """The brief's text: refused when it is not a regular file, too large, binary or not UTF-8."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise BriefError(f"{path}: no such brief file") from None
    except OSError as exc:
        raise BriefError(f"{path}: cannot read the brief ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise BriefError(f"{path}: is a folder, not a brief file")
    if not stat.S_ISREG(info.st_mode):
        raise BriefError(f"{path}: not a regular file (a brief is a YAML file)")
    if info.st_size > MAX_BRIEF_BYTES:
        raise BriefError(f"{path}: the brief is {info.st_size} bytes, over the limit of {MAX_BRIEF_BYTES}")
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BRIEF_BYTES + 1)  # the file may have grown since stat
    except OSError as exc:
        raise BriefError(f"{path}: cannot read the brief ({exc.strerror})") from None
    if len(raw) > MAX_BRIEF_BYTES:
        raise BriefError(f"{path}: the brief is over the limit of {MAX_BRIEF_BYTES} bytes")
    return decode_text(path, raw)


def decode_text(path: Path, raw: bytes) -> str:
    """UTF-8 text (a byte-order mark allowed); a NUL byte or invalid UTF-8 is refused at its place."""
    if (nul := raw.find(b"\0")) >= 0:
        raise BriefError(f"{at(path, _place(raw, nul))}: binary data (a NUL byte); a brief is UTF-8 text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex().upper()
        raise BriefError(f"{at(path, _place(raw, exc.start))}: not UTF-8 text (byte 0x{bad}); "
                         "save the brief as UTF-8") from None  # fmt: skip


def _place(raw: bytes, offset: int) -> tuple[int, int]:
    """(line, column) of a byte offset, columns counted in characters where the line decodes."""
    line_start = raw.rfind(b"\n", 0, offset) + 1
    column = len(raw[line_start:offset].decode("utf-8", errors="replace")) + 1
    return raw.count(b"\n", 0, offset) + 1, column


def parse_brief_yaml(path: Path, text: str) -> tuple[Any, Places]:
    """Plain data from the brief's YAML and where each field is written; every problem a BriefError."""
    try:
        _check_nesting(path, text)
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise BriefError(f"{path}: the brief is empty")
            _check_graph(path, node)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or str(exc)).strip()
        if "could not determine a constructor" in problem:
            problem = f"tag not allowed (briefs are plain YAML): {problem.split('tag')[-1].strip()}"
        raise BriefError(f"{at(path, _mark(mark))}: YAML syntax: {problem}") from None
    except yaml.reader.ReaderError as exc:
        character = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        place = _place(text.encode("utf-8"), len(text[: exc.position].encode("utf-8")))
        raise BriefError(f"{at(path, place)}: a control character ({character}) is not allowed in a brief") from None
    except yaml.YAMLError as exc:
        raise BriefError(f"{path}: YAML: {' '.join(str(exc).split())}") from None
    return data, places(node)


def _mark(mark: Any) -> tuple[int, int] | None:
    return (mark.line + 1, mark.column + 1) if mark is not None else None


def _check_nesting(path: Path, text: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH from the parser's events (the composer would recurse)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise BriefError(f"{at(path, _mark(event.start_mark))}: nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _check_graph(path: Path, root: yaml.Node) -> None:
    """Bound the document once aliases are expanded (size and depth), and refuse repeated keys.

    Walks the node graph with an explicit stack and a memo, so an alias bomb or a recursive alias
    costs one visit per node, not per expansion.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            open_nodes.discard(key)
            if size[key] > MAX_EXPANDED_NODES:
                raise BriefError(f"{path}: too many aliases: the brief expands to over {MAX_EXPANDED_NODES} "
                                 "values (an alias bomb?)")  # fmt: skip
            if depth[key] > MAX_DEPTH:
                raise BriefError(f"{at(path, _mark(node.start_mark))}: nested more than {MAX_DEPTH} levels deep "
                                 "once aliases are expanded")  # fmt: skip
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise BriefError(f"{at(path, _mark(node.start_mark))}: a recursive alias (a value that contains itself)")
        open_nodes.add(key)
        _refuse_repeated_keys(path, node)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _refuse_repeated_keys(path: Path, node: yaml.Node) -> None:
    """A key written twice in one mapping is refused (YAML parsers differ on which one wins)."""
    if not isinstance(node, yaml.MappingNode):
        return
    seen: dict[str, yaml.Node] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == MERGE_KEY:
            continue
        if key.value in seen:
            first = seen[key.value].start_mark.line + 1
            raise BriefError(f"{at(path, _mark(key.start_mark))}: '{key.value}' is given twice in one mapping "
                             f"(first on line {first})")  # fmt: skip
        seen[key.value] = key


def places(node: yaml.Node) -> Places:
    """Where each field path is written: a mapping entry at its key, a list item at its start."""
    index: Places = {(): _mark(node.start_mark) or (1, 1)}
    stack: list[tuple[tuple, yaml.Node]] = [((), node)]
    while stack:
        prefix, current = stack.pop()
        if len(index) > MAX_EXPANDED_NODES:
            break
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    child = (*prefix, key.value)
                    index.setdefault(child, _mark(key.start_mark) or (1, 1))
                    stack.append((child, value))
        elif isinstance(current, yaml.SequenceNode):
            for i, item in enumerate(current.value):
                index.setdefault((*prefix, i), _mark(item.start_mark) or (1, 1))
                stack.append(((*prefix, i), item))
    return index


def nearest_place(index: Places, loc: tuple) -> tuple[int, int] | None:
    """The place of the longest prefix of `loc` that is written in the file."""
    loc = tuple(x if isinstance(x, int) else str(x) for x in loc)
    for n in range(len(loc), -1, -1):
        if loc[:n] in index:
            return index[loc[:n]]
    return None

