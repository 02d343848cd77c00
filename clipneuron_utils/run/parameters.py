"""The chapters' parameters, read from their ``parameters`` cells and checked before any kernel starts.

A typo in ``params/<profile>.yaml`` or a ``-p`` value of the wrong type used to surface ~20 s in, after a
kernel had started and chapter 01_data had run — or never (an unknown key was ignored, a checksum of 64 zeros
became the integer 0 and the check was skipped). Here every parameter cell is read from the jupytext
sources with :mod:`ast` (no kernel, no papermill: milliseconds), and every value is checked against the
type the cell declares and the values the science allows.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

# The allowed names; kept here (no torch import) and checked against heads / run.caches by the tests.
ENCODERS = ("clip", "lstm", "minilm")
ENCODINGS = ("standard", "wordnet")
CONTROLS = ("clip-untrained", "lstm-untrained", "clip-shuffled", "lstm-shuffled", "minilm-shuffled")
DATA_SOURCES = ("snli", "synthetic")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_SPLIT = re.compile(r"[A-Za-z0-9_.]+")
_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "list": list}


class ParameterError(ValueError):
    """A parameter that is unknown, of the wrong type, or out of range; the message says what to do."""


@dataclass(frozen=True)
class Parameter:
    """One line of a ``parameters`` cell: ``name: type = default  # help``."""

    name: str
    type: str
    default: Any
    help: str
    chapter: str


def _parameter_cell(source: str) -> tuple[list[str], int] | None:
    """Lines of the cell tagged ``parameters`` in a py:percent source, and the line number of its first."""
    lines = source.splitlines()
    for start, line in enumerate(lines):
        if line.startswith("# %%") and re.search(r"""tags\s*=\s*\[[^\]]*["']parameters["']""", line):
            end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("# %%")), len(lines))
            return lines[start + 1 : end], start + 2
    return None


def read_parameters(source_path: str | Path) -> dict[str, Parameter]:
    """The parameters a chapter source declares, in order (``{}`` when it has no parameters cell)."""
    path = Path(source_path)
    cell = _parameter_cell(path.read_text(encoding="utf-8"))
    if cell is None:
        return {}
    lines, first = cell
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError as exc:
        raise ParameterError(f"{path}, line {first + (exc.lineno or 1) - 1}: the parameters cell is not valid Python") from None
    params = {}
    for node in tree.body:
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name) or node.value is None:
            raise ParameterError(f"{path}, line {first + node.lineno - 1}: a parameters cell holds only "
                                 "`name: type = value  # help` lines")
        kind = ast.unparse(node.annotation)
        if kind not in _TYPES:
            raise ParameterError(f"{path}, line {first + node.lineno - 1}: type {kind!r} is not one of {', '.join(_TYPES)}")
        line = lines[node.lineno - 1]
        help_text = line.split("#", 1)[1].strip() if "#" in line[node.end_col_offset:] else ""
        params[node.target.id] = Parameter(node.target.id, kind, ast.literal_eval(node.value), help_text, path.stem)
    return params


# ------------------------------------------------------------------------------------------ values


def _is(kind: str, value: Any) -> bool:
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, _TYPES[kind])


def _int_at_least(low: int) -> Callable[[Any], str | None]:
    return lambda v: None if v >= low else f"must be ≥ {low}"


def _zero_or_at_least(low: int, why: str) -> Callable[[Any], str | None]:
    return lambda v: None if v == 0 or v >= low else f"must be 0 (none) or ≥ {low}: {why}"


def _float_in(low: float, high: float, *, low_open: bool = False, high_open: bool = True) -> Callable[[Any], str | None]:
    def check(v):
        if not math.isfinite(v):
            return "must be a finite number"
        ok = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
        return None if ok else f"must lie in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    return check


