"""What every model relies on from the one loop and the package around it: textbook losses,
k D steps, a frozen D during G's update, bit-exact resumes, one-way imports, small files,
a help text on every flag."""

import ast
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from resume_check import resumed_equals_whole

import minigan
from minigan import cli
from minigan.presets import get_config
from minigan.training import Trainer, losses
from minigan.training.monitor import StepStats

SRC = Path(minigan.__file__).parent
QUIET = dict(log_every=2, sample_every=1000, tensorboard=False, grid_size=2)


def test_losses_are_their_textbook_formulas():
    torch.manual_seed(0)
    real, fake = torch.randn(64) * 3, torch.randn(64) * 3
    bce = F.binary_cross_entropy_with_logits
    ones, zeros = torch.ones(64), torch.zeros(64)
    torch.testing.assert_close(losses.d_bce(real, fake), bce(real, ones) + bce(fake, zeros))
    torch.testing.assert_close(losses.g_nonsaturating(fake), bce(fake, ones))
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    torch.testing.assert_close(losses.g_minimax(fake), torch.log(1 - d_fake).mean())
    torch.testing.assert_close(losses.d_bce(real, fake),
                               -(torch.log(d_real).mean() + torch.log(1 - d_fake).mean()))
    torch.testing.assert_close(losses.d_hinge(real, fake),
                               torch.clamp(1 - real, min=0).mean() + torch.clamp(1 + fake, min=0).mean())
    torch.testing.assert_close(losses.g_hinge(fake), -fake.mean())
    torch.testing.assert_close(losses.d_lsgan(real, fake),
                               0.5 * F.mse_loss(real, ones) + 0.5 * F.mse_loss(fake, zeros))
    torch.testing.assert_close(losses.g_lsgan(fake), 0.5 * F.mse_loss(fake, ones))


def test_k_discriminator_steps_per_generator_step(mnist_dir, tmp_path):
    config = get_config("minimal", data_dir=str(mnist_dir), d_steps=3, k_step_batches="fresh", steps=4,
                        **QUIET)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    counts = {"D": 0, "G": 0}
    for name, opt in (("D", trainer.opt_D), ("G", trainer.opt_G)):
        opt.register_step_post_hook(lambda *a, name=name: counts.__setitem__(name, counts[name] + 1))
    result = trainer.fit()
    assert counts == {"D": 12, "G": 4} and trainer.batches_seen == 12
    record = json.loads((result.run_dir / "stats.jsonl").read_text().splitlines()[0])
    assert record["epoch"] == pytest.approx(2 / (60000 // 16 / 3), abs=1e-4)


def test_the_generator_update_leaves_d_untouched(mnist_dir, tmp_path):
    config = get_config("fast", data_dir=str(mnist_dir), steps=1, **QUIET)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    snapshots = {}
    trainer.opt_D.register_step_post_hook(
        lambda *a: snapshots.__setitem__("D", {k: v.clone() for k, v in trainer.D.state_dict().items()}))
    trainer.train_step()
    for key, value in trainer.D.state_dict().items():
        assert torch.equal(value, snapshots["D"][key]), key  # G's phase changed nothing in D
    assert all(p.requires_grad for p in trainer.D.parameters())  # and gave D its gradients back


def _resumed_equals_whole(mnist_dir, tmp_path, preset, **overrides):
    return resumed_equals_whole(tmp_path, preset, data_dir=str(mnist_dir), **QUIET, **overrides)[0]


def test_bit_exact_resume_of_a_conv_preset_with_batchnorm_and_ema(mnist_dir, tmp_path):
    state = _resumed_equals_whole(mnist_dir, tmp_path, "fast", batch_size=16)
    assert state["G_ema"] is not None and any("running_mean" in k for k in state["G_ema"])


def test_bit_exact_resume_of_a_conditional_preset_with_balance(mnist_dir, tmp_path):
    state = _resumed_equals_whole(mnist_dir, tmp_path, "cgan", balance_momentum=0.0,
                                  balance_schedule="running", balance_metric="mean_ce")
    assert state["balance"]["error"] is not None


def _package_modules() -> dict[str, Path]:
    modules = {}
    for path in SRC.rglob("*.py"):
        name = "minigan." + ".".join(path.relative_to(SRC).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of the package that `path` imports, at any depth of the file (lazy ones too).
    `from PKG import sub` imports the submodule `sub`; `from PKG import name` and `import PKG` run
    PKG's __init__ (the package face, when PKG is minigan itself)."""
    package = "minigan." + ".".join(path.relative_to(SRC).with_suffix("").parts)
    package = package.removesuffix(".__init__")
    here = package if path.name == "__init__.py" else package.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = here
            for _ in range(max(node.level - 1, 0)):
                base = base.rsplit(".", 1)[0]
            module = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            if module and module.startswith("minigan"):
                subs = {f"{module}.{a.name}" for a in node.names} & set(modules)
                found.update(subs)
                if len(subs) < len(node.names):
                    found.add(module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("minigan"))
    return found


def test_no_import_cycles_among_the_package_modules():
    """The package face (minigan/__init__) counts: a module that imports `minigan` while the face
    imports it is a cycle, however lazily it imports."""
    modules = _package_modules()
    graph = {name: {m for m in _imports(path, modules) if m in modules and m != name
                    and (m == "minigan" or not name.startswith(m + "."))}  # a module may use its package
             for name, path in modules.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*trail[trail.index(nxt):], nxt]))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_source_files_stay_small():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 320}
    assert long == {}


def test_every_cli_flag_has_help(capsys):
    parser = cli._parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    missing = [f"{name} {action.option_strings or action.dest}"
               for name, sub in subparsers.items() for action in sub._actions
               if not action.help and action.dest != "help"]
    assert missing == []


def test_stats_average_each_extra_term_over_the_steps_that_had_it():
    """stats.jsonl's loss_class_d / loss_class_g / loss_cr: a mean over the steps whose phases made
    the term (a step with G paused has no G term), beside the main losses' mean over every step."""
    stats = StepStats(torch.device("cpu"), ("loss_class_d", "loss_class_g"))
    t = torch.tensor
    stats.add(t(1.0), t(2.0), t(0.5), t(0.5), "none", None, {"loss_class_d": t(0.3), "loss_class_g": t(4.0)})
    stats.add(t(3.0), t(2.0), t(0.5), t(0.5), "g", t(8.0), {"loss_class_d": t(0.5)})
    record = stats.record(step=2, epoch=0.1, seconds=1.0, steps=2, images_per_step=16, elapsed=1.0,
                          lr_scale=1.0, G=torch.nn.Linear(1, 1), D=torch.nn.Linear(1, 1), balance_error=None)
    assert record["loss_d"] == 2.0 and record["loss_penalty"] == 8.0
    assert record["loss_class_d"] == pytest.approx(0.4) and record["loss_class_g"] == 4.0
    assert stats.count == 0 and stats.term_steps == {"loss_class_d": 0, "loss_class_g": 0}


def test_stats_jsonl_carries_the_terms_the_config_turns_on(mnist_dir, tmp_path):
    extra = {"loss_class_d", "loss_class_g", "loss_cr"}
    for preset, overrides, terms in (("fast", {}, set()), ("fast-cond", {"cr_weight": 1.0}, extra)):
        config = get_config(preset, data_dir=str(mnist_dir), steps=2, precision="fp32", **overrides, **QUIET)
        result = Trainer(config, tmp_path / preset, progress=False).fit()
        [record] = [json.loads(x) for x in (result.run_dir / "stats.jsonl").read_text().splitlines()]
        assert extra & set(record) == terms
        assert all(record[k] > 0 for k in terms)
