"""``--estimate``: the projection's arithmetic on tiny fake measurements, the data counts (files or official
sizes), and that it runs no chapter and writes nothing. No timing is asserted (benchmarks print those)."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from clipneuron_utils.run import pipeline
from clipneuron_utils.run import estimate, runtime, timing, workload
from clipneuron_utils.run.workload import DataCounts, SplitCount
from clipneuron_utils.run.timing import Measurements

from fixtures import snli_record


def fake_measurements(**changes) -> Measurements:
    m = Measurements(
        device="cpu", load_lines_per_s=1000.0, tokenize_per_s=100.0,
        encoder_load_s={"clip": 2.0, "minilm": 1.0}, encode_per_s={"clip": 10.0, "minilm": 20.0},
        reference_per_s={"clip": 5.0}, train_pairs_per_s={"clip": 100.0, "minilm": 200.0, "lstm": 10.0},
        eval_pairs_per_s={"clip": 1000.0, "minilm": 1000.0, "lstm": 100.0},
        search_atoms_s=0.01, search_round_s=0.02,
        concepts_s={"standard": 1.0, "wordnet_load": 3.0, "wordnet": 2.0}, labels={}, seconds=0.1)
    for key, value in changes.items():
        setattr(m, key, value)
    return m


def fake_counts() -> DataCounts:
    train = SplitCount("train", 1100, 1000, 1500, "official", False)
    probe = SplitCount("dev", 220, 200, 300, "official", False)
    return DataCounts([train], probe, train_unique=1500, probe_unique=300, probe_all_unique=330, lstm_vocab=50)


VALUES = {"encoders": ["clip", "lstm", "minilm"], "seed": 0, "seeds": 3, "lstm_seeds": 1, "max_epochs": 4,
          "lstm_max_epochs": 2, "val_fraction": 0.1, "hidden": 8, "max_length": 3, "beam_size": 2,
          "encodings": ["standard", "wordnet"], "null_draws": 5, "null_bin_width": 0.01, "min_acts": 10,
          "benchmark_sentences": 50, "compare_expand_all": True, "measure_input_norm": True, "compare_length": 2}


def rows_by_stage(rows, chapter):
    return {r.stage: r.seconds for r in rows if r.chapter == chapter}


def test_projection_is_rate_times_work():
    m, counts = fake_measurements(), fake_counts()
    rows = runtime.project(VALUES, counts, m, jobs=2)
    ch3 = rows_by_stage(rows, "03")
    # 1000 labelled pairs: 100 held out (val_fraction 0.1), 900 fitted per epoch
    assert ch3["encode with clip"] == pytest.approx((1500 + 300) / 10.0)
    assert ch3["load clip encoder"] == pytest.approx(3 * 2.0)  # one load per model, 3 seeds
    assert ch3["train clip head (cached features)"] == pytest.approx(3 * 4 * (900 / 100.0 + 100 / 1000.0))
    assert ch3["score clip on the probe pairs"] == pytest.approx(3 * 200 / 1000.0)
    # the LSTM: lstm_seeds=1 model, lstm_max_epochs=2
    assert ch3["train lstm end to end"] == pytest.approx(1 * 2 * (900 / 10.0 + 100 / 100.0))
    ch5 = rows_by_stage(rows, "05")
    per_neuron = 0.01 + (3 - 1) * 0.02  # atoms + 2 rounds
    models = 3 + 1 + 3
    assert ch5["beam search"] == pytest.approx(8 * models * 2 * per_neuron / 2)
    bins = runtime.null_bins(VALUES, 200, models)
    assert ch5["matched null"] == pytest.approx(bins * 5 * 2 * per_neuron / 2)
    ch2 = rows_by_stage(rows, "02")
    assert ch2["clip throughput table"] == pytest.approx(50 / 10.0 + 50 / 5.0)
    assert ch2["CLIP token counts (truncation table)"] == pytest.approx(1800 / 100.0)
    for chapter in runtime.CHAPTERS:  # every chapter starts a kernel and reads every line of its files
        stages = rows_by_stage(rows, chapter)
        assert stages["read SNLI files"] == pytest.approx(1320 / 1000.0)
        assert stages["kernel start, imports"] == runtime.CHAPTER_START_S


def test_seeds_follow_the_chapters_parameters():
    assert runtime.seeds_of({"seed": 0, "seeds": 3, "lstm_seeds": 0}, "lstm") == 3  # 0: as many as seeds
    assert runtime.seeds_of({"seed": 0, "seeds": 3, "lstm_seeds": 1}, "lstm") == 1
    assert runtime.seeds_of({"seed": 5, "seeds": 2, "lstm_seeds": 1}, "clip") == 2
    assert runtime.epochs_of({"max_epochs": 20, "lstm_max_epochs": 0}, "lstm") == 20
    assert runtime.epochs_of({"max_epochs": 20, "lstm_max_epochs": 4}, "lstm") == 4
    assert runtime.epochs_of({"max_epochs": 20, "lstm_max_epochs": 4}, "clip") == 20


def test_per_chapter_sums_and_total():
    rows = runtime.project(VALUES, fake_counts(), fake_measurements(), jobs=1)
    totals = runtime.chapter_totals(rows)
    assert list(totals) == list(runtime.CHAPTERS)
    for chapter, total in totals.items():
        assert total == pytest.approx(sum(r.seconds for r in rows if r.chapter == chapter))
    assert sum(totals.values()) == pytest.approx(sum(r.seconds for r in rows))
    text = estimate.render("paper", VALUES, fake_counts(), fake_measurements(), rows, runtime.CHAPTERS, "load 0")
    assert f"TOTAL: {estimate.duration(sum(totals.values()))}" in text
    assert "measured on: cpu" in text


def test_only_the_chosen_chapters_are_projected():
    rows = runtime.project(VALUES, fake_counts(), fake_measurements(), chapters=("03",), jobs=1)
    assert {r.chapter for r in rows} == {"03"}
    half = runtime.project(VALUES, fake_counts(), fake_measurements(train_pairs_per_s={"clip": 200.0, "minilm": 400.0,
                                                                                        "lstm": 20.0}), ("03",), jobs=1)
    a, b = rows_by_stage(rows, "03"), rows_by_stage(half, "03")
    assert b["train lstm end to end"] < a["train lstm end to end"]  # a faster machine projects less time


def test_null_bins_are_capped_by_what_the_bin_width_allows():
    assert runtime.null_bins({"min_acts": 500, "null_bin_width": 0.01}, 9842, 7) == runtime.NULL_BINS
    assert runtime.null_bins({"min_acts": 95, "null_bin_width": 0.01}, 100, 7) == 6  # counts 95..100
    assert runtime.null_bins({"min_acts": 10, "null_bin_width": 0.0, "hidden": 4}, 10_000, 2) == 8  # units bound it
    assert runtime.null_bins({"min_acts": 500, "null_bin_width": 0.01}, 300, 1) == 0  # nothing can be explained


def test_duration_text():
    assert estimate.duration(0.4) == "0.4 s"
    assert estimate.duration(42) == "42 s"
    assert estimate.duration(600) == "10.0 min"
    assert estimate.duration(3 * 3600) == "3.0 h"
    assert estimate.duration(3 * 86400) == "3.0 d"


def test_official_sizes_when_the_files_are_absent(tmp_path):
    values = {"data_source": "snli", "data_dir": str(tmp_path), "train_splits": ["train"], "probe_split": "dev"}
    counts = workload.count_data(values)
    train, probe = counts.train[0], counts.probe
    assert (train.lines, train.labelled, train.counted) == (550_152, 549_367, False)
    assert (probe.lines, probe.labelled, probe.counted) == (10_000, 9_842, False)
    assert counts.train_unique == round(549_367 * workload.UNIQUE_PER_PAIR)
    assert counts.read_lines == 560_152  # every line is read, the unlabelled ones too
    assert any("official size" in note and "'-'" in note for note in counts.notes)
    assert counts.sample is not None  # the timings fall back to the synthetic pairs
    with pytest.raises(ValueError, match="no official size"):
        workload.count_data({**values, "train_splits": ["train_0.5"]})


def write_split(folder: Path, split: str, labels: list[str]) -> None:
    lines = [json.dumps(snli_record(i, label, sentence1=f"A man number {i // 2} runs.",
                                    sentence2=f"Someone {i} moves.")) for i, label in enumerate(labels)]
    with gzip.open(folder / f"snli_1.0_{split}.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def test_counts_come_from_the_files_when_present(tmp_path):
    write_split(tmp_path, "train_0.01", ["entailment", "-", "neutral", "contradiction"])
    write_split(tmp_path, "dev", ["entailment", "neutral", "-"])
    values = {"data_source": "snli", "data_dir": str(tmp_path), "train_splits": ["train_0.01", "test"],
              "probe_split": "dev", "lstm_max_vocab": 0}
    counts = workload.count_data(values)
    sample, test = counts.train
    assert (sample.lines, sample.labelled, sample.counted) == (4, 3, True)
    assert (test.lines, test.labelled, test.counted) == (10_000, 9_824, False)  # absent: official size
    assert (counts.probe.lines, counts.probe.labelled) == (3, 2)
    # labelled train pairs 0, 2, 3: premises "number 0" (pairs 0, 1 share it) and "number 1", three hypotheses
    assert counts.train_unique == 2 + 3 + test.unique
    assert counts.probe_unique == 1 + 2 and counts.probe_all_unique == 2 + 3
    assert counts.load_lines == 7


def test_estimate_runs_no_chapter_and_writes_nothing(tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    monkeypatch.setenv("CLIPNEURON_RUNS", str(runs))
    monkeypatch.setattr(estimate, "measure", lambda values, counts, device="cpu": fake_measurements())

    def forbidden(*args, **kwargs):
        raise AssertionError("--estimate must not run a chapter")

    monkeypatch.setattr(pipeline, "_execute", forbidden)
    monkeypatch.setattr(pipeline, "run", forbidden)
    output = tmp_path / "book"
    before = sorted(p.name for p in pipeline.default_output_dir("smoke").glob("*"))
    rc = pipeline.main(["--profile", "smoke", "--estimate", "--output-dir", str(output), "-p", "max_length=2"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "TOTAL:" in out and "projected" in out and "measured on: cpu" in out
    assert not output.exists() and not runs.exists()
    assert sorted(p.name for p in pipeline.default_output_dir("smoke").glob("*")) == before


def test_estimate_checks_parameters_like_a_run(monkeypatch, capsys):
    monkeypatch.setattr(estimate, "measure", lambda *a, **k: pytest.fail("measured despite a bad parameter"))
    assert pipeline.main(["--profile", "smoke", "--estimate", "-p", "max_lenght=3"]) == 1
    assert "did you mean 'max_length'" in capsys.readouterr().err.lower()


def test_only_limits_the_estimate(monkeypatch, capsys):
    monkeypatch.setattr(estimate, "measure", lambda values, counts, device="cpu": fake_measurements())
    assert pipeline.main(["--profile", "smoke", "--estimate", "--only", "01"]) == 0
    out = capsys.readouterr().out
    assert "per chapter: 01" in out and "03 " not in out.split("per chapter:")[1].splitlines()[0]


def test_benchmark_prints_the_gpu_speed_up_per_stage():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "paper_scale.py"
    spec = importlib.util.spec_from_file_location("paper_scale", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    cpu = fake_measurements()
    gpu = fake_measurements(device="cuda", encode_per_s={"clip": 100.0, "minilm": 40.0},
                            encoder_load_s={"clip": 4.0, "minilm": 1.0})
    table = bench.stage_table({"cpu": cpu, "cuda": gpu})
    lines = {line.split("  ")[0].strip(): line for line in table.splitlines()}
    assert lines["encode with clip"].rstrip().endswith("10.0x")  # 100 vs 10 sentences/s
    assert lines["load clip encoder"].rstrip().endswith("0.5x")  # 4 s on the GPU vs 2 s: slower
    assert lines["search, length 1"].rstrip().endswith("(CPU only)")
    assert bench.speedup(2.0, 1.0, "s") == 2.0 and bench.speedup(10.0, 30.0, "pairs/s") == 3.0
    assert "GPU speed-up" not in bench.stage_table({"cpu": cpu})


def test_fewest_epochs_follow_early_stopping():
    # the first epoch always improves; then `patience` epochs without a better held-out score stop training
    assert runtime.fewest_epochs({"max_epochs": 20, "patience": 3, "val_fraction": 0.1}, "clip") == 4
    assert runtime.fewest_epochs({"max_epochs": 20, "patience": 0, "val_fraction": 0.1}, "clip") == 1
    assert runtime.fewest_epochs({"max_epochs": 2, "patience": 3, "val_fraction": 0.1}, "clip") == 2
    assert runtime.fewest_epochs({"max_epochs": 20, "patience": 3, "val_fraction": 0.0}, "clip") == 20  # no held-out set
    assert runtime.fewest_epochs({"max_epochs": 20, "lstm_max_epochs": 3, "patience": 5}, "lstm") == 3


def test_the_total_is_a_range_when_early_stopping_can_shorten_training():
    values = {**VALUES, "max_epochs": 20, "patience": 3}
    rows = runtime.project(values, fake_counts(), fake_measurements(), chapters=("03",), jobs=1)
    train = next(r for r in rows if r.stage == "train clip head (cached features)")
    per_epoch = 900 / 100.0 + 100 / 1000.0
    assert train.seconds == pytest.approx(3 * 20 * per_epoch) and train.fewest == pytest.approx(3 * 4 * per_epoch)
    assert "4–20 epochs" in train.work
    lstm = next(r for r in rows if r.stage == "train lstm end to end")
    assert lstm.fewest == pytest.approx(lstm.seconds)  # lstm_max_epochs=2 < 1 + patience: no range
    high, low = runtime.chapter_totals(rows)["03"], runtime.chapter_totals(rows, fewest=True)["03"]
    minilm_epoch = 900 / 200.0 + 100 / 1000.0
    assert high - low == pytest.approx(3 * 16 * (per_epoch + minilm_epoch))  # clip and minilm: 3 models, 16 epochs fewer
    text = estimate.render("paper", values, fake_counts(), fake_measurements(), rows, ["03"], "load 0")
    assert f"TOTAL: {estimate.duration(low)} – {estimate.duration(high)}" in text
    assert estimate.span(10.0, 10.0) == "10 s" and estimate.span(60.0, 7200.0) == "60 s – 2.0 h"


def test_the_report_names_the_largest_stages_and_what_shortens_them():
    values = {**VALUES, "lstm_max_epochs": 50, "lstm_seeds": 2}
    rows = runtime.project(values, fake_counts(), fake_measurements(), jobs=1)
    largest = estimate.largest_stages(rows, values, "cpu", n=2)
    assert largest[0].startswith("03 train lstm end to end") and "lstm_seeds=1" in largest[0] and "device=cuda" in largest[0]
    # the retraining of the appendix, and the encoders' own neurons (every neuron of every sentence at the paper's
    # scale), each with what would shorten it
    later = estimate.largest_stages(rows, values, "cpu", n=len(rows))
    retrain = next(line for line in later if line.startswith("99 train lstm"))
    assert "measure_input_norm=false" in retrain
    neurons = next(line for line in later if line.startswith("12 minilm: clusters and search"))
    assert "neuron_sentences=N" in neurons and "neurons_per_layer=N" in neurons
    text = estimate.render("paper", values, fake_counts(), fake_measurements(), rows, runtime.CHAPTERS, "load 0")
    assert "largest stages:" in text and largest[0] in text
    # a knob already at its floor is not suggested; on a GPU, no GPU is suggested
    one = {**values, "lstm_seeds": 1}
    row = next(r for r in rows if r.stage == "train lstm end to end")
    assert estimate.shorter_with(row, one, "cuda:0") == ["-p lstm_max_epochs=N"]


def test_the_estimate_times_on_the_device_the_chapters_would_use(monkeypatch):
    seen = []

    def fake(values, counts, device="cpu"):
        seen.append(device)
        return fake_measurements(device=device)

    monkeypatch.setattr(estimate, "measure", fake)
    estimate.estimate("smoke", {"device": "cpu"}, out=lambda _: None)
    estimate.estimate("smoke", {"device": "auto"}, out=lambda _: None)
    import torch

    assert seen == ["cpu", "cuda:0" if torch.cuda.is_available() else "cpu"]
    if not torch.cuda.is_available():
        from clipneuron_utils.models.devices import DeviceError

        with pytest.raises(DeviceError, match="device='cuda' asks for CUDA"):
            estimate.estimate("smoke", {"device": "cuda"}, out=lambda _: None)
    text = estimate.projection("smoke", {"device": "cpu"}, measure_fn=fake, out=lambda _: None).report()
    assert "device parameter ('cpu': here cpu)" in text and "get no device" not in text


def _validate_module():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "validate_estimate.py"
    spec = importlib.util.spec_from_file_location("validate_estimate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_validation_reads_the_epochs_each_model_ran(tmp_path):
    validate = _validate_module()
    for encoder, key, seconds in (("clip", "a", [1.0, 2.0, 3.0]), ("clip", "b", [2.0]), ("lstm", "c", [10.0, 12.0])):
        folder = tmp_path / "offline" / "models" / key  # the encoder comes from model.json, not the folder
        folder.mkdir(parents=True)
        (folder / "history.csv").write_text("epoch,seconds\n" + "".join(f"{i + 1},{s}\n" for i, s in enumerate(seconds)))
        (folder / "model.json").write_text(json.dumps({"encoder_name": encoder}))  # as saving.save_model names it
    epochs = validate.trained_epochs(tmp_path, "offline")
    assert sorted(epochs["clip"]) == [(1, 2.0), (3, 6.0)] and epochs["lstm"] == [(2, 22.0)]
    projection = estimate.Projection("offline", {**VALUES}, ["03"], fake_counts(), fake_measurements(), [], "load 0")
    rows = {r["encoder"]: r for r in validate.training_check(projection, epochs)}
    per_epoch = 900 / 10.0 + 100 / 100.0  # the LSTM's fake rates
    assert rows["lstm"]["projected_s"] == pytest.approx(2 * per_epoch) and rows["lstm"]["actual_s"] == 22.0
    assert rows["clip"]["epochs"] == 4 and rows["clip"]["error"] == pytest.approx(4 * 9.1 / 8.0 - 1)


def test_validation_reads_what_save_model_writes(tmp_path):
    from clipneuron_utils.models import heads, saving, training
    from clipneuron_utils.data.synthetic import make_pairs

    config = heads.HeadConfig(hidden=8, max_epochs=2, patience=3, lstm_embedding_dim=4, lstm_hidden_dim=4, seed=0)
    model = training.train("lstm", make_pairs(60, seed=0), config, progress=False, verbose=False, device="cpu")
    saving.save_model(model, tmp_path / "offline" / "models" / "lstm" / "k")
    epochs = _validate_module().trained_epochs(tmp_path, "offline")
    assert epochs == {"lstm": [(2, pytest.approx(float(model.history["seconds"].sum())))]}


def test_strata_take_the_middle_of_each_equal_part():
    assert timing.strata(10, 5) == [1, 3, 5, 7, 9]
    assert timing.strata(32, 4) == [4, 12, 20, 28]  # never the extreme first or last batch of a length order
    assert timing.strata(3, 8) == [0, 1, 2]  # fewer items than strata: every item once
    assert timing.strata(1, 4) == [0]


def test_encoders_are_timed_on_batches_of_their_own_plan():
    class Planned:
        default_batch_size = 2

        def __init__(self):
            self.ran = []

        def _batch_plan(self, sentences, batch_size):
            order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
            batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
            return batches, lambda idx: self.ran.append(list(idx))

    encoder = Planned()
    pool = ["a" * n for n in (5, 1, 9, 3, 7, 2, 8, 4, 6, 10, 11)]  # 11 sentences: 5 full batches and one of 1
    batches, run = timing._plan_batches(encoder, pool, 2)
    lengths = [[len(pool[i]) for i in idx] for idx in batches]
    assert lengths == [[3, 4], [7, 8]]  # batches 1 and 3 of the 5 full ones: the middles of two equal strata
    assert encoder.ran == [batches[0]]  # one warm-up run
    assert timing._plan_batches(object(), pool, 2) is None  # no plan: the caller times encode() instead


def test_the_lstm_epoch_is_summed_over_its_own_batch_plan():
    import pandas as pd

    from clipneuron_utils.models import batches, heads

    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=(700, 2))
    frame = pd.DataFrame({"premise_tokens": [["w"] * int(n) for n in lengths[:, 0]],
                          "hypothesis_tokens": [["w"] * int(n) for n in lengths[:, 1]]})
    config = heads.HeadConfig(batch_size=16, val_fraction=0.1, seed=3)
    # a per-batch cost of exactly 2 ms + 1 µs per padded token slot is recovered from three timed batches
    slots, seconds = [1000, 3000, 9000], [0.002 + 1e-6 * s for s in (1000, 3000, 9000)]
    got = timing.lstm_epoch_seconds(frame, config, slots, seconds)
    fit = timing.split_fit_val(700, 0.1)[0]
    order = np.random.default_rng(3).permutation(700)[:fit]
    data = batches._Data(700, p_ids=[np.zeros(n) for n in lengths[:, 0]], h_ids=[np.zeros(n) for n in lengths[:, 1]])
    plan = batches.minibatches(order, config, _rng_after_permutation(3, 700), data)
    expected = sum(0.002 + 1e-6 * len(b) * (lengths[b, 0].max() + lengths[b, 1].max()) for b in plan)
    assert got == pytest.approx(expected)
    assert sum(len(b) for b in plan) == fit
    # a fit that makes no sense (cost falling with length) falls back to a cost proportional to the slots
    assert timing.lstm_epoch_seconds(frame, config, [1000, 9000], [0.02, 0.01]) > 0


def _rng_after_permutation(seed: int, n: int) -> np.random.Generator:
    """The generator in the state lstm_epoch_seconds hands to batches.minibatches (after its own permutation)."""
    rng = np.random.default_rng(seed)
    rng.permutation(n)
    return rng


def test_the_causal_chapter_is_projected_per_model_with_its_edited_pairs():
    """Chapter 10_causal: each model and seed, its random-network controls included, costs a fixed share plus its
    edited pairs run through the model (the LSTM scores pairs, a frozen encoder encodes sentences). An untrained
    CLIP is a control of the others (edits, no adversarial pairs) and its shuffled-label control gets the ablation
    only; with a checkpoint, CLIP gets the adversarial pairs too."""
    m, counts = fake_measurements(), fake_counts()
    values = {**VALUES, "controls": ["lstm-untrained", "minilm-shuffled", "clip-shuffled"], "control_seeds": 0,
              "faithfulness_units": 2, "faithfulness_edits": 4, "planted_units": 1, "adversarial_units": 1,
              "adversarial_pairs": 5, "activation_alphas": [0.2], "clip_weights": "untrained"}
    ch10 = rows_by_stage(runtime.project(values, counts, m, jobs=2), "10")
    edits = 2 * (2 * 2 * 4 * 4 + 1 * 2 * 4 * 2 * 2)  # 2 regimes × (units × 2·edits × 4 kinds + planted units' edits)
    adversarial = 2 * 1 * 5 * 2 + 3 * (8 * 16 + 5) * 2
    assert runtime.causal_sentences(values, adversarial=False) == 2 * 2 * 2 * 4 * 4
    assert runtime.causal_sentences(values, adversarial=True) == edits + adversarial
    assert ch10["causal tests of minilm"] == pytest.approx(3 * (runtime.CAUSAL_MODEL_S + (edits + adversarial) / 20.0))
    assert ch10["causal tests of lstm"] == pytest.approx(1 * (runtime.CAUSAL_MODEL_S + (edits + adversarial) / 100.0))
    assert ch10["causal tests of clip"] == pytest.approx(3 * (runtime.CAUSAL_MODEL_S + 2 * 2 * 2 * 4 * 4 / 10.0))
    assert ch10["causal tests of clip-shuffled"] == pytest.approx(3 * runtime.CAUSAL_MODEL_S)
    assert ch10["causal tests of lstm-untrained"] == pytest.approx(1 * (runtime.CAUSAL_MODEL_S + 2 * 2 * 2 * 4 * 4 / 100.0))
    trained_clip = rows_by_stage(runtime.project({**values, "clip_weights": "ViT-B-32.pt"}, counts, m, jobs=2), "10")
    assert trained_clip["causal tests of clip"] == pytest.approx(3 * (runtime.CAUSAL_MODEL_S + (edits + adversarial) / 10.0))