def _subset_of(allowed: tuple[str, ...], empty: bool = False) -> Callable[[Any], str | None]:
    def check(v):
        bad = [x for x in v if x not in allowed]
        if (not v and not empty) or bad:
            return f"must be a {'' if empty else 'non-empty '}list drawn from {', '.join(allowed)}" + (f" ({', '.join(map(repr, bad))} is not)" if bad else "")
        return None
    return check


def _one_of(allowed: tuple[str, ...]) -> Callable[[Any], str | None]:
    return lambda v: None if v in allowed else f"must be one of {', '.join(allowed)}"


def _sha256(v: str) -> str | None:
    return None if v == "" or _HEX64.fullmatch(v) else "must be empty or 64 hexadecimal digits (a SHA-256), quoted in YAML"


def _splits(v: list) -> str | None:
    bad = [s for s in v if not isinstance(s, str) or not _SPLIT.fullmatch(s)]
    return "must be a non-empty list of SNLI split names such as train, train_0.01, test" if not v or bad else None


def _split(v: str) -> str | None:
    return None if _SPLIT.fullmatch(v) else "must be an SNLI split name such as dev or test"


def _lengths(v: list) -> str | None:
    return None if v and all(_is("int", x) and x >= 1 for x in v) else "must be a non-empty list of formula lengths ≥ 1"


def _written_pairs(v: list) -> str | None:
    ok = all(isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) and s.strip() for s in p) for p in v)
    return None if ok else 'must be a list of [premise, hypothesis] pairs of non-empty strings, e.g. [["A man sleeps.", "A person sleeps."]]'


def _words(v: list) -> str | None:
    return None if all(isinstance(w, str) and w for w in v) else "must be a list of words"


def _non_empty(v: str) -> str | None:
    return None if v.strip() else "must not be empty"


_DEVICE = re.compile(r"auto|cpu|cuda(?::\d+)?")  # the same as encoders.DEVICE_PATTERN (a test checks it)


def _device(v: str) -> str | None:
    """auto / cpu / cuda / cuda:N; whether CUDA is there is checked when the chapter starts (it needs torch)."""
    if _DEVICE.fullmatch(v):
        return None
    hint = " (for a GPU write cuda or cuda:0)" if v.strip().lower() in ("gpu", "gpu:0", "cuda0", "nvidia") else ""
    return ("must be auto (CUDA when available, else CPU), cpu, cuda or cuda:N with N a GPU index such as 0" + hint)


def _alphas(v: list) -> str | None:
    """The firing-regime sweep: numbers in (0, 1), no repeats (an empty list: no sweep)."""
    from ..explain.regime import check_alphas

    try:
        check_alphas(v)
    except ValueError as exc:
        return "must be a list of distinct numbers in (0, 1), e.g. [0.2, 0.1, 0.05, 0.02] (" + str(exc) + ")"
    return None


