"""The CLI under random flags, values and damaged files: it succeeds, or says why in one line.

Hypothesis builds command lines for sample, interpolate, amplitude, clock, eval, train --dry-run
and resume from each command's real flags, with values drawn from the edges that broke before
(negative, zero, huge, not a number, empty, wrong extension, a run's own file, a file as parent,
a folder), and the files they read from damaged generator, classifier, config and log bytes.
Each line runs `cli.main` in-process; any exception escaping it, a traceback, or an error that is
not exactly one `minigan: error:` line fails the test. Training never starts: train is always
--dry-run and resume always asks for fewer steps than the run has.
"""

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from minigan import cli
from minigan.config import config_fields
from minigan.models import build_generator
from minigan.presets import get_config
from minigan.sampling import save_generator
from minigan.training import Trainer

# CI: a fixed set of lines (derandomised). MINIGAN_FUZZ_EXAMPLES=5000 explores new ones each run.
EXAMPLES = int(os.environ.get("MINIGAN_FUZZ_EXAMPLES", "0")) or 400
EXPLORE = "MINIGAN_FUZZ_EXAMPLES" in os.environ

INTS = ["-1", "0", "1", "2", "3", "10000000", "1000000000000", "9223372036854775808", "abc", "", "nan",
        "1e3", "-0", "0x10"]
FLOATS = ["-1", "0", "0.5", "1", "30", "1e9", "1e308", "inf", "nan", "-inf", "x", ""]
WORDS = ["", "none", "linear", "cpu", "cuda", "12:59", "25:00", "7", "1,2,3", "65536,65536", "0,0", "a,b"]
DEVICES = ["cpu", "cuda", "cuda:7", "tpu", "", "auto"]


class World(dict):
    """The fixture's files; its repr stays short in a failure report (it holds whole files)."""

    def __repr__(self) -> str:
        return f"World({self['root']})"


@pytest.fixture(scope="module")
def world(mnist_dir, tmp_path_factory) -> dict:
    """The files the command lines read: a trained run, generators, samples, things that are not those."""
    root = tmp_path_factory.mktemp("fuzz")
    config = get_config("minimal", data_dir=str(mnist_dir), steps=4, log_every=2, checkpoint_every=4,
                        grid_size=4, keep_checkpoints=1, tensorboard=False, device="cpu")
    Trainer(config, root / "run", progress=False).fit()
    conditional = get_config("minimal", conditional=True)
    save_generator(build_generator(conditional), conditional, 0, root / "cond.safetensors")
    np.savez(root / "samples.npz", images=np.zeros((12, 28, 28), np.uint8))
    (root / "file.txt").write_text("not a folder")
    (root / "folder.png").mkdir()
    (root / "junk").mkdir()
    (root / "junk" / "notes.txt").write_text("mine")
    shipped = Path(cli.__file__).parents[1] / "metrics" / "mnist_classifier.safetensors"
    return World({"root": root, "mnist": mnist_dir, "classifier": shipped.read_bytes(),
                  "generator": (root / "run" / "generator.safetensors").read_bytes()})


def _damage() -> st.SearchStrategy[tuple]:
    """How to damage a good file: kept, one byte changed, cut short, a new header, or other bytes.
    Drawn as a recipe, so a failure report shows it rather than the file's bytes."""
    return st.one_of(st.just(("good",)), st.just(("good",)), st.just(("good",)),
                     st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
                     st.tuples(st.just("cut"), st.integers(0, 10**6)),
                     st.tuples(st.just("header"), st.text(max_size=40)),
                     st.tuples(st.just("bytes"), st.binary(max_size=64)))


def _apply(recipe: tuple, good: bytes) -> bytes:
    kind, *args = recipe
    if kind == "flip":
        at = args[0] % len(good)
        return good[:at] + bytes([good[at] ^ args[1]]) + good[at + 1:]
    if kind == "cut":
        return good[:args[0] % len(good)]
    if kind == "header":
        return len(args[0].encode()).to_bytes(8, "little") + args[0].encode() + good[8:]
    return args[0] if kind == "bytes" else good


