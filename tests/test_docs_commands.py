"""Every command in README.md and docs/*.md runs as written (with the rewrites of docs_commands.RULES only)
and leaves what it promises: a .png is a PNG, an .npz holds uint8 images, a .gif has frames, eval prints
its table. Blocks run in a fresh folder each, beside a `shared/data` like the repository's, with one
short `fast` and `fast-cond` run shared by the commands that read them."""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
import docs_commands as dc  # noqa: E402

BLOCKS = dc.all_blocks()
RUNNABLE = [b for b in BLOCKS if b.skip is None]


def _workdir(root: Path, block: dc.Block, name: str, fresh: bool = True) -> Path:
    """A folder holding the shared runs (except those the block trains itself), the repository's
    src/ and benchmarks/, and a docs/ with the picture script."""
    cwd = root / name
    if not fresh and cwd.exists():
        return cwd
    (cwd / "runs").mkdir(parents=True)
    lines = dc.commands(block.text) if block.lang == "bash" else []
    trained = {argv[argv.index("--out") + 1] for argv in lines if "train" in argv and "--out" in argv}
    for run in (root / "runs").iterdir():
        if f"runs/{run.name}" not in trained and not re.search(rf'out="runs/{run.name}"', block.text):
            shutil.copytree(run, cwd / "runs" / run.name)
    for folder in ("src", "benchmarks"):
        (cwd / folder).symlink_to(dc.REPO / folder, target_is_directory=True)
    (cwd / "docs").mkdir()
    shutil.copy(dc.REPO / "docs" / "make_pictures.py", cwd / "docs")
    shutil.copytree(dc.REPO / "docs" / "data", cwd / "docs" / "data")
    return cwd


def check_promises(ran: dc.Ran, cwd: Path) -> None:
    """What the command's own words promise about the files it names and what it prints."""
    for path in dc.written_files(ran.argv, cwd):
        if path.suffix in (".png", ".gif"):
            try:
                with Image.open(path) as image:
                    kind, frames = image.format, getattr(image, "n_frames", 1)
            except OSError as exc:
                raise AssertionError(f"{path.name} is not an image Pillow opens: {exc}") from None
            assert kind == path.suffix[1:].upper(), f"{path.name} is {kind}, not {path.suffix[1:].upper()}"
            assert kind == "PNG" or frames > 1, f"{path.name}: a GIF of {frames} frame"
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                images = f["images"]
            assert images.dtype == np.uint8 and images.ndim == 3, f"{path.name}: no uint8 images"
        elif path.suffix == ".md":
            assert path.read_text().strip(), f"{path.name} is empty"
    if ran.argv[:2] == ["minigan", "eval"]:
        table = re.search(r"^FID\s+[\d.]+\s+[\d.]+\s+lower$", ran.out, re.M)
        assert table, f"eval printed no table:\n{ran.out}"
    if ran.argv[:2] == ["minigan", "serve"]:
        assert '"runs"' in ran.out


def run_block(block: dc.Block, cwd: Path, monkeypatch) -> list[dc.Ran]:
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("MINIGAN_DATA_DIR", str(cwd.parent / "shared" / "data" / "mnist"))
    env = {**os.environ, "PYTHONPATH": str(dc.REPO / "src")}
    if block.lang == "python":
        return [dc.run_python(block.text, cwd)]
    done = []
    for argv in dc.commands(block.text):
        ran = dc.run_command(argv, cwd, env)
        if ran is None:
            continue
        assert ran.returncode == 0, f"{block.where}: {' '.join(argv)} failed:\n{ran.out[-3000:]}"
        check_promises(ran, cwd)
        done.append(ran)
    return done


# README's first two blocks train `fast` and `fast-cond` (20 steps after the rules); the fixture runs
# them once, as the blocks' own test, and every other block reads those runs.
SHARED = [b for b in dc.read_blocks(dc.REPO / "README.md") if "minigan train" in b.text][:2]


@dataclass
class Shared:
    top: Path  # tmp/shared/data -> the test data; tmp/readme/runs: fast and fast-cond
    ran: dict[str, list[dc.Ran] | BaseException]


