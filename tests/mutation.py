"""``make mutation``: mutation testing of the science core with mutmut, a kill rate per module, the survivors.

A green suite matters only if a wrong result turns it red. mutmut (``[tool.mutmut]`` in pyproject.toml names
the core and the tests that cover it) plants one small bug at a time in a copy of the package (``mutants/``)
and runs the tests that reach the mutated function; a mutant the tests do not notice *survives*.

What is sampled (1,003 mutants with the defaults, 50 per module; 22.8 min alone on these two cores, killing 92.7 %
of the non-equivalent ones and every verdict-rule mutant):

* every mutant of the **verdict rules** (:data:`ALWAYS`: the functions that turn figures into verdicts);
* a seeded random sample of ``--per-module`` mutants of every other core module (all of them with ``--all``), each
  module from its own stream, so that adding a module leaves the others' samples alone;
* not sampled: mutants that change only what a reader is told, never a number or a verdict: an error
  message or a warning (inside a ``raise``, a branch that ends by raising, a call of a local helper that
  raises, or ``warnings.warn``) and progress bars (``tqdm(...)``). The fault tests check the messages that
  matter.

Survivors that are *equivalent* (no input can tell them from the original) are listed in :data:`EQUIVALENT`
with the reason, keyed by module, function and the mutated line, and left out of the kill rate.

Usage: ``python tests/mutation.py [--per-module 50] [--seed 0] [--all] [--report-only] [--named]``; ``--named``
plants the mutant classes that once survived (:data:`NAMED`) by hand and shows each caught by its test. The kill rate
counts timeouts as kills (the mutant made a test hang, so the suite noticed) and "no tests" as survivors.

Speed: one ``mutmut run`` call for the whole sample (each call first reruns every reached test on the real code),
and, under mutmut only, a mutant's tests run fastest first (``tests/conftest.py``): mutmut stops at the first
failure, so a mutant a quick known-answer test kills never waits for the slow scorecard tests.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"
MUTMUT = [sys.executable, "-m", "mutmut"]

#: functions whose every mutant runs: the rules that turn numbers into verdicts (:mod:`clipneuron_utils.stats.verdicts`,
#: the TOST they rest on, the causal verdicts)
ALWAYS = (
    "clipneuron_utils.stats.verdicts.x_effect_status",
    "clipneuron_utils.stats.verdicts.x_equivalence_status",
    "clipneuron_utils.stats.verdicts.x_literal_status",
    "clipneuron_utils.stats.verdicts.x_count_status",
    "clipneuron_utils.stats.verdicts.x_verdict",
    "clipneuron_utils.stats.verdicts.x_shows_effect",
    "clipneuron_utils.stats.verdicts.x_mde",
    "clipneuron_utils.stats.verdicts.x_stable",
    "clipneuron_utils.stats.verdicts.x_leave_out_subsets",
    "clipneuron_utils.stats.verdicts.x_robustness",
    "clipneuron_utils.stats.replicates.x_equivalence",
    "clipneuron_utils.stats.causal.x_rule",
    "clipneuron_utils.stats.causal.x__status",
)

#: the mutant classes that once survived (issue 21) and the edges of each verdict rule, each planted by hand: (what,
#: file, original, mutant, the test that must catch it). ``--named`` shows each test failing on its mutant and passing on the real code.
NAMED = (
    ("verdict: 'CI below 0' read as 'estimate below 0'", "clipneuron_utils/stats/verdicts.py", "    if lo > 0:\n",
     "    if est > 0:\n", "tests/test_verdicts.py::test_effect_status_yes_needs_the_interval_beyond_0_and_the_estimate_at_least_the_minimum"),
    ("verdict: a CI touching 0 counted as excluding it", "clipneuron_utils/stats/verdicts.py", "    if lo > 0:\n",
     "    if lo >= 0:\n", "tests/test_verdicts.py::test_effect_status_yes_needs_the_interval_beyond_0_and_the_estimate_at_least_the_minimum"),
    ("verdict: reaching the minimum effect read as excluding it", "clipneuron_utils/stats/verdicts.py",
     'return "small" if hi < floor else "below"', 'return "small" if hi <= floor else "below"',
     "tests/test_verdicts.py::test_effect_status_small_and_below"),
    ("verdict: the opposite direction's significance dropped", "clipneuron_utils/stats/verdicts.py",
     '    if hi < 0:\n        return "no"  # the opposite direction is significant\n', "",
     "tests/test_verdicts.py::test_effect_status_no_where_the_opposite_direction_is_significant_whatever_the_mde"),
    ("verdict: a test that cannot detect the minimum reads 'no'", "clipneuron_utils/stats/verdicts.py",
     '    if math.isfinite(detectable) and detectable > floor:\n        return "insensitive"\n', "",
     "tests/test_verdicts.py::test_effect_status_insensitive_when_the_interval_holds_0_and_the_mde_exceeds_the_minimum"),
    ("verdict: an MDE equal to the minimum read as insensitive", "clipneuron_utils/stats/verdicts.py", "detectable > floor", "detectable >= floor",
     "tests/test_verdicts.py::test_effect_status_at_an_mde_equal_to_the_minimum_the_test_is_sensitive"),
    ("MDE: the one-sided power quantile read as two-sided", "clipneuron_utils/stats/verdicts.py", "_critical(df, power)",
     "_critical(df, 1 - (1 - power) / 2)", "tests/test_verdicts.py::test_mde_two_sided_is_the_sum_of_the_two_t_quantiles_times_se"),
    ("MDE: TOST's one-sided 1 − α read as 1 − α/2", "clipneuron_utils/stats/verdicts.py", "_critical(df, 1 - alpha) +",
     "_critical(df, 1 - alpha / 2) +",
     "tests/test_verdicts.py::test_mde_of_an_equivalence_test_uses_one_sided_alpha_and_the_tost_power_quantile"),
    ("TOST: an MDE equal to the margin read as insensitive", "clipneuron_utils/stats/verdicts.py", "detectable > margin", "detectable >= margin",
     "tests/test_verdicts.py::test_equivalence_status_at_an_mde_equal_to_the_margin_the_test_is_sensitive"),
    ("literal: p = α read as significant", "clipneuron_utils/stats/verdicts.py", "p >= alpha", "p > alpha",
     "tests/test_verdicts.py::test_literal_status_not_significant_means_p_at_least_alpha"),
    ("verdict: an unknown control passes", "clipneuron_utils/stats/verdicts.py", "    if after is None:\n        return NOT_TESTABLE\n", "",
     "tests/test_verdicts.py::test_verdict_not_testable"),
    ("verdict: an unclear control read as 'only before controls'", "clipneuron_utils/stats/verdicts.py",
     'if after in ("no", "small"):', 'if after in ("no", "small", "unclear"):', "tests/test_verdicts.py::test_verdict_after_the_controls"),
    ("verdict: a random network outranks a failed control", "clipneuron_utils/stats/verdicts.py",
     '    if after in ("no", "small"):\n        return BEFORE_CONTROLS\n    if random_shows:\n        return HOLDS_RANDOM\n',
     '    if random_shows:\n        return HOLDS_RANDOM\n    if after in ("no", "small"):\n        return BEFORE_CONTROLS\n',
     "tests/test_verdicts.py::test_verdict_random_networks_come_after_the_controlled_figure_and_before_its_unclear_reading"),
    ("control: a random network passes on its first stage alone", "clipneuron_utils/stats/verdicts.py",
     'return before == "yes" and after in ("yes", "n/a")', 'return before == "yes"',
     "tests/test_verdicts.py::test_a_random_network_shows_the_effect_only_through_both_stages"),
    ("verdict: half the seeds no longer enough", "clipneuron_utils/stats/verdicts.py", "* 2 >= len(found)",
     "* 2 > len(found)", "tests/test_verdicts.py::test_count_status_needs_at_least_half_the_seeds"),
    ("stability: a single seed's verdict read as stable", "clipneuron_utils/stats/verdicts.py", "return bool(found) and all(", "return all(",
     "tests/test_verdicts.py::test_a_verdict_is_stable_only_when_every_subset_gives_it"),
    ("stability: two seeds left after leaving out two not kept", "clipneuron_utils/stats/verdicts.py", "if len(seeds) - n_out < min_left:",
     "if len(seeds) - n_out <= min_left:",
     "tests/test_verdicts.py::test_leave_out_subsets_keep_at_least_min_left_and_leave_out_at_most_max_out"),
    ("robustness: 'as in a random network' not read as holding", "clipneuron_utils/stats/verdicts.py", "if v in HOLDING]", "if v == HOLDS]",
     "tests/test_verdicts.py::test_robustness_readings"),
    ("TOST: the 90 % interval widened to 95 %", "clipneuron_utils/stats/replicates.py", "crit = dist.ppf(1 - alpha)",
     "crit = dist.ppf(1 - alpha / 2)", "tests/test_verdicts.py::test_tost_known_answers"),
    ("null: the guard of unexplained units deleted", "clipneuron_utils/explain/controls.py",
     '    out.loc[~out["explained"], "null_count"] = -1\n', "",
     "tests/test_controls.py::test_an_unexplained_unit_gets_no_null_whatever_bin_it_shares"),
    ("threshold: every pair tied at the k-th activation fires", "clipneuron_utils/explain/search.py",
     "mask = above | (tied & (np.cumsum(tied, axis=0) <= k - above.sum(axis=0)))", "mask = above | tied",
     "tests/test_search.py::test_top_alpha_fires_on_exactly_its_top_k_pairs_ties_by_probe_order"),
    ("threshold: a pair at 0 fires at top-alpha", "clipneuron_utils/explain/search.py", "    return mask & (acts > 0)\n",
     "    return mask\n", "tests/test_search.py::test_top_alpha_fires_on_exactly_its_top_k_pairs_ties_by_probe_order"),
    ("regime: min_acts not scaled at top-alpha", "clipneuron_utils/explain/regime.py",
     "return min(int(min_acts), top_count(n_pairs, alpha))", "return int(min_acts)",
     "tests/test_regime.py::test_regime_min_acts_keeps_every_full_unit_explained_and_leaves_the_paper_threshold_alone"),
    ("search: the default min_acts drifts from 500", "clipneuron_utils/explain/search.py", "min_acts: int = 500,",
     "min_acts: int = 400,", "tests/test_search.py::test_the_default_min_acts_is_the_originals"),
    ("bootstrap: percentile interval swapped for the basic one", "clipneuron_utils/stats/uncertainty.py",
     'method="percentile"', 'method="basic"',
     "tests/test_uncertainty.py::test_the_interval_is_the_percentile_one_not_the_basic_one"),
    ("bootstrap: the NaN fallback dropped", "clipneuron_utils/stats/uncertainty.py", "if finite.all():",
     "if True:", "tests/test_uncertainty.py::test_bootstrap_correlation_interval_and_undefined_cases"),
    ("concepts: 'of' dropped from the skip list", "clipneuron_utils/explain/vocabulary.py", '"of", ', "",
     "tests/test_concepts.py::test_the_skip_list_is_the_originals"),
)

#: (module, function, the mutated line as mutmut writes it) -> why no input can tell it from the original
EQUIVALENT: dict[tuple[str, str, str], str] = {
    ("clipneuron_utils.stats.replicates", "x_equivalence",
     "dist = sps.t(df) if (math.isfinite(df)) or True else sps.norm()"):
        "scipy's t with infinite df is the normal to the last bit or two (ppf(0.975) 1.9599639845400538 against "
        "1.959963984540054): no figure, interval or verdict can tell them apart",
    ("clipneuron_utils.stats.verdicts", "x__critical",
     "return float(sps.t.ppf(q, df) if (math.isfinite(df)) or True else sps.norm.ppf(q))"):
        "scipy's t quantile with infinite df is the normal's to the last bit or two: no MDE or status can tell them "
        "apart",
    ("clipneuron_utils.explain.controls", "x_matched_null",
     "real = beam_search_by_length(neuron_masks, concepts, progress=False, **search_params)"):
        "n_jobs only chooses how many processes search; the search's frame is identical row for row and bit for "
        "bit whatever it is (tests/test_search_parallel.py), so dropping it changes no result",
    ("clipneuron_utils.explain.controls", "x_summarise",
     'out["p_value"] = np.where(out["explained"], (1 + out["hits"].fillna(1)) / (out["n_draws"] + 1), np.nan)'):
        "hits is NaN only for unexplained units (every explained unit's null has draws, or summarise stops), "
        "and their p-value is NaN whatever hits is",
    ("clipneuron_utils.explain.beam", "xǁSearcherǁinitial_duplicates",
     'chosen = np.argsort(-score, kind="STABLE")[:k]  # position 2c: atom c, 2c + 1: its twin'):
        "numpy reads the sort kind by its first letter, case-insensitively: 'STABLE' is the same stable sort",
    ("clipneuron_utils.explain.concepts", "xǁConceptsǁload", "with np.load(path, allow_pickle=True) as z:"):
        "the file holds only numeric and string arrays (Concepts.save writes no objects), which load the same "
        "whether pickles are allowed or not",
    ("clipneuron_utils.stats.causal", "x_rule", 'one_seed = pooled is not None and pooled.get("k", 1) < 2'):
        "k is read from the pooled figure whenever it is there; without it, 0 and 1 are both below 2",
    ("clipneuron_utils.models.ablation", "x_fill_values", "return np.zeros(activations.shape[1], dtype=None)"):
        "np.zeros is float64 by default",
    ("clipneuron_utils.models.ablation", "x_fill_values", "return np.zeros(activations.shape[1], )"):
        "np.zeros is float64 by default",
    ("clipneuron_utils.models.ablation", "x_fill_values", "return activations.astype(None).mean(axis=0)"):
        "numpy reads the dtype None as float64",
    ("clipneuron_utils.explain.controls", "x_firing_bins", "return np.where(counts > 1, np.maximum(centre, 1), counts)"):
        "a count of 1 is its own bin centre (log 1 = 0), so 1 maps to 1 on either side of the comparison",
    ("clipneuron_utils.stats.replicates", "x_pool",
     'res = combine_effects(est, var, method_re="ITERATED", use_t=True, alpha=alpha)'):
        "statsmodels lower-cases method_re (string_like(..., lower=True)) before reading it",
    ("clipneuron_utils.stats.single_neurons", "x__activation_bins", "code = np.full(len(acts), -1, )  # -1: the not-firing bin"):
        "np.full of the Python int -1 is already int64 on the 64-bit platforms this runs on, and only int64 codes "
        "are written into it",
    ("clipneuron_utils.stats.uncertainty", "x_bootstrap_means", 'with np.errstate(invalid="ignore", divide=None):'):
        "the only zero denominators there are 0/0 (measures with no defined units), an 'invalid' operation that is "
        "still ignored; errstate changes warnings, never values",
    ("clipneuron_utils.stats.uncertainty", "x__pair_correlations",
     "second = dict(zip(names, sums[len(names): 3 * len(names)]))"):
        "zip stops after len(names) items, so the rows taken are those of sums[n:2n] either way",
    ("clipneuron_utils.stats.uncertainty", "x_bootstrap_mean",
     "[len(s) for s in arrays], lambda *r: np.mean([x.mean(axis=+1) for x in r], axis=0), 1,"):
        "scipy.stats.bootstrap (vectorized, no batch) passes only 2-D (resamples × units) arrays, where axis 1 "
        "is axis -1",
    ("clipneuron_utils.stats.compositionality", "x_formula_kinds",
     '"share": mixes[mix] / total, "n_atoms": math.nan, "ATOM_SHARE": math.nan})'):
        "the frame is built with explicit columns: the misspelt key is dropped and atom_share is NaN in operator "
        "rows either way",
    ("clipneuron_utils.explain.beam", "xǁSearcherǁselect_duplicates", "zeros = np.zeros(K, )"):
        "the zeros only feed lexsort keys of small whole numbers, which float64 holds exactly and sorts the same",
    ("clipneuron_utils.explain.concepts", "x__membership",
     "cols = np.fromiter((lookup.get(t, -1) for t in items), dtype=None, count=len(items))"):
        "float64 column indices are exact small whole numbers, and scipy turns them into the same int32 index arrays",
    ("clipneuron_utils.explain.concepts", "xǁConceptsǁsave", '"names": np.array(self.names, ),'):
        "names are a list of str, which numpy stores as unicode either way (an empty list loads back as [] too)",
    ("clipneuron_utils.explain.concepts", "x__synonym_occurrences",
     "return np.array(rows, dtype=np.int64), np.array(cols, dtype=None)"):
        "a list of Python ints becomes int64 anyway; an empty one becomes an empty float array that builds the "
        "same (empty) sparse matrix",
    ("clipneuron_utils.explain.search", "x_beam_search_by_length", "n_fires = neuron_masks.sum(axis=0).astype(None)"):
        "the counts are only compared with min_acts and read through int(); below the searcher's 2**24 limit "
        "float64 holds them exactly",
    ("clipneuron_utils.explain.search", "x_beam_search_by_length", 'frame["iou"] = frame["iou"].astype(None)'):
        "astype(None) is float64, which is what astype(float) gives",
}

def mutant_files() -> list[Path]:
    return sorted(MUTANTS.glob("clipneuron_utils/**/*.py.meta"))


def statuses() -> dict[str, int | None]:
    """Every mutant's exit code so far (None: not run yet) — cheap enough to poll."""
    out = {}
    for meta in mutant_files():
        try:
            out.update(json.loads(meta.read_text())["exit_code_by_key"])
        except (OSError, ValueError):  # being rewritten by mutmut: read it next time
            pass
    return out