#: what each parameter may be, beyond its declared type (a parameter not listed takes any value of its type)
RULES: dict[str, Callable[[Any], str | None]] = {
    "data_source": _one_of(DATA_SOURCES),
    "train_splits": _splits,
    "probe_split": _split,
    "n_synthetic_train": _int_at_least(3),  # one pair per label at least
    "n_synthetic_probe": _int_at_least(3),
    "seed": _int_at_least(0),
    "seeds": _int_at_least(1),
    "lstm_seeds": _int_at_least(0),
    "control_seeds": _int_at_least(0),
    "lstm_shuffled_seeds": _int_at_least(0),
    "controls": _subset_of(CONTROLS, empty=True),
    "null_draws": _int_at_least(2),
    "null_bin_width": _float_in(0, 0.5, high_open=True),
    "bootstrap_resamples": _int_at_least(100),
    "encoders": _subset_of(ENCODERS),
    "encodings": _subset_of(ENCODINGS),
    "card_encoding": _one_of(ENCODINGS),
    "clip_model": _non_empty,
    "clip_weights": _non_empty,
    "clip_sha256": _sha256,
    "benchmark_sentences": _int_at_least(1),
    "device": _device,
    "hidden": _int_at_least(1),
    "dropout": _float_in(0, 1),
    "lr": _float_in(0, math.inf, low_open=True),
    "batch_size": _int_at_least(1),
    "max_epochs": _int_at_least(1),
    "lstm_max_epochs": _int_at_least(0),
    "patience": _int_at_least(1),
    "val_fraction": _float_in(0, 1),
    "lstm_embedding_dim": _int_at_least(1),
    "lstm_hidden_dim": _int_at_least(1),
    "lstm_max_vocab": _int_at_least(0),
    "vocab_size": _int_at_least(1),
    "wordnet_mode": _one_of(("exact", "all_senses")),
    "wordnet_words": _words,
    "max_length": _int_at_least(1),
    "beam_size": _int_at_least(1),
    "min_acts": _int_at_least(1),
    "n_jobs": _int_at_least(0),
    "activation_alpha": _float_in(0, 1),
    "activation_alphas": _alphas,
    "regime_max_length": _int_at_least(1),
    "ablation_ks": lambda v: None if v and all(_is("int", x) and x >= 1 for x in v) and len(set(v)) == len(v)
    else "must be a non-empty list of distinct unit counts ≥ 1, e.g. [16, 64, 256]",
    "ablation_draws": _int_at_least(2),
    "causal_length": _int_at_least(1),
    "faithfulness_units": _int_at_least(3),  # edit_effects.MIN_UNITS: a seed's mean needs 3 units
    "faithfulness_edits": _int_at_least(4),
    "planted_units": _zero_or_at_least(3, "a seed's planted figure needs 3 units"),
    "adversarial_units": _zero_or_at_least(2, "a seed's adversarial figure needs 2 units"),
    "adversarial_pairs": _int_at_least(1),
    "neuron_alphas": _alphas,
    "n_clusters": _zero_or_at_least(2, "a neuron's range needs 2 clusters at least"),
    "neurons_per_layer": _int_at_least(0),
    "neuron_sentences": _int_at_least(0),
    "browser_per_layer": _int_at_least(1),
    "control_neurons_per_layer": _int_at_least(0),
    "neuron_max_length": _int_at_least(1),
    "neuron_beam_size": _int_at_least(1),
    "neuron_min_acts": _int_at_least(1),
    "neuron_null_draws": _int_at_least(2),
    "neuron_null_bin_width": _float_in(0, 0.5, high_open=True),
    "planted_neurons": _int_at_least(0),
    "encoder_ablation_k": _int_at_least(1),
    "encoder_ablation_pairs": _int_at_least(10),
    "encoder_ablation_draws": _int_at_least(1),
    "pmi_smoothing": _float_in(0, math.inf, low_open=True),
    "pmi_min_count": _int_at_least(1),
    "artifact_top": _int_at_least(1),
    "baseline_seeds": _int_at_least(0),
    "artifact_alphas": _alphas,
    "permutation_draws": _int_at_least(20),
    "random_sets": _int_at_least(2),
    "n_cards": _int_at_least(0),
    "complexity_penalty": _float_in(0, 1, low_open=True, high_open=False),
    "plot_lengths": _lengths,
    "alpha": _float_in(0, 1, low_open=True),
    "n_extremes": _int_at_least(0),
    "top_k": _int_at_least(1),
    "description": _non_empty,
    "probe_pairs": _written_pairs,
    "profile": lambda v: None if re.fullmatch(r"[A-Za-z0-9_.-]+", v) else "must be a profile name (letters, digits, _ . -)",
}


def coerce_override(param: Parameter, raw: str) -> Any:
    """A ``-p key=value`` text as the parameter's declared type.

    Strings are taken literally (so ``-p clip_sha256=000…0`` stays 64 characters, not the integer 0);
    everything else is read as YAML (``-p encoders=[lstm, clip]``, ``-p lr=1e-4``).
    """
    if param.type == "str":
        return raw
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ParameterError(f"-p {param.name}={raw}: not a valid YAML value ({exc})") from None
    if param.type == "float" and isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
        try:
            value = float(value)
        except ValueError:
            pass
    return value