@st.composite
def command_lines(draw, world: dict) -> tuple[list[str], dict[str, object]]:
    """(argv with placeholders, {file in the work folder: its damage, or resume's file and bytes})."""
    files: dict[str, object] = {}
    sources = ["RUN", "GEN", "COND", "RUN", "GEN", "COND", "ROOT/samples.npz", "ROOT/file.txt", "ROOT/junk",
               "ROOT/missing", "FUZZ.safetensors", "ROOT/folder.png"]
    outs = ["WORK/o.npz", "WORK/o.png", "WORK/o.gif", "WORK/o.json", "WORK/o.mp4", "WORK/o.pt", "",
            "RUN/generator.safetensors", "RUN/samples.png", "RUN/config.json", "RUN/metrics.json",
            "ROOT/file.txt/o.png", "ROOT/folder.png", "WORK/new/deeper/o.npz", "ROOT/junk"]
    pick = draw(st.sampled_from(["sample", "interpolate", "amplitude", "clock", "eval", "train", "resume"]))
    if pick in ("sample", "interpolate", "amplitude", "clock", "eval") or draw(st.booleans()):
        files["FUZZ.safetensors"] = draw(_damage())
    if pick == "train":
        argv = ["train", "--dry-run"]
        for field in draw(st.lists(st.sampled_from(config_fields()), max_size=4, unique_by=lambda f: f.name)):
            pool = FLOATS if field.type in (float, "float", "float | None") else (
                INTS if field.type in (int, "int", "int | None") else WORDS)
            argv += ["--" + field.name.replace("_", "-"), draw(st.sampled_from(pool))]
        argv += draw(st.sampled_from([[], ["--preset", "fast"], ["--preset", "nope"], ["--literal"]]))
        return argv, files
    if pick == "resume":  # a copy of the run with one file damaged; never more steps than it has
        target = draw(st.sampled_from(["config.json", "stats.jsonl", "checkpoints", "generator.safetensors"]))
        files["RESUME"] = target
        if target != "checkpoints":
            files["RESUME_BYTES"] = draw(st.binary(max_size=80) | st.text(max_size=80).map(str.encode)
                                         | st.sampled_from([b"[]", b"{}", b'{"steps": "x"}', b"null"]))
        return ["resume", "WORK/run", "--steps", draw(st.sampled_from(["1", "2", "0", "-3", "x"])),
                "--quiet", "--threads", "1"], files
    argv = [pick, draw(st.sampled_from(sources))]
    flags = {
        "sample": {"--num": INTS, "--seed": INTS, "--out": outs, "--grid": outs, "--grid-size": INTS,
                   "--digit": INTS, "--labels": WORDS, "--class-grid": outs, "--device": DEVICES},
        "interpolate": {"--from": INTS, "--to": INTS, "--steps": INTS, "--rows": INTS, "--seed": INTS,
                        "--method": ["linear", "slerp", "cubic"], "--out": outs},
        "amplitude": {"--digit": INTS, "--rows": INTS, "--seed": INTS, "--out": outs},
        "clock": {"--fps": FLOATS, "--frames-per-digit": ["-1", "0", "1", "2", "1000000", "x"],
                  "--time": WORDS, "--seed": INTS, "--scale": ["-1", "0", "1", "2", "1000000"],
                  "--out": outs},
        "eval": {"--num": INTS, "--seed": INTS, "--out": outs, "--dataset": ["mnist", "fashion", "idx", "x"],
                 "--classifier": ["CLASSIFIER.safetensors", "FUZZ.safetensors", "ROOT/file.txt",
                                  "ROOT/missing"],
                 "--threads": INTS, "--device": DEVICES},
    }[pick]
    required = {"interpolate": ["--from", "--to"], "amplitude": ["--digit"]}.get(pick, [])
    chosen = draw(st.lists(st.sampled_from(sorted(flags)), max_size=4, unique=True))
    for flag in [*required, *[f for f in chosen if f not in required]]:
        argv += [flag, draw(st.sampled_from(flags[flag]))]
    if pick == "eval":  # 20 samples unless --num was drawn: a default 10,000 would take seconds
        argv += ["--no-floor", "--data-dir", "MNIST"] + ([] if "--num" in chosen else ["--num", "20"])
        if "--classifier" in chosen:
            files["CLASSIFIER.safetensors"] = draw(_damage())
    return argv, files


def _prepare(argv: list[str], files: dict[str, object], world: dict, work: Path) -> list[str]:
    root = world["root"]
    for name, good in (("FUZZ.safetensors", world["generator"]),
                       ("CLASSIFIER.safetensors", world["classifier"])):
        if name in files:
            (work / name).write_bytes(_apply(files[name], good))
    if "RESUME" in files:
        shutil.copytree(root / "run", work / "run", ignore=shutil.ignore_patterns(".lock"))
        target = work / "run" / files["RESUME"]
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.write_bytes(files["RESUME_BYTES"])
    names = {"RUN": str(root / "run"), "GEN": str(root / "run" / "generator.safetensors"),
             "COND": str(root / "cond.safetensors"), "ROOT": str(root), "WORK": str(work),
             "MNIST": str(world["mnist"]), "FUZZ.safetensors": str(work / "FUZZ.safetensors"),
             "CLASSIFIER.safetensors": str(work / "CLASSIFIER.safetensors")}
    out = []
    for arg in argv:
        for key, value in names.items():
            if arg == key or arg.startswith(key + "/"):
                arg = value + arg[len(key):]
                break
        out.append(arg)
    return out


@settings(max_examples=EXAMPLES, deadline=None, derandomize=not EXPLORE, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_fuzz_cli_never_gives_a_traceback(world, capsys, monkeypatch, data):
    argv, files = data.draw(command_lines(world))
    with tempfile.TemporaryDirectory(dir=world["root"]) as folder:
        work = Path(folder)
        monkeypatch.chdir(work)  # whatever a command writes by default lands here
        argv = _prepare(argv, files, world, work)
        capsys.readouterr()
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse's own exits (usage errors print one line too)
            code = exc.code
        err = capsys.readouterr().err
    event(f"{argv[0]} {'ok' if code in (0, None) else 'refused'}")  # --hypothesis-show-statistics
    assert "Traceback" not in err, (argv, err)
    if code not in (0, None):
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("minigan: error:"), (argv, code, err)