def function_of(name: str) -> str:
    """``pkg.mod.x_func__mutmut_3`` -> ``pkg.mod.x_func``."""
    return name.rsplit("__mutmut_", 1)[0]


def changes(meta: Path) -> dict[str, tuple[list[str], list[str], list[int], tuple[set[int], set[int]]]]:
    """Per mutant of one file: (original lines, mutated lines, changed line offsets in the function, the
    original's :func:`message_lines`, computed once per function)."""
    source = meta.with_suffix("").read_text().splitlines()
    spans = json.loads(meta.with_suffix("").with_suffix(".py.spans").read_text())["spans"]
    out, messages = {}, {}
    for key, (start, end) in spans.items():
        if key.endswith("__mutmut_orig"):
            continue
        prefix = key.rsplit("__mutmut_", 1)[0]
        orig = spans.get(prefix + "__mutmut_orig")
        if orig is None:
            continue
        a = source[orig[0]:orig[1]]
        if prefix not in messages:
            messages[prefix] = message_lines(a)
        b = [line.replace(key, prefix + "__mutmut_orig") for line in source[start:end]]
        changed = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        if len(a) != len(b):
            changed = [op[1] for op in difflib.SequenceMatcher(None, a, b).get_opcodes() if op[0] != "equal"]
        out[key] = (a, b, changed, messages[prefix])
    return out