@pytest.fixture(scope="module")
def root(tmp_path_factory, mnist_dir: Path) -> Shared:
    top = tmp_path_factory.mktemp("docs")
    (top / "shared").mkdir()
    (top / "shared" / "data").symlink_to(mnist_dir.parent, target_is_directory=True)
    (top / "runs").mkdir()
    shared = Shared(top, {})
    cwd = top / "readme"
    for block in SHARED:
        with pytest.MonkeyPatch.context() as monkeypatch:
            try:
                workdir = _workdir(top, block, "readme", fresh=False)
                shared.ran[block.where] = run_block(block, workdir, monkeypatch)
            except (AssertionError, Exception) as exc:  # reported by the block's own test
                shared.ran[block.where] = exc
    for run in ("fast", "fast-cond"):
        if (cwd / "runs" / run).is_dir():
            shutil.copytree(cwd / "runs" / run, top / "runs" / run)
    return shared


@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_documented_block_runs(block: dc.Block, root: Shared, monkeypatch) -> None:
    if block.skip:
        pytest.skip(f"{block.where}: {block.skip}")
    if block.where in root.ran:  # run by the fixture
        result = root.ran[block.where]
        if isinstance(result, BaseException):
            raise result
        assert result
        return
    cwd = _workdir(root.top, block, re.sub(r"\W", "_", block.where))
    run_block(block, cwd, monkeypatch)


def test_the_first_command_draws_100_digits(root: Shared) -> None:
    """README's first command, as written, leaves digits.png: a 10x10 grid of 28 px digits, 2 px apart."""
    first = dc.read_blocks(dc.REPO / "README.md")[0]
    assert first == SHARED[0] and not isinstance(root.ran[first.where], BaseException)
    assert "minigan sample runs/fast --num 100 --grid digits.png" in first.text
    with Image.open(root.top / "readme" / "digits.png") as image:
        assert (image.format, image.mode, image.size) == ("PNG", "L", (302, 302))
        grid = np.asarray(image)
    cells = [grid[2 + 30 * r:30 + 30 * r, 2 + 30 * c:30 + 30 * c] for r in range(10) for c in range(10)]
    assert all(cell.max() > cell.min() for cell in cells)  # 100 drawn cells, none a flat fill
    assert grid[:2].max() == 0 and grid[:, 30:32].max() == 0  # the padding between them


def test_a_broken_command_fails_the_checker(root: Shared, monkeypatch, tmp_path: Path) -> None:
    """A scratch copy of README where a sample command writes its .npz under a .png name (the old bug of
    the first command) fails the checker: `sample` now refuses the name itself (docs/reliability.md),
    and the checker fails on its exit status."""
    readme = (dc.REPO / "README.md").read_text()
    good = "--num 1000 --out samples.npz --grid grid.png"
    assert good in readme
    broken = tmp_path / "README.md"
    broken.write_text(readme.replace(good, "--num 1000 --out grid.png", 1))
    block = next(b for b in dc.read_blocks(broken) if "--out grid.png" in b.text)
    with pytest.raises(AssertionError, match=r"--out grid\.png failed:\n.*minigan: error: .*grid\.png"):
        run_block(block, _workdir(root.top, block, "broken"), monkeypatch)


def test_every_skip_names_its_reason() -> None:
    skipped = [b for b in BLOCKS if b.skip]
    assert all(len(b.skip) > 10 for b in skipped)
    assert len(RUNNABLE) >= 15  # the docs keep their commands runnable, not skipped


def test_the_rules_shorten_budgets_and_nothing_else() -> None:
    argv = ["minigan", "train", "--preset", "fast", "--time-budget", "300", "--out", "runs/fast"]
    assert dc.rewrite(argv) == ["minigan", "train", "--preset", "fast", "--steps", "20", "--out", "runs/fast"]
    assert dc.rewrite(["minigan", "sample", "r", "--num", "10000"])[-1] == "200"
    assert dc.rewrite(["minigan", "eval", "r"]) == ["minigan", "eval", "r", "--num", "200"]
    assert dc.rewrite(["minigan", "resume", "r", "--steps", "4000"])[-1] == "40"
    assert dc.commands("a b \\\n  c && d # e\nf; g") == [["a", "b", "c"], ["d"], ["f"], ["g"]]
    assert dc.rewrite_python("train('fast', time_budget=300)\nsweep(steps=2000, eval_num=2000)") == \
        "train('fast', steps=20)\nsweep(steps=20, eval_num=200)"


def test_the_picture_script_draws_its_plots(tmp_path: Path) -> None:
    import subprocess

    done = subprocess.run([sys.executable, str(dc.REPO / "docs" / "make_pictures.py"), "--plots-only",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=120, check=True)
    for name in ("ttq-fast.png", "ttq-best.png"):
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG"
    assert "ttq-fast.png" in done.stdout
