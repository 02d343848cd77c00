"""The papermill pipeline: parameters, overrides, volatile metadata, and failing fast without damage."""

import textwrap

import nbformat
import pytest

from clipneuron_utils.run import executed, pipeline, profiles

HEADER = "# ---\n# jupyter:\n#   kernelspec:\n#     display_name: Python 3\n#     language: python\n#     name: python3\n# ---\n\n"


def chapter(body: str, params: str = 'profile: str = "x"  # profile name\nseed: int = 0  # seed\n') -> str:
    return HEADER + '# %% tags=["parameters"]\n' + params + "\n# %%\n" + textwrap.dedent(body)


@pytest.fixture
def project(tmp_path, monkeypatch, runs_tmp):
    notebooks, params, out = tmp_path / "notebooks", tmp_path / "params", tmp_path / "out"
    notebooks.mkdir()
    params.mkdir()
    (params / "demo.yaml").write_text("profile: demo\nseed: 3\n")
    (notebooks / "01_first.py").write_text(chapter("print('seed is', seed)\n"))
    (notebooks / "02_second.py").write_text(chapter("import sys\nprint('progress 50%|#####', file=sys.stderr)\nprint(seed * 2)\n"))
    monkeypatch.setattr(profiles, "notebooks_dir", lambda: notebooks)
    monkeypatch.setattr(profiles, "params_dir", lambda: params)
    return notebooks, params, out


def outputs(path):
    nb = nbformat.read(path, as_version=4)
    return [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def test_runs_chapters_with_profile_and_overrides(project):
    notebooks, _, out = project
    written = pipeline.run("demo", {"seed": 5}, output_dir=out)
    assert [p.name for p in written] == ["01_first.ipynb", "02_second.ipynb", "_provenance.md", "_scorecard.md"]
    assert "seed is 5\n" in outputs(out / "01_first.ipynb")
    nb = nbformat.read(out / "02_second.ipynb", as_version=4)
    assert nb.metadata["clipneuron"]["parameters"] == {"profile": "demo", "seed": 5}
    assert "papermill" not in nb.metadata
    for cell in nb.cells:
        assert "execution" not in cell.metadata and "papermill" not in cell.metadata
    assert not any("%|" in text for text in outputs(out / "02_second.ipynb")), "progress bars are volatile"
    assert "10\n" in outputs(out / "02_second.ipynb")


def test_reruns_are_byte_identical(project):
    _, _, out = project
    pipeline.run("demo", output_dir=out)
    first = (out / "01_first.ipynb").read_bytes()
    pipeline.run("demo", output_dir=out)
    assert (out / "01_first.ipynb").read_bytes() == first


def test_unknown_override_and_profile_are_refused(project):
    _, _, out = project
    with pytest.raises(pipeline.PipelineError, match="-p max_lenght: unknown parameter 'max_lenght'. Known parameters: profile, seed"):
        pipeline.run("demo", {"max_lenght": 3}, output_dir=out)
    with pytest.raises(pipeline.PipelineError, match=r"profile 'nope': .*nope.yaml does not exist \(profiles: demo\)"):
        pipeline.run("nope", output_dir=out)
    with pytest.raises(pipeline.PipelineError, match="expected key=value"):
        pipeline.parse_override("max_length")
    assert pipeline.parse_override("encoders=[lstm, clip]") == ("encoders", "[lstm, clip]")


def test_failing_chapter_stops_and_leaves_output_untouched(project):
    notebooks, _, out = project
    pipeline.run("demo", output_dir=out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (notebooks / "02_second.py").write_text(chapter("x = 1\n\n# %%\nraise RuntimeError('boom in chapter two')\n"))
    (notebooks / "03_third.py").write_text(chapter("print('never')\n"))
    with pytest.raises(pipeline.PipelineError, match=r"02_second failed at cell .*RuntimeError: boom in chapter two"):
        pipeline.run("demo", output_dir=out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not list(out.glob(".*")), "no temporary files in the output folder"


def test_only_picks_chapters(project):
    _, _, out = project
    written = pipeline.run("demo", only=["02"], output_dir=out)
    assert [p.name for p in written] == ["02_second.ipynb", "_provenance.md", "_scorecard.md"]
    with pytest.raises(pipeline.PipelineError, match="--only 09: no such chapter"):
        profiles.notebook_sources(["09"])


def test_main_exit_status(project, capsys):
    _, _, out = project
    assert pipeline.main(["--profile", "demo", "--output-dir", str(out), "-p", "bogus=1"]) == 1
    assert "unknown parameter 'bogus'" in capsys.readouterr().err


def test_strip_keeps_one_copy_of_a_chart_spec():
    cell = nbformat.v4.new_code_cell("chart")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "application/vnd.vegalite.v6+json": {"mark": "point"}, "text/html": "<div></div>", "text/plain": "<Chart>"})]
    notebook = nbformat.v4.new_notebook(cells=[cell])
    executed.strip_volatile(notebook)
    assert set(notebook.cells[0].outputs[0]["data"]) == {"text/html", "text/plain"}


def test_parameter_cells_fold_into_one_box(tmp_path):
    import nbformat

    from clipneuron_utils.run.executed import parameters_box

    source = tmp_path / "01_x.py"
    source.write_text('# %% tags=["parameters"]\nprofile: str = "paper"  # the profile\nmax_length: int = 5  # atoms | at most\n'
                      'beam_size: int = 10  # kept\n\n# %%\nprint(1)\n', encoding="utf-8")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"),
                nbformat.v4.new_code_cell('profile = "paper"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell('profile = "smoke"', metadata={"tags": ["injected-parameters"]}),
                nbformat.v4.new_code_cell("print(1)")]
    nb.metadata["papermill"] = {"parameters": {"profile": "smoke", "max_length": 5}}
    declared = pipeline.parameters.read_parameters(source)
    parameters_box(nb, declared)
    parameters_box(nb, declared)  # idempotent: one box
    boxes = [c for c in nb.cells if "parameters-box" in c.metadata.get("tags", [])]
    assert len(boxes) == 1 and nb.cells[1] is boxes[0]
    text = boxes[0].source
    assert ":class: dropdown" in text and "Parameters of this run" in text
    assert "| `profile` | **`'smoke'`** | the profile |" in text  # set by the run: bold
    assert "| `max_length` | **`5`** | atoms / at most |" in text  # set by the run to its default: bold too
    assert "| `beam_size` | `10` | kept |" in text  # not set: the chapter's default, plain
    assert all("remove-cell" in c.metadata["tags"] for c in nb.cells[2:4])
    assert "remove-cell" not in nb.cells[4].metadata.get("tags", [])


def test_parameters_box_reads_the_run_after_its_metadata_is_cleaned(tmp_path):
    """The book's box once showed the chapters' defaults: strip_volatile had moved papermill's record away."""
    import nbformat

    source = tmp_path / "01_x.py"
    source.write_text('# %% tags=["parameters"]\nprofile: str = "paper"  # the profile\n\n# %%\nprint(1)\n',
                      encoding="utf-8")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('profile = "paper"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell('profile = "offline"', metadata={"tags": ["injected-parameters"]})]
    nb.metadata["papermill"] = {"parameters": {"profile": "offline"}}
    executed, target = tmp_path / "run.ipynb", tmp_path / "clean.ipynb"
    nbformat.write(nb, executed)
    pipeline.write_clean(executed, target, {"uses": {}}, source)
    box = nbformat.read(target, as_version=4).cells[0].source
    assert "| `profile` | **`'offline'`** | the profile |" in box