def _tree(lines: list[str]):
    indent = len(lines[0]) - len(lines[0].lstrip()) if lines else 0
    try:
        return ast.parse("\n".join(line[indent:] if line[:indent].strip() == "" else line for line in lines))
    except SyntaxError:
        return None


def message_lines(lines: list[str]) -> tuple[set[int], set[int]]:
    """Offsets of a function's lines that only shape what a reader is told: (``raise`` and ``warnings.warn``
    statements, left out before sampling; those and also a branch that ends by raising (the text it builds
    first), calls of a local helper that raises (``fail``) and progress bars (``tqdm(...)``), left out after)."""
    tree = _tree(lines)
    if tree is None:
        return set(), set()
    raisers = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.body
               and isinstance(node.body[-1], ast.Raise) and node is not tree.body[0]}
    raising, shaping = set(), set()

    def span(node, *into):
        for found in into:
            found.update(range(node.lineno - 1, node.end_lineno))

    for node in ast.walk(tree):
        if isinstance(node, ast.Raise):
            span(node, raising, shaping)
        elif isinstance(node, ast.If) and node.body and isinstance(node.body[-1], ast.Raise):
            for statement in node.body:
                span(statement, shaping)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "warn":
                span(node, raising, shaping)
            elif name in raisers or name == "tqdm":
                span(node, shaping)
    return raising, shaping


