"""SNLI loading: parse → tokens/tags, the three file formats, labels, folder resolution, every error path."""

import gzip
import hashlib
import http.server
import io
import json
import threading
import zipfile
from pathlib import Path

import pytest

from clipneuron_utils.data import snli
from fixtures import PARSE_1, snli_record

PARSE_3 = "(ROOT (NP (-LRB- -LRB-) (NNP New) (NNP York) (-RRB- -RRB-)))"
record = snli_record


RECORDS = [record(0), record(1, "neutral"), record(2, "-"), record(3, "contradiction")]
TXT_HEADER = [
    "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse", "sentence2_parse",
    "sentence1", "sentence2", "captionID", "pairID", "label1", "label2", "label3", "label4", "label5",
]


def jsonl_text(records):
    return "".join(json.dumps(r) + "\n" for r in records)


def txt_text(records):
    lines = ["\t".join(TXT_HEADER)]
    for r in records:
        lines.append("\t".join([r["gold_label"], r["sentence1_binary_parse"], r["sentence2_binary_parse"],
                                r["sentence1_parse"], r["sentence2_parse"], r["sentence1"], r["sentence2"],
                                r["captionID"], r["pairID"], r["gold_label"], "", "", "", ""]))
    return "\n".join(lines) + "\n"


def write_split(folder: Path, split: str, suffix: str, records=RECORDS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"snli_1.0_{split}{suffix}"
    if suffix == ".jsonl":
        path.write_text(jsonl_text(records))
    elif suffix == ".jsonl.gz":
        with gzip.open(path, "wt") as fh:
            fh.write(jsonl_text(records))
    else:
        path.write_text(txt_text(records))
    return path


def test_parse_tree_gives_lowercased_leaves_and_tags():
    assert snli.parse_tree(PARSE_1) == (["a", "man", "is", "running", "."], ["DT", "NN", "VBZ", "VBG", "."])
    tokens, tags = snli.parse_tree(PARSE_3)
    assert tokens == ["-lrb-", "new", "york", "-rrb-"]
    assert tags == ["-LRB-", "NNP", "NNP", "-RRB-"]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".txt"])
def test_three_formats_give_the_same_frame(tmp_path, suffix):
    write_split(tmp_path, "dev", suffix)
    frame = snli.load_snli("dev", tmp_path, download=False)
    assert list(frame.columns) == snli.COLUMNS
    assert frame["pair_id"].tolist() == ["p0", "p1", "p3"]
    assert frame["label"].tolist() == ["entailment", "neutral", "contradiction"]
    assert frame.loc[0, "premise_tokens"] == ["a", "man", "is", "running", "."]
    assert frame.loc[0, "hypothesis_tags"] == ["DT", "NN", "VBZ", "."]
    assert frame.attrs["source"].endswith(suffix)


def test_unlabelled_pairs_are_dropped_unless_asked_for(tmp_path):
    write_split(tmp_path, "dev", ".jsonl")
    assert len(snli.load_snli("dev", tmp_path, download=False)) == 3
    kept = snli.load_snli("dev", tmp_path, keep_unlabelled=True, download=False)
    assert kept["label"].tolist() == ["entailment", "neutral", "-", "contradiction"]


def test_unknown_label_is_an_error_with_file_and_line(tmp_path):
    path = write_split(tmp_path, "dev", ".jsonl", [record(0), record(1, "maybe")])
    with pytest.raises(snli.SNLIFormatError, match=rf"{path}, line 2: gold_label 'maybe'"):
        snli.load_snli("dev", tmp_path, download=False)


def test_malformed_json_line_names_file_and_line(tmp_path):
    path = tmp_path / "snli_1.0_dev.jsonl"
    path.write_text(jsonl_text(RECORDS[:2]) + '{"gold_label": "neutral", broken\n')
    with pytest.raises(snli.SNLIFormatError, match=rf"{path}, line 3: not valid JSON"):
        snli.load_snli("dev", tmp_path, download=False)


def test_missing_field_and_empty_parse_are_errors(tmp_path):
    bad = record(0)
    del bad["sentence2_parse"]
    write_split(tmp_path, "dev", ".jsonl", [record(1), bad])
    with pytest.raises(snli.SNLIFormatError, match=r"line 2: missing field\(s\) sentence2_parse"):
        snli.load_snli("dev", tmp_path, download=False)
    write_split(tmp_path, "test", ".jsonl", [record(0, sentence1_parse="(ROOT)")])
    with pytest.raises(snli.SNLIFormatError, match=r"line 1: sentence1_parse has no \(TAG word\) leaves"):
        snli.load_snli("test", tmp_path, download=False)


