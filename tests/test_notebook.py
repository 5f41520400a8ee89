"""examples/quickstart.ipynb runs top to bottom (budgets shortened through its own variables) and shows
what it says: a sample grid, a class grid and an interpolation as PNGs, and the eval table."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the dev extra")
nbclient = pytest.importorskip("nbclient", reason="nbclient is in the dev extra")
pytest.importorskip("ipykernel", reason="ipykernel is in the dev extra")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


def test_the_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


def test_the_quickstart_notebook_runs_and_shows_its_pictures_and_scores(tmp_path, monkeypatch, mnist_dir):
    monkeypatch.setenv("MINIGAN_QUICKSTART_STEPS", "20")
    monkeypatch.setenv("MINIGAN_QUICKSTART_NUM", "200")
    monkeypatch.setenv("MINIGAN_DATA_DIR", str(mnist_dir))
    monkeypatch.setenv("PYTHONPATH", str(NOTEBOOK.parents[1] / "src"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=240, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    pictures = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(pictures) == 3  # the sample grid, the class grid, the interpolation
    text = "".join(out.get("text", "") for out in outputs)
    assert text.count("FID ") == 2 and "real data" in text and "label accuracy" in text
    assert sorted(p.name for p in (tmp_path / "runs").iterdir())[-2:] == ["00000-fast", "00001-fast-cond"]