def catalogue() -> dict[str, dict]:
    """Every generated mutant: module, function, status, the changed line, and whether it only changes a message."""
    from mutmut.stats import status_by_exit_code

    out = {}
    for meta in mutant_files():
        data = json.loads(meta.read_text())
        diffs = changes(meta)
        module = ".".join(meta.relative_to(MUTANTS).with_suffix("").with_suffix("").parts)
        for name, code in data["exit_code_by_key"].items():
            a, b, changed, (raising, messages) = diffs.get(name[len(module) + 1:], ([], [], [], (set(), set())))
            status = status_by_exit_code[code]
            out[name] = {
                "module": module, "function": function_of(name),
                "status": "killed" if status == "caught by type check" else status,
                "before": " / ".join(a[i].strip() for i in changed if i < len(a)),
                "after": " / ".join(b[i].strip() for i in changed if i < len(b)),
                "raise_only": bool(changed) and all(i in raising for i in changed),
                "message_only": bool(changed) and all(i in messages for i in changed),
            }
    return out


def sample(mutants: dict[str, dict], per_module: int | None, seed: int) -> list[str]:
    """All verdict-rule mutants, and ``per_module`` others per module (all with None), drawn from the mutants
    outside ``raise``/``warn`` statements; then those that only shape a message or a progress bar are left out."""
    chosen, by_module = [], defaultdict(list)
    for name, m in sorted(mutants.items()):
        if m["raise_only"]:
            continue
        if m["function"] in ALWAYS:
            chosen.append(name)
        else:
            by_module[m["module"]].append(name)
    for module, names in sorted(by_module.items()):
        rng = random.Random(f"{seed}:{module}")  # one stream per module: a new module leaves the others' samples alone
        chosen += names if per_module is None or len(names) <= per_module else rng.sample(names, per_module)
    return [name for name in chosen if not mutants[name]["message_only"]]  # and what only shapes a message