def test_txt_with_too_few_fields_names_the_line(tmp_path):
    path = write_split(tmp_path, "dev", ".txt")
    path.write_text(path.read_text() + "neutral\tonly two\n")
    with pytest.raises(snli.SNLIFormatError, match=rf"{path}, line 6: 2 tab-separated fields"):
        snli.load_snli("dev", tmp_path, download=False)


def test_folder_resolution_argument_then_env_then_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(snli.DATA_ENV, raising=False)
    assert snli.resolve_data_dir().path == Path("data/snli")
    monkeypatch.setenv(snli.DATA_ENV, str(tmp_path / "env"))
    assert snli.resolve_data_dir().path == tmp_path / "env"
    assert snli.resolve_data_dir().origin == "$CLIPNEURON_DATA"
    assert snli.resolve_data_dir(tmp_path / "arg").path == tmp_path / "arg"
    write_split(tmp_path / "env", "dev", ".jsonl")
    assert len(snli.load_snli("dev", download=False)) == 3
    # the unpacked archive's own folder is looked in too
    write_split(tmp_path / "arg" / "snli_1.0", "dev", ".jsonl")
    assert snli.find_split("dev", tmp_path / "arg", download=False).parent.name == "snli_1.0"


def test_missing_split_error_names_every_path_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv(snli.URL_ENV, "http://127.0.0.1:9/nothing.zip")  # refused at once
    with pytest.raises(snli.SNLINotFoundError) as info:
        snli.load_snli("dev", tmp_path / "empty")
    message = str(info.value)
    for path in snli.candidate_paths("dev", tmp_path / "empty"):
        assert str(path.resolve()) in message
    assert "download of http://127.0.0.1:9/nothing.zip failed" in message
    assert "CLIPNEURON_DATA" in message and snli.SNLI_URL in message


def test_bad_split_name_is_refused(tmp_path):
    with pytest.raises(ValueError, match="split must be an SNLI split name"):
        snli.load_snli("../../etc/passwd", tmp_path, download=False)


@pytest.fixture
def archive_server(tmp_path):
    """A local HTTP server holding an SNLI-shaped archive: the real download code, no internet."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("snli_1.0/snli_1.0_dev.jsonl", jsonl_text(RECORDS))
        zf.writestr("__MACOSX/snli_1.0/._snli_1.0_dev.jsonl", "junk")
    payload = buffer.getvalue()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/snli_1.0.zip", hashlib.md5(payload).hexdigest()
    server.shutdown()


def test_download_verifies_and_unpacks(tmp_path, monkeypatch, archive_server):
    url, md5 = archive_server
    monkeypatch.setenv(snli.URL_ENV, url)
    monkeypatch.setattr(snli, "SNLI_ZIP_MD5", md5)
    frame = snli.load_snli("dev", tmp_path / "fresh")
    assert len(frame) == 3
    assert (tmp_path / "fresh" / "snli_1.0" / "snli_1.0_dev.jsonl").is_file()
    assert not (tmp_path / "fresh" / "__MACOSX").exists()


def test_download_with_wrong_checksum_is_refused(tmp_path, monkeypatch, archive_server):
    url, _ = archive_server
    monkeypatch.setenv(snli.URL_ENV, url)
    monkeypatch.setattr(snli, "SNLI_ZIP_MD5", "0" * 32)
    with pytest.raises(snli.SNLINotFoundError, match="(?s)download of .* failed: ValueError: .*hash"):
        snli.load_snli("dev", tmp_path / "fresh")
    leftovers = [p.name for p in (tmp_path / "fresh").iterdir()] if (tmp_path / "fresh").exists() else []
    assert leftovers == [], f"a refused download left files behind: {leftovers}"


def test_official_dev_counts_and_checksum(shared_snli):
    dev = snli.load_snli("dev", shared_snli, download=False)
    assert len(dev) == 9842
    assert len(snli.load_snli("dev", shared_snli, keep_unlabelled=True, download=False)) == 10000
    assert set(dev["label"]) == set(snli.LABELS)
    assert snli.is_official("dev", dev.attrs["source"])
    assert all(len(t) == len(g) for t, g in zip(dev.premise_tokens, dev.premise_tags))


def test_malformed_line_in_a_copy_of_dev(shared_snli, tmp_path):
    lines = gzip.open(shared_snli / "snli_1.0_dev.jsonl.gz", "rt").read().splitlines(keepends=True)
    lines[4711] = lines[4711][: len(lines[4711]) // 2] + "\n"
    copy = tmp_path / "snli_1.0_dev.jsonl"
    copy.write_text("".join(lines))
    with pytest.raises(snli.SNLIFormatError, match=rf"{copy}, line 4712: not valid JSON"):
        snli.load_snli("dev", tmp_path, download=False)
    assert not snli.is_official("dev", copy)
