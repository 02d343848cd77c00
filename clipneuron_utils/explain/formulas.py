"""Logical formulas over concepts: the explanations the search returns.

A formula is a tree of :class:`Leaf` (a concept name), :class:`Not`, :class:`And` and :class:`Or`
(frozen, hashable dataclasses). Its canonical text follows Mu & Andreas' output style,
``((hyp:tok:man AND NOT pre:tok:man) OR hyp:tag:JJ)``: binary nodes render ``(L AND R)`` /
``(L OR R)``; a NOT of a leaf renders ``NOT x``; a NOT of anything else renders ``(NOT ...)``.
:func:`parse` inverts the text, so formulas can be stored as plain strings in result tables. The text
is also the final tie-break of the search, which is why it must be canonical.

Leaf names may not hold whitespace, control characters or parentheses and may not be ``AND`` /
``OR`` / ``NOT``, so that the text stays unambiguous (concept names such as ``pre:tok:man`` never do).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

RESERVED = frozenset({"AND", "OR", "NOT"})
_BAD_NAME = re.compile(r"[\s()\x00-\x20]")


class _Node:
    """Shared behaviour: ``text``, ``length`` (number of atoms), ``atoms()``."""

    @cached_property
    def text(self) -> str:
        return _render(self)

    def __str__(self) -> str:
        return self.text

    @cached_property
    def length(self) -> int:
        return len(self.atoms())

    def atoms(self) -> tuple[str, ...]:
        """Leaf names, left to right (with repeats)."""
        out: list[str] = []
        stack: list[_Node] = [self]
        while stack:
            node = stack.pop()
            if isinstance(node, Leaf):
                out.append(node.name)
            elif isinstance(node, Not):
                stack.append(node.x)
            else:
                stack.extend((node.right, node.left))
        return tuple(out)


@dataclass(frozen=True)
class Leaf(_Node):
    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or _BAD_NAME.search(self.name) or self.name in RESERVED:
            raise ValueError(
                f"leaf name must be a non-empty string without whitespace, control characters or "
                f"parentheses, and not "
                f"AND/OR/NOT; got {self.name!r}"
            )


@dataclass(frozen=True)
class Not(_Node):
    x: Formula


@dataclass(frozen=True)
class And(_Node):
    left: Formula
    right: Formula


@dataclass(frozen=True)
class Or(_Node):
    left: Formula
    right: Formula


Formula = Leaf | Not | And | Or


def _render(f: Formula) -> str:
    if isinstance(f, Leaf):
        return f.name
    if isinstance(f, Not):
        return f"NOT {f.x.text}" if isinstance(f.x, Leaf) else f"(NOT {f.x.text})"
    op = "AND" if isinstance(f, And) else "OR"
    return f"({f.left.text} {op} {f.right.text})"


# ----------------------------------------------------------------------------------------- parsing

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


def _tokenize(text: str) -> list[tuple[str, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # only trailing whitespace is left
            break
        tokens.append((m.group(1), m.start(1)))
        pos = m.end()
    return tokens


def parse(text: str) -> Formula:
    """Formula from its text (inverse of ``formula.text``). Raises ValueError with the position.

    Grammar: ``primary := NAME | NOT primary | ( primary [AND|OR primary] )``. Redundant parentheses
    around a single formula are accepted.
    """
    if not isinstance(text, str):
        raise ValueError(f"formula text must be a string, got {type(text).__name__}")
    tokens = _tokenize(text)
    pos = 0

    def fail(msg: str):
        where = tokens[pos][1] if pos < len(tokens) else len(text)
        raise ValueError(f"{msg} at position {where} in formula {text!r}")

    def peek() -> str | None:
        return tokens[pos][0] if pos < len(tokens) else None

    def primary() -> Formula:
        nonlocal pos
        tok = peek()
        if tok is None:
            fail("unexpected end")
        if tok == "(":
            pos += 1
            left = primary()
            op = peek()
            if op in ("AND", "OR"):
                pos += 1
                right = primary()
                left = And(left, right) if op == "AND" else Or(left, right)
            if peek() != ")":
                fail("expected ')' or AND/OR")
            pos += 1
            return left
        if tok == "NOT":
            pos += 1
            return Not(primary())
        if tok in (")", "AND", "OR"):
            fail(f"unexpected {tok!r}")
        pos += 1
        return Leaf(tok)

    result = primary()
    if pos != len(tokens):
        fail("unexpected text after formula")
    return result


# -------------------------------------------------------------------------------------- evaluation


def evaluate(formula: Formula | str, lookup) -> np.ndarray:
    """Boolean mask of ``formula`` over pairs; ``lookup`` maps a leaf name to its mask.

    ``lookup`` may be a :class:`~clipneuron_utils.explain.concepts.Concepts` (uses ``.mask(name)``) or any
    mapping name → boolean array.
    """
    if isinstance(formula, str):
        formula = parse(formula)
    get = lookup.mask if hasattr(lookup, "mask") else lookup.__getitem__
    cache: dict[str, np.ndarray] = {}

    def ev(f: Formula) -> np.ndarray:
        if isinstance(f, Leaf):
            if f.name not in cache:
                cache[f.name] = np.asarray(get(f.name), dtype=bool).ravel()
            return cache[f.name]
        if isinstance(f, Not):
            return ~ev(f.x)
        if isinstance(f, And):
            return ev(f.left) & ev(f.right)
        return ev(f.left) | ev(f.right)

    return ev(formula)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (0 when both are empty)."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    union = int(np.count_nonzero(a | b))
    return int(np.count_nonzero(a & b)) / union if union else 0.0


def without(formula: Formula | str, atom: str) -> Formula | None:
    """``formula`` with every occurrence of ``atom`` taken out (a NOT over it goes too; an AND or OR that
    loses one side is its other side); None when nothing is left. What the formula says without that
    word, to ask how much of its IoU the word carries."""
    if isinstance(formula, str):
        formula = parse(formula)

    def cut(f: Formula) -> Formula | None:
        if isinstance(f, Leaf):
            return None if f.name == atom else f
        if isinstance(f, Not):
            x = cut(f.x)
            return None if x is None else Not(x)
        left, right = cut(f.left), cut(f.right)
        if left is None or right is None:
            return left if right is None else right
        return type(f)(left, right)

    return cut(formula)


__all__ = ["Formula", "Leaf", "Not", "And", "Or", "parse", "evaluate", "iou", "without", "RESERVED"]