def equivalent_reason(m: dict) -> str | None:
    return EQUIVALENT.get((m["module"], m["function"].rsplit(".", 1)[-1], m["after"]))


def report(mutants: dict[str, dict], names: list[str]) -> int:
    """Print the kill rate per module and the survivors; return the number of non-equivalent survivors."""
    rows = defaultdict(Counter)
    survivors = []
    for name in names:
        m = mutants[name]
        status = m["status"]
        if status == "survived" or status == "no tests":
            reason = equivalent_reason(m)
            if reason:
                status = "equivalent"
            else:
                survivors.append((name, m))
        group = "verdict rules" if m["function"] in ALWAYS else m["module"].replace("clipneuron_utils.", "")
        rows[group][status] += 1
    print(f"\n{'module':<28}{'mutants':>8}{'killed':>8}{'survived':>9}{'no tests':>9}{'equiv.':>7}{'unrun':>7}"
          f"{'kill rate':>10}")
    total = Counter()
    for group in sorted(rows, key=lambda g: (g != "verdict rules", g)):
        c = rows[group]
        total.update(c)
        print(_row(group, c))
    print(_row("all sampled", total))
    if survivors:
        print(f"\nSurvivors ({len(survivors)}): module.function — the line before → after")
        for name, m in survivors:
            print(f"  {name.replace('clipneuron_utils.', '')} [{m['status']}]\n      {m['before']}\n    → {m['after']}")
    return len(survivors)


