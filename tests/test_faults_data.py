"""Bad inputs give clear errors: each names the file and line (or the model/unit) and says what to do,
and never changes the input files."""

import gzip
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clipneuron_utils.data import corpus, snli
from clipneuron_utils.models import heads
from clipneuron_utils.explain import probe
from clipneuron_utils.explain import search
from clipneuron_utils.models.clip import clip_truncation, register_tiny_config
from clipneuron_utils.models.encoders import make_encoder
from fixtures import PARSE_2, snli_record

PARSE_1 = "(ROOT (S (NP (DT A) (NN man)) (VP (VBZ is) (VP (VBG sitting) (PP (IN with) (NP (DT a) (NN dog))))) (. .)))"
CUT_PARSE = PARSE_1[: PARSE_1.index("(PP (IN with") + len("(PP (IN with")]  # the tree ends mid-leaf


def record(i, label="entailment", **overrides):
    return snli_record(i, label, **{"sentence1": "A man is sitting with a dog.", "sentence1_parse": PARSE_1, **overrides})


def jsonl_text(records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------ 1a


def _truncated_gz(path: Path) -> None:
    blob = gzip.compress(jsonl_text([record(i) for i in range(3000)]).encode())
    path.write_bytes(blob[: len(blob) // 2])


def _bad_block_gz(path: Path) -> None:
    blob = bytearray(gzip.compress(jsonl_text([record(i) for i in range(3000)]).encode()))
    blob[10] = 0xFF  # the first deflate block gets the reserved type: zlib.error
    path.write_bytes(bytes(blob))


def _bad_crc_gz(path: Path) -> None:
    blob = bytearray(gzip.compress(jsonl_text([record(i) for i in range(3000)]).encode()))
    blob[-8] ^= 0xFF  # every line decompresses, the checksum at the end fails: gzip.BadGzipFile
    path.write_bytes(bytes(blob))


def _not_utf8(path: Path) -> None:
    path.write_bytes(jsonl_text([record(0), record(1)]).encode() + b'{"gold_label": "neutral\xff\xfe"}\n')


@pytest.mark.parametrize("name, damage, cause, stopped", [
    ("snli_1.0_dev.jsonl.gz", _truncated_gz, "EOFError: Compressed file ended", r"after line (\d+), the last line"),
    ("snli_1.0_dev.jsonl.gz", _bad_block_gz, "error: Error -3 while decompressing data", "before its first line"),
    ("snli_1.0_dev.jsonl.gz", _bad_crc_gz, "BadGzipFile: CRC check failed", "after line 3000, the last line"),
    ("snli_1.0_dev.jsonl", _not_utf8, "UnicodeDecodeError: 'utf-8' codec",
     r"before its first line; line 3 is not UTF-8 \(byte 24 "),
])
def test_truncated_or_corrupt_file_names_file_last_line_and_fix(tmp_path, name, damage, cause, stopped):
    path = tmp_path / name
    damage(path)
    before = sha256(path)
    with pytest.raises(snli.SNLIFormatError) as info:
        snli.load_snli("dev", tmp_path, download=False)
    message = str(info.value)
    assert message.startswith(f"{path}: the file is truncated or corrupt ({cause}")
    assert re.search(f"reading stopped {stopped}", message), message
    assert "Re-download the split" in message and snli.SNLI_URL in message and "unpack the archive again" in message
    if damage is _truncated_gz:
        last = int(re.search(r"after line (\d+)", message).group(1))
        assert 0 < last < 3000
    assert sha256(path) == before


# ------------------------------------------------------------------------------------------ 1b


@pytest.mark.parametrize("records, why", [
    ([], "the file is empty"),
    ([record(0, "-"), record(1, "-")], "2 lines, all labelled '-'"),
])
def test_split_without_labelled_pairs_is_refused(tmp_path, records, why):
    path = tmp_path / "snli_1.0_dev.jsonl"
    path.write_text(jsonl_text(records))
    before = sha256(path)
    with pytest.raises(snli.SNLIFormatError) as info:
        snli.load_snli("dev", tmp_path, download=False)
    message = str(info.value)
    assert message.startswith(f"{path}: no labelled pairs ({why}); ")
    assert "re-download it" in message and snli.SNLI_URL in message and "CLIPNEURON_DATA" in message
    assert len(snli.load_snli("dev", tmp_path, download=False, keep_unlabelled=True)) == len(records)
    assert sha256(path) == before


# ------------------------------------------------------------------------------------------ 1c


@pytest.mark.parametrize("field, bad, problem", [
    ("sentence1_parse", CUT_PARSE, "6 '(' never closed (the tree is cut short)"),
    ("sentence2_parse", PARSE_2 + ")", "a ')' with no matching '(' at character"),
    ("sentence2_parse", PARSE_2 + " " + PARSE_2, "more than one bracketed expression"),
])
def test_unbalanced_parse_tree_names_file_line_field_and_pair(tmp_path, field, bad, problem):
    path = tmp_path / "snli_1.0_dev.jsonl"
    path.write_text(jsonl_text([record(0), record(1, "neutral", **{field: bad}), record(2)]))
    before = sha256(path)
    with pytest.raises(snli.SNLIFormatError) as info:
        snli.load_snli("dev", tmp_path, download=False)
    message = str(info.value)
    assert message.startswith(f"{path}, line 2: {field} of pair 'p1' is not a well-formed parse tree (")
    assert problem in message
    assert "re-download the split" in message and snli.SNLI_URL in message
    assert sha256(path) == before
    with pytest.raises(ValueError, match=re.escape(problem)):
        snli.parse_tree(bad)


def test_real_dev_still_loads_and_a_cut_tree_in_it_is_found(shared_snli, tmp_path):
    dev = snli.load_snli("dev", shared_snli, download=False)
    assert len(dev) == 9842
    lines = gzip.open(shared_snli / "snli_1.0_dev.jsonl.gz", "rt").read().splitlines(keepends=True)
    rec = json.loads(lines[4711])
    rec["sentence1_parse"] = rec["sentence1_parse"][: len(rec["sentence1_parse"]) // 2]
    lines[4711] = json.dumps(rec) + "\n"
    copy = tmp_path / "snli_1.0_dev.jsonl"
    copy.write_text("".join(lines))
    before = sha256(copy)
    with pytest.raises(snli.SNLIFormatError,
                       match=rf"{re.escape(str(copy))}, line 4712: sentence1_parse of pair '{rec['pairID']}'"):
        snli.load_snli("dev", tmp_path, download=False)
    assert sha256(copy) == before


# ------------------------------------------------------------------------------------------ 1d


def test_mistyped_folder_is_not_created_and_failed_download_cleans_up(tmp_path, monkeypatch):
    monkeypatch.delenv(snli.DATA_ENV, raising=False)
    monkeypatch.setenv(snli.URL_ENV, "http://127.0.0.1:9/x.zip")  # refused at once, should it be tried
    keep = tmp_path / "keep.txt"
    keep.write_text("unrelated")
    before = digests(tmp_path)
    typo = tmp_path / "typo" / "snli"
    with pytest.raises(snli.SNLINotFoundError) as info:
        snli.find_split("dev", typo)
    message = str(info.value)
    assert f"SNLI data folder {typo.resolve()} (from the argument data_dir) does not exist" in message
    assert "Check the spelling, or create it to download SNLI there" in message
    assert not (tmp_path / "typo").exists()

    monkeypatch.setenv(snli.DATA_ENV, str(typo))  # the same rule for the environment variable
    with pytest.raises(snli.SNLINotFoundError, match=r"\(from the \$CLIPNEURON_DATA\) does not exist"):
        snli.load_snli("dev")
    assert not (tmp_path / "typo").exists()
    monkeypatch.delenv(snli.DATA_ENV)

    def failing_download(folder, *args, **kwargs):
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "snli_1.0.zip.part").write_bytes(b"half")
        raise ConnectionError("no network")

    monkeypatch.setattr(snli, "download_snli", failing_download)
    with pytest.raises(snli.SNLINotFoundError) as info:  # one new level: download tried, then removed
        snli.find_split("dev", tmp_path / "fresh")
    assert "download of http://127.0.0.1:9/x.zip failed: ConnectionError: no network" in str(info.value)
    assert f"removed the folder {(tmp_path / 'fresh').resolve()} this call had created" in str(info.value)
    assert not (tmp_path / "fresh").exists()

    monkeypatch.chdir(tmp_path)  # the default ./data/snli may be created, and is removed again
    with pytest.raises(snli.SNLINotFoundError, match="from the default ./data/snli"):
        snli.find_split("dev")
    assert not (tmp_path / "data").exists()
    assert digests(tmp_path) == before


# ------------------------------------------------------------------------------------------ 2


def test_load_pairs_refuses_empty_train_or_probe(tmp_path, monkeypatch):
    for name in ("n_synthetic_probe", "n_synthetic_train"):
        with pytest.raises(ValueError, match=rf"^{name} must be an integer ≥ 3 .*got 0; .*-p {name}=300"):
            corpus.load_pairs("synthetic", **{name: 0})
    path = tmp_path / "snli_1.0_dev.jsonl"
    path.write_text(jsonl_text([record(0, "-")]))
    (tmp_path / "snli_1.0_train_0.01.jsonl").write_text(jsonl_text([record(1)]))
    before = digests(tmp_path)
    with pytest.raises(snli.SNLIFormatError, match=rf"^{re.escape(str(path))}: no labelled pairs"):
        corpus.load_pairs("snli", ["train_0.01"], "dev", str(tmp_path))
    empty = pd.DataFrame(columns=snli.COLUMNS)
    empty.attrs["source"] = str(path)
    monkeypatch.setattr(snli, "load_snli", lambda split, data_dir=None: empty)
    with pytest.raises(ValueError, match=rf"the train split 'train_0.01' \({re.escape(str(path))}\) has 0 labelled"):
        corpus.load_pairs("snli", ["train_0.01"], "dev", str(tmp_path))
    assert digests(tmp_path) == before


# ------------------------------------------------------------------------------------------ 3


@pytest.mark.parametrize("alpha", [None, 0.1])
def test_non_finite_activations_are_refused_naming_units(alpha):
    acts = np.random.default_rng(0).normal(size=(40, 10)).astype(np.float32)
    clean = acts.copy()
    acts[:, 3] = np.nan  # a unit full of NaN
    acts[7, 8] = np.inf
    acts[9, 8] = -np.inf
    with pytest.raises(ValueError) as info:
        search.threshold_activations(acts, alpha, what="lstm model")
    message = str(info.value)
    assert message.startswith("lstm model: 42 non-finite activations (NaN or ±inf) in 2 of 10 units (units 3, 8)")
    assert "lower learning rate" in message and "cache" in message
    expected = clean > 0 if alpha is None else clean > np.quantile(clean, 0.9, axis=0, keepdims=True)
    np.testing.assert_array_equal(search.threshold_activations(clean, alpha), expected)


# ------------------------------------------------------------------------------------------ 4


@pytest.fixture(scope="module")
def model():
    config = heads.HeadConfig(hidden=8, lstm_embedding_dim=4, lstm_hidden_dim=4)
    return heads.NLIModel("lstm", config, 0, vocab=["<pad>", "<unk>", "a", "man", "dog"]).eval()


@pytest.mark.parametrize("pairs, error, says", [
    (None, TypeError, "got NoneType None"),
    ("a man walks", TypeError, "got str 'a man walks'"),
    (("a man walks", "a person moves"), ValueError, "one bare pair"),
    ([("a man walks", 3)], ValueError, "item 0 is tuple ('a man walks', 3)"),
    (["a man walks"], ValueError, "item 0 is str 'a man walks'"),
    ([], ValueError, "got no pairs"),
    (pd.DataFrame({"premise": ["a man"]}), ValueError, "the DataFrame has no column hypothesis"),
])
def test_probe_bad_pairs_say_what_is_expected(model, pairs, error, says):
    with pytest.raises(error) as info:
        probe.probe(model, pairs)
    message = str(info.value)
    assert message.startswith("pairs must be a list of (premise, hypothesis) string pairs, or a DataFrame")
    assert says in message
    assert 'Example: probe(model, [("the boys said hello to the girls", "the girls said hello")]' in message


def test_probe_without_a_model_says_what_is_expected(model):
    with pytest.raises(TypeError) as info:
        probe.probe(None, [("a man", "a dog")])
    assert str(info.value).startswith("model must be a trained classifier (heads.NLIModel, from training.train")
    assert "got NoneType None" in str(info.value) and "Example: probe(model, [(" in str(info.value)
    table = probe.probe(model, [("a man", "a dog")], neurons=[1])  # good input still goes through
    assert table.shape == (1, 7)


# ------------------------------------------------------------------------------------------ 5


def test_clip_truncation_counts_sentences_cut_at_the_context_length():
    encoder = make_encoder("clip", model_name=register_tiny_config(), weights="untrained")
    long = " ".join(["word"] * 200)
    sentences = ["A man is running.", long, "!!! wow !", "Two dogs play in the snow."]
    report = clip_truncation(encoder, sentences)
    assert report["n_sentences"] == 4 and report["n_truncated"] == 1
    assert report["context_length"] == 77 and report["longest_tokens"] == 202
    assert report["examples"] == [{"sentence": long, "tokens": 202}]
    assert encoder.truncated(sentences) == [1]
    # uncut sentences: the count equals the real tokens tokenize() gives (start and end included)
    tokens = encoder.tokenize(sentences).numpy()
    lengths = encoder.token_lengths(sentences)
    for i in (0, 2, 3):
        assert lengths[i] == np.flatnonzero(tokens[i]).max() + 1