def check_value(param: Parameter, value: Any, where: str) -> Any:
    """``value`` if it fits ``param``'s type and rule; else a :class:`ParameterError` naming ``where``."""
    if param.type == "float" and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if not _is(param.type, value):
        hint = " (quote it in YAML: '...')" if param.type == "str" else ""
        raise ParameterError(f"{where}: {param.name} must be of type {param.type}{hint}; got {value!r} "
                             f"({type(value).__name__}). {param.name}: {param.help}")
    if param.type == "float":
        value = float(value)
    rule = RULES.get(param.name)
    problem = rule(value) if rule else None
    if problem:
        raise ParameterError(f"{where}: {param.name} {problem}; got {value!r}. {param.name}: {param.help}")
    return value


def declared(sources: list[Path]) -> dict[str, Parameter]:
    """Every parameter any of ``sources`` declares (first declaration wins; types must agree)."""
    merged: dict[str, Parameter] = {}
    for source in sources:
        for name, param in read_parameters(source).items():
            if name in merged and merged[name].type != param.type:
                raise ParameterError(f"{source}: {name} is declared as {param.type} here but as "
                                     f"{merged[name].type} in {merged[name].chapter}")
            merged.setdefault(name, param)
    return merged


def unknown_key_message(key: str, known: dict[str, Parameter], where: str) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"{where}: unknown parameter {key!r}.{hint} Known parameters: {', '.join(sorted(known))}"


def _yaml_line(path: Path, key: str) -> str:
    """``path, line N`` of ``key:`` in a flat YAML file (or just the path)."""
    try:
        for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
            if re.match(rf"\s*{re.escape(key)}\s*:", line):
                return f"{path}, line {number}"
    except OSError:
        pass
    return str(path)


def looks_like_path(weights: str) -> bool:
    """Whether a ``clip_weights`` value names a checkpoint file rather than a pretrained tag."""
    return "/" in weights or "\\" in weights or weights.endswith((".pt", ".pth", ".bin", ".safetensors"))


def _check_clip_checkpoint(values: dict, in_run: dict[str, Parameter]) -> None:
    """A checksum needs a checkpoint file to check, and a checkpoint path must exist (made absolute,
    since the kernels run in the output folder)."""
    if "clip_weights" not in in_run:
        return
    weights = values.get("clip_weights", in_run["clip_weights"].default)
    sha = values.get("clip_sha256", in_run["clip_sha256"].default if "clip_sha256" in in_run else "")
    encoders = values.get("encoders", in_run["encoders"].default if "encoders" in in_run else ["clip"])
    if "clip" not in encoders:
        return
    if sha and not looks_like_path(weights):
        raise ParameterError(f"clip_sha256 checks a local checkpoint file, but clip_weights={weights!r} is not a "
                             "path: give the checkpoint with -p clip_weights=/path/to/ViT-B-32.pt, or drop clip_sha256")
    if looks_like_path(weights):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ParameterError(f"clip_weights {weights}: no such file ({path.resolve()}). Give the path of a local "
                                 "open_clip/OpenAI checkpoint of the clip_model architecture (with -p clip_sha256=<its "
                                 "SHA-256>), or -p clip_weights=openai (open_clip downloads it) or =untrained (a random-"
                                 "weight control)")
        values["clip_weights"] = str(path.resolve())


