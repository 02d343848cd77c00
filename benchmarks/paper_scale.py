"""Paper scale: the rate of every stage of a profile's chapters, on the CPU and (where there is one) the GPU.

The measurements of ``python -m clipneuron_utils.run.pipeline --estimate`` (:mod:`clipneuron_utils.run.estimate`),
printed per stage for each ``--device``, with the GPU's speed-up where both were measured, and the
projected wall time of the profile for each device. Stages that only run on the CPU (reading SNLI, CLIP's
tokenizer, concept masks, the beam search) are timed once and marked so.

The chapters encode, train and probe on their ``device`` parameter (``auto``: CUDA when there is one), so
the ``cuda`` projection is what a run with ``-p device=cuda`` takes. The total is a range: the shorter end
stops every model as early as early stopping can, the longer end runs every epoch.

    python benchmarks/paper_scale.py                                # paper profile, CPU
    python benchmarks/paper_scale.py --device cpu --device cuda     # both, with the speed-up per stage
    CLIPNEURON_DATA=../shared/data/snli python benchmarks/paper_scale.py --profile offline -p seeds=1 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from clipneuron_utils.run import estimate, runtime, timing, workload
from clipneuron_utils.run.pipeline import PipelineError, parse_override  # noqa: E402


def stage_figures(m: timing.Measurements) -> list[tuple[str, float, str, bool]]:
    """(stage, value, unit, runs on the device) — per second rates, higher is better, except ``s`` and ``ms``."""
    rows = [("read SNLI files", m.load_lines_per_s, "lines/s", False)]
    if m.tokenize_per_s:
        rows.append(("CLIP token counts", m.tokenize_per_s, "sentences/s", False))
    for name in m.encode_per_s:
        rows.append((f"load {name} encoder", m.encoder_load_s[name], "s", True))
        rows.append((f"encode with {name}", m.encode_per_s[name], "sentences/s", True))
        if name in m.reference_per_s:
            rows.append((f"{name} encode_text (77 tokens)", m.reference_per_s[name], "sentences/s", True))
    for name in m.train_pairs_per_s:
        rows.append((f"train {name} model", m.train_pairs_per_s[name], "pairs/s", True))
        rows.append((f"score with {name} model", m.eval_pairs_per_s[name], "pairs/s", True))
    rows.append(("search, length 1", m.search_atoms_s * 1000, "ms/neuron", False))
    rows.append(("search, each further round", m.search_round_s * 1000, "ms/neuron", False))
    for key, value in m.concepts_s.items():
        rows.append((f"concepts: {key.replace('_', ' ')}", value, "s", False))
    return rows


def speedup(cpu: float, gpu: float, unit: str) -> float:
    """How many times faster the GPU is (times and per-neuron costs: ratio inverted)."""
    return cpu / gpu if unit in ("s", "ms/neuron") else gpu / cpu


def stage_table(measured: dict[str, timing.Measurements]) -> str:
    """One line per stage, one column per device, and the GPU's speed-up when cpu and cuda were both measured."""
    names = list(measured)
    figures = {device: stage_figures(m) for device, m in measured.items()}
    both = set(names) == {"cpu", "cuda"}
    header = (f"{'stage':<34}" + "".join(f"{d:>14}" for d in names) + f"{'unit':>14}"
              + (f"{'GPU speed-up':>14}" if both else ""))
    lines = [header, "-" * len(header)]
    for i, (stage, value, unit, on_device) in enumerate(figures[names[0]]):
        cells = {d: figures[d][i][1] for d in names}
        line = f"{stage:<34}" + "".join(f"{runtime.figure(c):>14}" for c in cells.values()) + f"{unit:>14}"
        if both:
            line += f"{speedup(cells['cpu'], cells['cuda'], unit):>13.1f}x" if on_device else f"{'(CPU only)':>14}"
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="paper", help="params/<profile>.yaml (default: paper)")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="KEY=VALUE",
                        help="override a parameter, as for the pipeline; repeatable")
    parser.add_argument("--only", action="append", default=None, metavar="NN", help="project only these chapters")
    parser.add_argument("--device", action="append", choices=("cpu", "cuda"), default=None,
                        help="where to time the encoders and models (repeat for both; default: cpu)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    devices = list(dict.fromkeys(args.device or ["cpu"]))
    try:
        overrides = dict(parse_override(p) for p in args.parameter)
        values, chapters = estimate.resolved_values(args.profile, overrides, args.only)
    except PipelineError as exc:
        sys.exit(f"error: {exc}")

    import torch

    load_at_start = estimate.load_text()
    measured: dict[str, timing.Measurements] = {}
    with timing.sandbox():
        counts = workload.count_data(values)
        for device in devices:
            if device == "cuda" and not torch.cuda.is_available():
                print(f"CUDA is not available here (torch {torch.__version__}, "
                      f"{'no CUDA build' if torch.version.cuda is None else 'no GPU visible'}): "
                      "the GPU figures could not be taken here.", flush=True)
                continue
            print(f"timing the stages of profile {args.profile!r} on {device}…", flush=True)
            measured[device] = timing.measure(values, counts, device)
    if not measured:
        sys.exit("nothing was measured")

    print(f"\nprofile {args.profile!r}; {load_at_start} at start, {estimate.load_text()} at the end")
    for device, m in measured.items():
        print(f"{device}: {estimate.machine_text(m)}; measurements took {m.seconds:.0f} s")
    print("\n" + stage_table(measured))

    totals = {}
    for device, m in measured.items():
        rows = runtime.project(values, counts, m, chapters)
        per, low = runtime.chapter_totals(rows), runtime.chapter_totals(rows, fewest=True)
        totals[device] = {"chapters": per, "total_s": sum(per.values()), "chapters_fewest_epochs": low,
                          "total_fewest_epochs_s": sum(low.values())}
        print(f"\nprojected on {device}: " + ", ".join(f"{c} {estimate.span(low[c], s)}" for c, s in per.items())
              + f"; total {estimate.span(sum(low.values()), sum(per.values()))}")
    if len(totals) == 2:
        print(f"GPU speed-up of the whole run: {totals['cpu']['total_s'] / totals['cuda']['total_s']:.1f}x")
    for note in dict.fromkeys([*counts.notes, *(n for m in measured.values() for n in m.notes)]):
        print(f"- {note}")
    result = {"profile": args.profile, "chapters": chapters, "load_at_start": load_at_start,
              "measurements": {d: asdict(m) for d, m in measured.items()}, "projected": totals}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


if __name__ == "__main__":
    main()