def _row(group: str, c: Counter) -> str:
    killed = c["killed"] + c["timeout"]
    judged = killed + c["survived"] + c["no tests"]
    rate = f"{killed / judged:.1%}" if judged else "—"
    return (f"{group:<28}{sum(c.values()):>8}{killed:>8}{c['survived']:>9}{c['no tests']:>9}{c['equivalent']:>7}"
            f"{c['not checked']:>7}{rate:>10}")


def _pytest(test: str, cwd: Path) -> int:
    """Run one test with ``cwd`` first on the path (so a mutated copy of the package there is what it imports)."""
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--tb=no",
                           str(ROOT / test)], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


def named() -> int:
    """Plant each of :data:`NAMED` in a copy of the package; its test must fail there (exit 1: a failed
    assertion, not an error) and pass on the real code. Returns the number of classes not shown so."""
    import shutil
    import tempfile

    bad = 0
    print(f"{'mutant class':<62}{'on the mutant':>15}{'on the code':>13}")
    for what, path, original, mutant, test in NAMED:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(ROOT / "clipneuron_utils", Path(tmp) / "clipneuron_utils")
            target = Path(tmp) / path
            text = target.read_text()
            if text.count(original) != 1:
                print(f"{what:<62}  the original text is not found once in {path}: update NAMED")
                bad += 1
                continue
            target.write_text(text.replace(original, mutant))
            on_mutant = _pytest(test, Path(tmp))
        on_code = _pytest(test, ROOT)
        ok = on_mutant == 1 and on_code == 0
        bad += not ok
        print(f"{what:<62}{'fails' if on_mutant == 1 else f'exit {on_mutant}':>15}"
              f"{'passes' if on_code == 0 else f'exit {on_code}':>13}{'' if ok else '  <- not shown'}")
    return bad


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-module", type=int, default=50, help="mutants sampled per module (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    parser.add_argument("--all", action="store_true", help="every mutant (hours on two cores)")
    parser.add_argument("--report-only", action="store_true", help="report the last run, run nothing")
    parser.add_argument("--named", action="store_true", help="only show the named mutant classes caught (about 3 min)")
    args = parser.parse_args(argv)
    if args.named:
        return 1 if named() else 0
    start = time.monotonic()
    if not args.report_only:
        # the first call generates every mutant and records which tests reach which function
        print("mutmut: generating the mutants and recording which tests reach which function (about 5 min) …",
              flush=True)
        subprocess.run([*MUTMUT, "run", ALWAYS[-1] + "__mutmut_1"], cwd=ROOT, check=False,
                       stdout=subprocess.DEVNULL)
    mutants = catalogue()
    if not mutants:
        print("no mutants: run without --report-only first", file=sys.stderr)
        return 2
    names = sample(mutants, None if args.all else args.per_module, args.seed)
    todo = [] if args.report_only else [n for n in names if mutants[n]["status"] != "killed"]  # survivors again:
    if todo:  # the tests may have grown (and mutmut run with no names would run every mutant: hours)
        with tqdm(total=len(todo), desc="mutants run", unit="mutant") as bar:
            # one call (each call first reruns every test that reaches its mutants on the real code); even --all's
            # ~11,000 names stay far below the kernel's limit on a command line
            job = subprocess.Popen([*MUTMUT, "run", *todo], cwd=ROOT, stdout=subprocess.DEVNULL)
            while job.poll() is None:
                time.sleep(5)
                done = statuses()  # once per poll (not once per mutant: that kept a core busy)
                bar.n = sum(done.get(n) is not None for n in todo)
                bar.refresh()
            bar.n = len(todo)
            bar.refresh()
        if job.returncode:
            print(f"mutmut stopped with exit code {job.returncode}; the results so far are kept in mutants/: "
                  "run make mutation again to go on", file=sys.stderr)
        mutants = catalogue()
    skipped = sum(m["message_only"] for m in mutants.values())
    print(f"{len(mutants)} mutants generated; {skipped} change only a message, a warning or a progress bar (not sampled); "
          f"{len(names)} sampled (seed {args.seed}, {'all' if args.all else f'{args.per_module} per module'}, every "
          f"verdict-rule mutant); {time.monotonic() - start:.0f} s")
    report(mutants, names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
