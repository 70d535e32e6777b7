"""A segment tree over templated routes: which routes can match a path, found without trying them all.

Each route is filed under its path's segments: a literal segment is a key of its node's dict, a segment
holding parameters that stay within one segment (``{id}``, ``{n:int}``, ``{name}.{ext}``) goes to the node's
one wildcard branch, and a segment whose parameter can span slashes (``{p:path}``, a mount's rest) files the
route at that node for every deeper path. A lookup walks the request path's segments through literal and
wildcard branches and returns the routes filed along the way, in the order they were added: a superset of
the routes that match, which the router then tries with their own full matchers. The tree knows nothing of
templates; ``fastrapi.routing`` turns a path into the keys filed here.
"""
from __future__ import annotations

from itertools import chain
from typing import Any, Iterable, Sequence

#: a key standing for a segment holding only parameters that cannot contain "/"
WILD: Any = object()
#: a key standing for the rest of the path from here on (a parameter that can span slashes)
REST: Any = object()


class _Node:
    __slots__ = ("children", "wild", "end", "rest")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.wild: _Node | None = None
        #: routes whose path ends here
        self.end: list[Any] = []
        #: routes that take any path that reaches this node (``{p:path}`` from here)
        self.rest: list[Any] = []


class SegmentIndex:
    """Routes filed by path segments; ``candidates(path)`` gives, in the order they were added, every route
    that may match ``path`` (and some that may not)."""

    __slots__ = ("root", "rank", "always")

    def __init__(self) -> None:
        self.root = _Node()
        #: id(route) -> the position it was first added at (how candidates from several nodes are merged)
        self.rank: dict[int, int] = {}
        #: routes that cannot be filed (a matcher of their own): candidates for every path
        self.always: list[Any] = []

    def add(self, route: Any, keys: Sequence[Any] | None) -> None:
        """File ``route`` under ``keys``: one per segment (a literal string, ``WILD``), optionally ending in
        ``REST``; None files it for every path."""
        self.rank.setdefault(id(route), len(self.rank))
        if keys is None:
            self.always.append(route)
            return
        node = self.root
        for key in keys:
            if key is REST:
                node.rest.append(route)
                return
            if key is WILD:
                if node.wild is None:
                    node.wild = _Node()
                node = node.wild
            else:
                child = node.children.get(key)
                if child is None:
                    child = node.children[key] = _Node()
                node = child
        node.end.append(route)

    def candidates(self, path: str) -> Sequence[Any]:
        """The routes filed along ``path``'s segments, in the order they were added."""
        found: list[list[Any]] = []
        _walk(self.root, path.split("/"), found)
        newline = "\n" in path and path[-1] == "\n"
        if newline:  # a regex's "$" also matches before a final newline: "/a/b\n" can match "/a/b"
            _walk(self.root, path[:-1].split("/"), found)
        if self.always:
            found.append(self.always)
        if len(found) == 1:
            return found[0]
        if not found:
            return ()
        routes: Iterable[Any] = chain.from_iterable(found)
        if newline:
            routes = {id(r): r for r in routes}.values()
        rank = self.rank
        return sorted(routes, key=lambda r: rank[id(r)])


def _walk(node: _Node, segments: list[str], found: list[list[Any]]) -> None:
    """Append to ``found`` the non-empty route lists of the nodes ``segments`` lead to from ``node``: down
    the literal branch, and down the wildcard branch too where a node has both."""
    i = 0
    for segment in segments:
        if node.rest:
            found.append(node.rest)
        child = node.children.get(segment)
        wild = node.wild
        i += 1
        if child is None:
            if wild is None:
                return
            node = wild
        else:
            if wild is not None:
                _walk(wild, segments[i:], found)
            node = child
    if node.rest:
        found.append(node.rest)
    if node.end:
        found.append(node.end)