def resolve(profile_values: dict, profile_file: Path, overrides: dict[str, Any], all_sources: list[Path],
            run_sources: list[Path]) -> dict[str, Any]:
    """The checked parameter values of a run: the profile's, then the overrides (``-p`` text or values).

    Profile keys must be declared by some chapter; overrides by a chapter this run executes.
    """
    known = declared(all_sources)
    values: dict[str, Any] = {}
    for key, value in profile_values.items():
        if key not in known:
            raise ParameterError(unknown_key_message(key, known, _yaml_line(profile_file, key)))
        values[key] = check_value(known[key], value, str(profile_file))
    in_run = declared(run_sources)
    for key, raw in overrides.items():
        if key not in in_run:
            extra = "" if key not in known else f" ({key} belongs to a chapter this run does not execute)"
            raise ParameterError(unknown_key_message(key, in_run, f"-p {key}") + extra)
        value = coerce_override(in_run[key], raw) if isinstance(raw, str) else raw
        values[key] = check_value(in_run[key], value, f"-p {key}={raw}")
    # the defaults a chapter would use must pass too (they are what runs when a key is not given)
    for name, param in in_run.items():
        if name not in values:
            check_value(param, param.default, f"{param.chapter} (default)")
    _check_clip_checkpoint(values, in_run)
    if values.get("data_dir"):  # the kernels run in the output folder: a relative path would move
        values["data_dir"] = str(Path(values["data_dir"]).expanduser().resolve())
    if "train_splits" in values and values.get("probe_split") in values["train_splits"]:
        raise ParameterError(f"probe_split {values['probe_split']!r} is also in train_splits "
                             f"{values['train_splits']}: neurons must be probed on held-out pairs")
    return values


# ------------------------------------------------------------------------------------------ against what the search made
# (checked in the kernel, where the search's own parameters are known)


def check_formula_length(name: str, value: int, search_params: dict, sweep_params: dict | None = None) -> int:
    """``value`` (a chapter's formula length, e.g. ``causal_length``) if the search, and its sweep when there is
    one, searched formulas that long; else a ``ParameterError`` saying what to lower or rerun."""
    if value > int(search_params["max_length"]):
        raise ParameterError(f"{name}={value} but chapter 05_search searched formulas of at most "
                             f"{search_params['max_length']} atoms: lower it, or rerun chapter 05_search with a larger "
                             "max_length")
    if sweep_params and value > int(sweep_params["max_length"]):
        raise ParameterError(f"{name}={value} but chapter 05_search's sweep searched formulas of at most "
                             f"{sweep_params['max_length']} atoms (regime_max_length)")
    return value


def check_artifact_alphas(artifact_alphas, swept) -> list[float]:
    """The ``artifact_alphas`` chapter 11_artifacts tests, each one of the sweep's ``activation_alphas`` (``swept``),
    densest first (the last is the sparsest); one that the search did not sweep is a ``ParameterError`` naming
    those it did."""
    swept = [float(a) for a in swept]
    missing = [a for a in artifact_alphas if not any(math.isclose(float(a), s) for s in swept)]
    if missing:
        raise ParameterError(f"artifact_alphas={list(artifact_alphas)}: {missing} not in the firing-regime sweep of chapter "
                             f"05_search (activation_alphas={swept}); give some of those, or rerun the search with them")
    return sorted((float(a) for a in artifact_alphas), reverse=True)


def check_neuron_alphas(neuron_alphas) -> list[float]:
    """Chapter 12_inside_encoder's top-α regimes, sparsest first; none is a ``ParameterError``."""
    if not neuron_alphas:
        raise ParameterError("neuron_alphas is empty: give at least one top-α regime, e.g. -p 'neuron_alphas=[0.005, 0.05]'")
    return sorted(float(a) for a in neuron_alphas)


def check_ablation_ks(ablation_ks, hidden: int) -> list[int]:
    """The ``ablation_ks`` at most half the ``hidden`` units (the top and bottom k must not overlap); none left is
    a ``ParameterError`` with smaller ones to give."""
    ks = [k for k in ablation_ks if k <= hidden // 2]
    if not ks:
        raise ParameterError(f"ablation_ks={ablation_ks}: every k is above half the {hidden} hidden units (the top and "
                             f"bottom k would overlap); give smaller ones, e.g. -p 'ablation_ks=[{max(1, hidden // 16)}, "
                             f"{max(1, hidden // 4)}]'")
    return ks
