"""Formula trees: canonical text, parsing, length, evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from clipneuron_utils.explain.concepts import Concepts
from clipneuron_utils.explain.formulas import And, Leaf, Not, Or, evaluate, iou, parse

a, b, c = Leaf("pre:tok:man"), Leaf("hyp:tok:man"), Leaf("hyp:tag:JJ")


def test_canonical_text_in_the_original_style():
    assert Or(And(b, Not(a)), c).text == "((hyp:tok:man AND NOT pre:tok:man) OR hyp:tag:JJ)"
    assert And(a, Not(b)).text == "(pre:tok:man AND NOT hyp:tok:man)"
    assert Not(a).text == "NOT pre:tok:man"
    assert Not(And(a, b)).text == "(NOT (pre:tok:man AND hyp:tok:man))"
    assert Not(Not(a)).text == "(NOT NOT pre:tok:man)"
    assert str(Or(a, b)) == "(pre:tok:man OR hyp:tok:man)"


def test_parse_examples_and_redundant_parentheses():
    text = "((hyp:tok:man AND NOT pre:tok:man) OR hyp:tag:JJ)"
    assert parse(text) == Or(And(b, Not(a)), c)
    assert parse("(NOT a AND b)") == And(Not(Leaf("a")), Leaf("b"))
    assert parse("NOT (a OR b)") == Not(Or(Leaf("a"), Leaf("b")))
    assert parse("  ((a))  ") == Leaf("a")


@pytest.mark.parametrize("text", ["", "(a AND b", "a b", "(a AND)", "AND", "(a XOR b)", "(a AND b))", ")"])
def test_bad_text_raises_with_position(text):
    with pytest.raises(ValueError, match="position"):
        parse(text)


@pytest.mark.parametrize("name", ["", "a b", "f(x)", "AND", "NOT", "x\ty"])
def test_leaf_names_that_would_be_ambiguous_are_rejected(name):
    with pytest.raises(ValueError, match="leaf name"):
        Leaf(name)


def test_length_atoms_hash_and_equality():
    f = Or(And(b, Not(a)), And(c, a))
    assert f.length == 4 and f.atoms() == ("hyp:tok:man", "pre:tok:man", "hyp:tag:JJ", "pre:tok:man")
    assert {f, parse(f.text)} == {f}
    assert And(a, b) != Or(a, b) and And(a, b) != And(b, a)


def test_evaluate_with_dict_and_concepts():
    masks = {"pre:tok:man": np.array([1, 1, 0, 0], bool), "hyp:tok:man": np.array([1, 0, 1, 0], bool)}
    f = And(b, Not(a))
    assert evaluate(f, masks).tolist() == [False, False, True, False]
    concepts = Concepts(list(masks), sp.csc_matrix(np.stack(list(masks.values()), axis=1)))
    assert evaluate(f.text, concepts).tolist() == [False, False, True, False]
    assert iou(evaluate(Or(a, b), masks), masks["pre:tok:man"]) == 2 / 3
    assert iou(np.zeros(3, bool), np.zeros(3, bool)) == 0.0


NAMES = ["a", "ab", "N", "NO", "NOTE", "ANDY", "pre:tok:man", "hyp:tag:PRP$", "x-y", "3:30"]


def formulas(names=NAMES):
    leaves = st.sampled_from(names).map(Leaf)
    return st.recursive(
        leaves,
        lambda sub: st.one_of(
            sub.map(Not), st.builds(And, sub, sub), st.builds(Or, sub, sub)
        ),
        max_leaves=8,
    )


@settings(max_examples=300, deadline=None)
@given(formulas())
def test_parse_inverts_text(f):
    assert parse(f.text) == f
    assert parse(f.text).text == f.text


@settings(max_examples=200, deadline=None)
@given(formulas())
def test_length_is_atom_count(f):
    count = 0
    stack = [f]
    while stack:
        node = stack.pop()
        if isinstance(node, Leaf):
            count += 1
        elif isinstance(node, Not):
            stack.append(node.x)
        else:
            stack += [node.left, node.right]
    assert f.length == count == len(f.atoms())


@settings(max_examples=150, deadline=None)
@given(formulas(), formulas(), st.integers(0, 2**32 - 1))
def test_de_morgan_and_evaluation_agree_with_python(f, g, seed):
    rng = np.random.default_rng(seed)
    masks = {n: rng.random(12) < 0.5 for n in NAMES}
    ev = lambda h: evaluate(h, masks)  # noqa: E731
    assert (ev(Not(And(f, g))) == ev(Or(Not(f), Not(g)))).all()
    assert (ev(Not(Or(f, g))) == ev(And(Not(f), Not(g)))).all()
    assert (ev(Not(Not(f))) == ev(f)).all()

    def py(h, i):
        if isinstance(h, Leaf):
            return bool(masks[h.name][i])
        if isinstance(h, Not):
            return not py(h.x, i)
        if isinstance(h, And):
            return py(h.left, i) and py(h.right, i)
        return py(h.left, i) or py(h.right, i)

    assert ev(f).tolist() == [py(f, i) for i in range(12)]


# ------------------------------------------------------------------ known answers at the edges (issue 21)


def test_masks_given_as_numbers_count_as_true_where_non_zero():
    lookup = {"pre:tok:a": np.array([0, 2, 1, 0]), "pre:tok:b": np.array([1, 1, 0, 0])}
    got = evaluate("(pre:tok:a AND NOT pre:tok:b)", lookup)
    assert got.dtype == bool and got.tolist() == [False, False, True, False]
    assert iou(np.array([True, True, False]), np.array([0, 2, 0])) == pytest.approx(0.5)


def test_any_lookup_with_a_mask_method_is_used_through_it():
    """``evaluate`` asks a look-up with a ``mask`` method (Concepts, or anything shaped like it) through that
    method, not through indexing: such an object need not support ``[]``."""

    class MaskOnly:
        def mask(self, name):
            return {"pre:tok:a": np.array([1, 1, 0], bool), "pre:tok:b": np.array([0, 1, 1], bool)}[name]

    assert evaluate("(pre:tok:a AND NOT pre:tok:b)", MaskOnly()).tolist() == [True, False, False]


def test_iou_counts_non_zero_entries_of_either_argument_as_true():
    """Numeric masks on the left too: 2 and 1 are both "fires" (IoU 1 here), not bit patterns (2 & 1 == 0)."""
    assert iou(np.array([2, 1, 0]), np.array([True, True, False])) == 1.0
    assert iou(np.array([2, 0, 0]), np.array([1, 1, 0])) == pytest.approx(0.5)


@pytest.mark.parametrize("text, message", [
    ("(a AND", "unexpected end at position 6"),  # the end of the text
    ("(a XOR b)", "expected ')' or AND/OR at position 3"),  # where XOR starts
    ("OR", "unexpected 'OR' at position 0"),  # a leading operator is not a leaf name
    ("(a AND OR)", "unexpected 'OR' at position 7"),
    ("a b", "unexpected text after formula at position 2"),
])
def test_parse_errors_give_the_exact_position(text, message):
    """The error says where the text goes wrong (a character offset), so a bad formula in a table can be found."""
    with pytest.raises(ValueError) as info:
        parse(text)
    assert str(info.value) == f"{message} in formula {text!r}"
