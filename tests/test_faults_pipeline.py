"""Fault injection for the pipeline: concurrent runs, partial runs, failures mid-copy, bad parameters,
interruptions. Each test checks the message names what went wrong and that nothing made before changed."""

import errno
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from clipneuron_utils.run import parameters, pipeline, profiles

HEADER = "# ---\n# jupyter:\n#   kernelspec:\n#     display_name: Python 3\n#     language: python\n#     name: python3\n# ---\n\n"
PARAMS = ('profile: str = "x"  # profile name\nseed: int = 0  # seed\ndata_source: str = "synthetic"  # data\n'
          'clip_sha256: str = ""  # checksum\nencoders: list = ["lstm"]  # encoders\nlr: float = 0.001  # rate\n')


def chapter(body: str, params: str = PARAMS) -> str:
    return HEADER + '# %% tags=["parameters"]\n' + params + "\n# %%\n" + textwrap.dedent(body)


RECORD = ("from clipneuron_utils.render import provenance\n"
          "provenance.record(profile, 'data', {'text': f'{data_source} data', 'warning': None})\n")


@pytest.fixture
def project(tmp_path, monkeypatch, runs_tmp):
    notebooks, params, out = tmp_path / "notebooks", tmp_path / "params", tmp_path / "out"
    notebooks.mkdir()
    params.mkdir()
    (params / "demo.yaml").write_text("profile: demo\nseed: 3\n")
    (notebooks / "01_first.py").write_text(chapter(RECORD + "print('seed is', seed)\n"))
    (notebooks / "02_second.py").write_text(chapter("print(seed * 2)\n"))
    monkeypatch.setattr(profiles, "notebooks_dir", lambda: notebooks)
    monkeypatch.setattr(profiles, "params_dir", lambda: params)
    return notebooks, params, out


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` (hidden ones too) → SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------------- one run at a time


def test_second_run_of_a_profile_stops_naming_the_first(project, runs_tmp):
    _, _, out = project
    pipeline.run("demo", output_dir=out)
    before = snapshot(out)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from clipneuron_utils.run import pipeline\n"
                               "with pipeline.profile_lock('demo'):\n    print('held', flush=True); time.sleep(60)"],
        env={**os.environ, "CLIPNEURON_RUNS": str(runs_tmp)}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(pipeline.ProfileBusyError, match=rf"another run of profile 'demo' is in progress \(pid {holder.pid} on .*--wait"):
            pipeline.run("demo", {"seed": 4}, output_dir=out)
    finally:
        holder.kill()
        holder.wait()
    assert snapshot(out) == before
    # a killed holder releases the lock (the OS drops it): the next run goes through
    pipeline.run("demo", {"seed": 4}, output_dir=out)


# ----------------------------------------------------------------------------------- all-or-nothing output


def test_failure_mid_copy_leaves_the_output_byte_identical(project, monkeypatch, capsys):
    _, _, out = project
    pipeline.run("demo", output_dir=out)
    before = snapshot(out)
    real, calls = pipeline.write_clean, []

    def disk_full(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(args[1]))
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "write_clean", disk_full)
    assert pipeline.main(["--profile", "demo", "--output-dir", str(out), "-p", "seed=9"]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "free some disk space" in err and "not changed" in err
    assert snapshot(out) == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")], "no staging left beside it"


def test_failure_during_the_swap_puts_the_old_folder_back(project, monkeypatch):
    _, _, out = project
    pipeline.run("demo", output_dir=out)
    before = snapshot(out)
    real, calls = os.replace, []

    def second_rename_fails(src, dst):
        calls.append((src, dst))
        if Path(src).name.startswith(f".{out.name}.new-"):
            raise OSError(errno.EIO, "I/O error", str(dst))
        return real(src, dst)

    monkeypatch.setattr(pipeline.os, "replace", second_rename_fails)
    with pytest.raises(OSError, match="I/O error"):
        pipeline.run("demo", {"seed": 8}, output_dir=out)
    assert snapshot(out) == before


def test_stale_staging_folders_are_removed_at_the_next_start(project, runs_tmp):
    _, _, out = project
    pipeline.run("demo", output_dir=out)
    (runs_tmp / "demo" / ".staging-killed").mkdir()
    (out.parent / f".{out.name}.new-killed").mkdir()
    pipeline.run("demo", output_dir=out)
    assert not (runs_tmp / "demo" / ".staging-killed").exists()
    assert not (out.parent / f".{out.name}.new-killed").exists()


def test_output_killed_between_the_two_renames_is_restored(project):
    _, _, out = project
    pipeline.run("demo", output_dir=out)
    before = snapshot(out)
    out.rename(out.parent / f".{out.name}.old-12345")  # as a SIGKILL between the renames leaves it
    assert pipeline.remove_stale("demo", out) == []
    assert snapshot(out) == before


def test_written_files_are_world_readable(project):
    _, _, out = project
    old = os.umask(0o022)
    try:
        pipeline.run("demo", output_dir=out)
    finally:
        os.umask(old)
    for path in out.iterdir():
        assert path.stat().st_mode & 0o777 == 0o644, path
    assert out.stat().st_mode & 0o777 == 0o755


def test_artifacts_go_to_the_checkout_runs_whatever_the_output_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("CLIPNEURON_RUNS", raising=False)
    monkeypatch.chdir(tmp_path)  # outside the checkout: cwd-based lookup finds no pyproject.toml
    with pipeline._run_environment():
        runs = Path(os.environ["CLIPNEURON_RUNS"])
    assert runs == Path(pipeline.__file__).resolve().parents[2] / "runs"
    assert "CLIPNEURON_RUNS" not in os.environ


# ----------------------------------------------------------------------------------- partial runs, provenance


def test_partial_run_with_other_data_is_refused(project):
    _, _, out = project
    pipeline.run("demo", output_dir=out)
    before = snapshot(out)
    with pytest.raises(pipeline.PipelineError, match=r"01_first would run with data_source='snli', but 02_second.ipynb .* "
                                                     r"data_source='synthetic': the book would mix two runs"):
        pipeline.run("demo", {"data_source": "snli"}, only=["01"], output_dir=out)
    assert snapshot(out) == before


def test_a_chapter_rerun_alone_cannot_sit_beside_chapters_of_another_run(project):
    notebooks, _, out = project
    pointer = "from clipneuron_utils import artifacts\nfrom clipneuron_utils import run\npointer = artifacts.run_dir(profile) / 'model.txt'\n"
    makes = pointer + "pointer.write_text(f'key{hidden}')\nrun.note_use('models', {'lstm': f'key{hidden}'})\n"
    reads = pointer + "run.note_use('models', {'lstm': pointer.read_text()})\n"
    (notebooks / "01_first.py").write_text(chapter(makes, PARAMS + "hidden: int = 64  # units\n"))  # chapter 03_head_training's role
    (notebooks / "02_second.py").write_text(chapter(reads))  # chapter 05_search's role: reads what the last run made
    pipeline.run("demo", output_dir=out)
    before = snapshot(out)
    with pytest.raises(pipeline.PipelineError, match=r"the chapters would mix two runs: 01_first used lstm model key32, "
                                                     r"02_second used key64.*add --only 01 --only 02"):
        pipeline.run("demo", {"hidden": 32}, only=["01"], output_dir=out)
    assert snapshot(out) == before
    with pytest.raises(pipeline.PipelineError, match=r"01_first used lstm model key64, 02_second used key32"):
        pipeline.run("demo", only=["02"], output_dir=out)  # reads what another run left in the shared runs/
    assert snapshot(out) == before
    pipeline.run("demo", {"hidden": 32}, only=["01", "02"], output_dir=out)
    nb = nbformat.read(out / "02_second.ipynb", as_version=4)
    assert nb.metadata["clipneuron"]["uses"] == {"models": {"lstm": "key32"}}


def test_one_chapter_run_keeps_the_other_chapters_provenance(project):
    _, _, out = project
    pipeline.run("demo", output_dir=out)
    assert "- **data**: synthetic data" in (out / "_provenance.md").read_text()
    pipeline.run("demo", only=["02"], output_dir=out)
    assert "- **data**: synthetic data" in (out / "_provenance.md").read_text()
    nb = nbformat.read(out / "01_first.ipynb", as_version=4)
    assert nb.metadata["clipneuron"]["provenance"]["data"]["text"] == "synthetic data"


# ----------------------------------------------------------------------------------- parameters


def test_typo_in_the_profile_is_an_error_naming_file_and_key(project):
    _, params, out = project
    (params / "demo.yaml").write_text("profile: demo\nseeed: 3\n")
    started = time.perf_counter()
    with pytest.raises(pipeline.PipelineError, match=r"demo.yaml, line 2: unknown parameter 'seeed'. Did you mean 'seed'\?"):
        pipeline.run("demo", output_dir=out)
    assert time.perf_counter() - started < 2
    assert not out.exists(), "no kernel ran, nothing was written"


@pytest.mark.parametrize("override, message", [
    ("encoders=[foo]", r"encoders must be a non-empty list drawn from clip, lstm, minilm \('foo' is not\)"),
    ("clip_sha256=" + "g" * 64, "clip_sha256 must be empty or 64 hexadecimal digits"),
    ("clip_sha256=abc", "clip_sha256 must be empty or 64 hexadecimal digits"),
    ("lr=fast", "lr must be of type float"),
    ("lr=-1", r"lr must lie in \(0, inf\)"),
    ("seed=1.5", "seed must be of type int"),
])
def test_bad_values_stop_before_any_kernel(project, override, message, capsys):
    _, _, out = project
    started = time.perf_counter()
    assert pipeline.main(["--profile", "demo", "--output-dir", str(out), "-p", override]) == 1
    assert time.perf_counter() - started < 2
    err = capsys.readouterr().err
    assert err.startswith("error: -p ") and len(err.strip().splitlines()) == 1
    assert pytest.importorskip("re").search(message, err), err
    assert not out.exists()


def test_a_checksum_needs_a_checkpoint_that_exists(project, tmp_path):
    _, _, out = project
    sources = [Path(pipeline.__file__).resolve().parents[2] / "notebooks" / "02_encoders.py"]
    resolve = lambda **v: parameters.resolve({}, Path("p.yaml"), v, sources, sources)  # noqa: E731
    with pytest.raises(parameters.ParameterError, match="clip_sha256 checks a local checkpoint file, but clip_weights='untrained'"):
        resolve(clip_weights="untrained", clip_sha256="0" * 64)
    with pytest.raises(parameters.ParameterError, match=r"clip_weights /nowhere/ViT-B-32.pt: no such file"):
        resolve(clip_weights="/nowhere/ViT-B-32.pt")
    checkpoint = tmp_path / "ViT-B-32.pt"
    checkpoint.write_bytes(b"weights")
    assert resolve(clip_weights=str(checkpoint), clip_sha256="0" * 64)["clip_weights"] == str(checkpoint)
    assert resolve(clip_weights="openai", encoders=["lstm"], clip_sha256="")["clip_weights"] == "openai"


def test_a_checksum_of_zeros_stays_a_string():
    param = parameters.Parameter("clip_sha256", "str", "", "checksum", "02")
    zeros = "0" * 64
    assert parameters.coerce_override(param, zeros) == zeros
    assert parameters.check_value(param, zeros, "-p") == zeros
    with pytest.raises(parameters.ParameterError, match="clip_sha256 must be of type str \\(quote it in YAML"):
        parameters.check_value(param, 0, "params/x.yaml")


def test_every_chapter_parameter_is_declared_with_a_type_and_help():
    sources = sorted((Path(pipeline.__file__).resolve().parents[2] / "notebooks").glob("[0-9][0-9]_*.py"))
    declared = parameters.declared(sources)
    assert {"max_length", "clip_sha256", "encoders", "hidden"} <= set(declared)
    assert all(p.help for p in declared.values())
    for profile in ("smoke", "offline", "paper"):
        values = profiles.load_profile(profile)
        parameters.resolve(values, Path(f"{profile}.yaml"), {}, sources, sources)


def test_allowed_names_agree_with_the_modules():
    from clipneuron_utils.data import corpus
    from clipneuron_utils import run
    from clipneuron_utils.models import heads

    assert parameters.ENCODERS == heads.ENCODERS
    from clipneuron_utils.models import random_controls
    assert random_controls.controls_of(parameters.CONTROLS) == list(parameters.CONTROLS)
    assert parameters.ENCODINGS == run.ENCODINGS
    assert parameters.DATA_SOURCES == corpus.DATA_SOURCES


# ----------------------------------------------------------------------------------- interruptions


def test_ctrl_c_gives_one_line_exit_130_and_an_unchanged_output(project, runs_tmp):
    notebooks, params, out = project
    pipeline.run("demo", output_dir=out)
    before = snapshot(out)
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from clipneuron_utils.run import pipeline, profiles
        profiles.notebooks_dir = lambda: Path({str(notebooks)!r})
        profiles.params_dir = lambda: Path({str(params)!r})
        sys.exit(pipeline.main(["--profile", "demo", "--output-dir", {str(out)!r}, "-p", "seed=7"]))
    """)
    (notebooks / "02_second.py").write_text(chapter("import time\nprint('sleeping', flush=True)\ntime.sleep(60)\n"))
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "CLIPNEURON_RUNS": str(runs_tmp)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not list((runs_tmp / "demo").glob(".staging-*/02_second.ipynb")):
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1].startswith("interrupted (Ctrl-C): the output folder was not changed")
    assert "Traceback" not in stderr
    assert snapshot(out) == before
    assert not list((runs_tmp / "demo").glob(".staging-*"))


def test_permission_error_is_one_line(project, monkeypatch, capsys):
    _, _, out = project

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(out))

    monkeypatch.setattr(pipeline, "run", denied)
    assert pipeline.main(["--profile", "demo", "--output-dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (f"error: Permission denied: {out}. check the folder's permissions (or choose another "
                           "--output-dir / $CLIPNEURON_RUNS); the output folder was not changed.")


def test_environment_sets_unsets_and_restores_even_on_error(monkeypatch):
    from clipneuron_utils import artifacts

    monkeypatch.setenv("CLIPNEURON_TEST_KEEP", "before")
    monkeypatch.delenv("CLIPNEURON_TEST_NEW", raising=False)
    with pytest.raises(RuntimeError):
        with artifacts.environment(CLIPNEURON_TEST_KEEP=None, CLIPNEURON_TEST_NEW="1"):
            assert "CLIPNEURON_TEST_KEEP" not in os.environ and os.environ["CLIPNEURON_TEST_NEW"] == "1"
            raise RuntimeError
    assert os.environ["CLIPNEURON_TEST_KEEP"] == "before" and "CLIPNEURON_TEST_NEW" not in os.environ
