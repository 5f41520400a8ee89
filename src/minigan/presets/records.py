"""The presets as data: a config, the overrides that make it its write-up line by line, and why.

The five classic MNIST GAN write-ups (../shared/seeds/) and the tuned recipes are values of the
one `TrainConfig`. A preset's default is its write-up except where `deviations` says otherwise:
one entry per field whose default differs from the literal value, with the measured reason
(tests/test_fidelity_table.py holds every difference to a reason and every reason to a difference).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..config import TrainConfig, ema_kimg_from_decay


@dataclass(frozen=True)
class Preset:
    config: TrainConfig
    notes: str  # what the recipe is, in one line for `minigan presets`
    literal: dict[str, Any] = field(default_factory=dict)  # --literal: the write-up's own values
    seed: str | None = None  # the write-up in ../shared/seeds/ this preset comes from
    deviations: dict[str, str] = field(default_factory=dict)  # field -> why the default differs


BUDGET = ("budget only: `--literal` runs the write-up's length, a default run what `--steps`, `--epochs` "
          "or `--time-budget` say")

def _as_written(config: TrainConfig, notes: str, seed: str, **budget: Any) -> Preset:
    """A write-up whose default is the write-up itself: --literal adds only its budget."""
    return Preset(config, notes, literal=dict(budget), seed=seed, deviations=dict.fromkeys(budget, BUDGET))


# The fast presets' EMA: a per-step decay of 0.999 at batch 64, i.e. a half-life of 44.3k images.
_FAST_EMA_KIMG = round(ema_kimg_from_decay(0.999, 64), 1)

_FAST = TrainConfig(preset="fast", arch="conv", z_dim=64, g_hidden=(64, 32), d_hidden=(32, 64),
                    d_activation="leaky_relu", g_batchnorm=True, g_output="tanh", lr_g=1e-3, lr_d=1e-3,
                    beta1=0.0, beta2=0.99, batch_size=64, g_ema_kimg=_FAST_EMA_KIMG, clusters=100,
                    cluster_within="auto", r1_gamma=0.2, r2_gamma=0.2, reg_mb_ratio=False)
_BEST = replace(_FAST, preset="best", g_hidden=(128, 64), d_hidden=(64, 128), lr_g=5e-4, lr_d=5e-4,
                g_ema_kimg=100.0)

PRESETS: dict[str, Preset] = {
    "minimal": _as_written(
        # The write-up as its code ran, but for the budget. Measured over 50k steps on one core: this
        # recipe ends on 7s and 9s (FID-MNIST 1,928, 2 modes); the earlier default (60,000 shuffled
        # images, PyTorch init and epsilon, shared G noise) on 9s, 7s and 1s (1,624, 4 modes). Both are
        # the collapse the write-up shows ("dominated by either 9, 7, 1 or 4"), so nothing deviates.
        TrainConfig(preset="minimal", arch="mlp", z_dim=10, z_prior="uniform", g_hidden=(64,),
                    d_hidden=(512,), g_activation="relu", d_activation="relu", g_output="sigmoid",
                    lr_g=1e-3, lr_d=1e-3, beta1=0.9, batch_size=16, train_holdout=5000,
                    batch_order="tf_next_batch", g_noise="fresh", k_step_batches="reuse",
                    g_init="glorot_uniform", d_init="glorot_uniform", adam_eps_style="tf", grid_size=20,
                    checkpoint_every=5000, log_every=200, sample_every=2000),
        "MLP GAN as the write-up's code ran it: z=10 ~ U(-1,1), G 64 ReLU -> sigmoid, D 512 ReLU -> "
        "logit, glorot init, Adam 1e-3 (TF's epsilon), batch 16 from TF's 55,000 images, k-step.",
        seed="000", steps=50_000),
    "vanilla": _as_written(
        # Measured, 50k iterations on one core: FID-MNIST 376, 10 modes; the earlier default (LeCun
        # init, Adam 2e-4 / beta1 0.5, logit losses, D first) 631, 7 modes; Adam's defaults with LeCun
        # init 3471: the narrow init is what lets Adam 1e-3 train.
        TrainConfig(preset="vanilla", arch="mlp", z_dim=100, z_prior="normal", g_hidden=(400,),
                    d_hidden=(400,), g_init="std_inv_fan_in", d_init="std_inv_fan_in", g_output="sigmoid",
                    d_loss="prob", g_loss="prob", lr_g=1e-3, lr_d=1e-3, beta1=0.9, batch_size=128,
                    update_order="g_first", batch_order="replacement", train_holdout=5000, g_noise="fresh",
                    adam_eps_style="tf"),
        "MLP GAN as the write-up's code ran it: 400-unit layers, weights N(0, std 1/fan_in), z=100 ~ "
        "N(0,1), D(x) on probabilities, non-saturating G loss, G updated first, real batches drawn with "
        "replacement from TF's 55,000 images, Adam's defaults (TF's epsilon), batch 128.",
        seed="003", steps=50_000),
    "mlp4": _as_written(
        # The write-up as written, but for the budget. Measured over its 100 epochs on one core:
        # FID-MNIST 809 after 10 epochs, 513 at its best (40 epochs), 557 at the end (10k samples),
        # 10 modes, speckled but readable digits, as the write-up's own figures. The earlier default
        # (256-512-1024 nets, Adam 2e-4 / beta1 0.5, N(0,1) noise, no G dropout) was better at the
        # same step (452 after 10 epochs, 306 after 14.4) but the literal recipe trains, so it is the
        # default; those values remain flags (`--g-hidden 256,512,1024 --lr-g 2e-4 ...`).
        TrainConfig(preset="mlp4", arch="mlp", z_dim=100, z_prior="uniform", g_hidden=(32, 64, 128),
                    d_hidden=(128, 64, 32), g_activation="leaky_relu", d_activation="leaky_relu",
                    leaky_slope=0.2, g_dropout=0.3, d_dropout=0.3, g_output="tanh", lr_g=2e-3, lr_d=2e-3,
                    beta1=0.9, batch_size=64, batch_order="shuffle_keep_last", g_noise="fresh",
                    fixed_noise=16, grid_size=8),
        "The write-up's 4-layer MLPs (G 32-64-128, D 128-64-32), LeakyReLU(0.2), dropout 0.3 in both, "
        "tanh, z=100 ~ U(-1,1), Adam 2e-3, batch 64.",
        seed="002", epochs=100),
    "dcgan": _as_written(
        # The write-up's Keras code, but for the budget. Measured at 500 / 1,000 steps on one core
        # (2k samples): FID-MNIST 851 / 894 as written (9 modes, blotchy strokes); the earlier default
        # (arch dcgan with per-feature batchnorm, PyTorch init and batchnorm settings, x/127.5-1 with a
        # black border, shuffled batches, alternating updates) 1,080 / 846 in the earlier round. No
        # sign that the write-up fails here, so it is the default; its 60 epochs are a GPU job.
        # Simultaneous updates cannot run on several processes: add --update-scheme alternating there.
        TrainConfig(preset="dcgan", arch="dcgan_literal", z_dim=100, image_size=32, pad=2,
                    pad_value="zero", pixel_scale="div128", leaky_slope=0.001, g_dropout=0.3, d_dropout=0.3,
                    g_output="tanh", g_init="glorot_uniform", d_init="glorot_uniform", bn_momentum=0.01,
                    bn_eps=1e-3, lr_g=2e-4, lr_d=2e-4, beta1=0.05, adam_eps=1e-7, adam_eps_style="tf",
                    batch_size=200, batch_order="fixed", update_scheme="simultaneous", log_every=20,
                    checkpoint_every=300, progress_noise="fresh", progress_mode="train", progress_batch=200,
                    grid_size=8),
        "The write-up's Keras DCGAN on 32x32 zero-padded digits (x/128 - 1): G dense 128x8x8, BN, "
        "upsampling, 5x5 convs, tanh; strided conv D; glorot init; simultaneous updates; Adam 2e-4 "
        "beta1 0.05 (Keras epsilon); batch 200 in file order.",
        seed="001", epochs=60),
    "cgan": Preset(
        # The write-up's training as written, on a network that takes batchnorm. Measured, 300 s on one
        # core of the shared machine, 5k samples: --literal collapses (FID-MNIST 1,493, label accuracy
        # 0.10, 6 modes); this default trains (194, 0.90, 10 modes); the earlier default, which also
        # kept logit losses, mean reduction, PyTorch init, D first, shared noise, a running-average
        # balance and shuffled batches, reached 121 and 0.94 in the same 300 s.
        TrainConfig(preset="cgan", arch="cgan", conditional=True, z_dim=2, g_output="sigmoid_clip",
                    g_batchnorm=True, d_dropout=0.5, g_init="truncated_normal_cgan",
                    d_init="truncated_normal_cgan", d_loss="cgan_clipped", g_loss="cgan_clipped",
                    loss_reduction="sum", lr_g=1e-4, lr_d=1e-4, beta1=0.9, adam_eps_style="tf",
                    batch_size=10, update_order="g_first", g_noise="fresh", balance=True,
                    balance_schedule="every", balance_every=100, balance_metric="cgan", train_holdout=5000,
                    batch_order="tf_next_batch_legacy", weight_report=1e9, log_every=100,
                    sample_every=2000, checkpoint_every=1000, keep_checkpoints=5),
        "Conditional conv GAN, 2-d noise, Adam 1e-4, batch 10, balance measured every 100 steps, "
        "checkpoints every 1,000 steps, weights past 1e9 reported.",
        # `while global_step <= 1000*1000` from step 0: 1,000,001 steps.
        literal=dict(arch="cgan_literal", g_batchnorm=False, label_projection=False, steps=1_000_001),
        seed="004",
        deviations=dict(
            steps=BUDGET,
            arch="the write-up's G (one stride-4 transposed conv, arch cgan_literal) has no place for "
                 "the batchnorm below; arch cgan's two stride-2 transposed convs take it",
            g_batchnorm="without it G collapsed: --literal for 300 s ended at FID-MNIST 1,493 with label "
                        "accuracy 0.10 and 6 modes; with it and the projection term 194, 0.90, 10 modes",
            label_projection="without D's projection term the label only shifts D's bias: label accuracy "
                             "0.16 after 300 s in the earlier round, 0.95 with it",
        ),
    ),
    # Tuned for time to quality on a laptop CPU (not seed recipes): compact DCGAN + G EMA + clusters.
    # Adam 1e-3 after a 300 s sweep on one core (FID-MNIST 256 / 189 / 142 / 144 at 2e-4 / 5e-4 /
    # 1e-3 / 2e-3 for fast, before clusters). clusters=100 from the 150 s sweeps in README (two
    # seeds, 5k samples, median FID-MNIST): none 261, 100 clusters 16.6; with R1 (gamma 1) 22.3; with
    # a third D layer 26.6; 50 / 100 / 200 clusters 43.6 / 15.7 / 19.6 at 2,000 steps (one seed).
    # fast-cond's rates re-swept with its clusters (300 s, seeds 0 and 1, 10k samples, median FID):
    # 1e-3/1e-3 8.63, 5e-4/1e-3 9.06, 1e-3/5e-4 9.92, 5e-4/5e-4 10.73 (lr_g/lr_d), so 1e-3 stays.
    # fast's lazy R1 (gamma 0.2, every 16 D steps) won all three 300 s pairs against fast without it
    # (10k samples): 7.19 vs 7.96 and 11.96 vs 13.24 on one core (seeds 0, 1), and alone on 2 cores
    # 5.30 vs 8.09 (recall 0.761 vs 0.713), though it costs 18% of the steps. R2 (gamma 0.2, on the
    # fakes, in the same lazy phase) on top of it won all three pairs too, at no visible cost in steps:
    # 6.03 vs 6.81 and 6.84 vs 7.72 on one core (seeds 0, 1), 5.17 vs 5.55 alone on 2 cores (recall
    # 0.782 vs 0.772). best carries R2 too (below). Alone, R1 lowers fast-cond's FID
    # but costs label accuracy (300 s, one core, seeds 0 and 1, 10k samples, median FID / label
    # accuracy): gamma 0 9.07 / 0.996, 0.1 7.78 / 0.993, 0.2 6.84 / 0.991; R2 0.2 scored 6.35 / 0.994
    # against 9.60 / 0.997 without it (one session); R1 + R2 0.2 at 300 s alone on 2 threads
    # (2026-12-06, at the data's class mix) 5.64 / 0.9949 against 9.11 / 0.9975. fast-cond carried
    # neither until its class head (below) kept the label accuracy.
    # cluster_within="auto" (2026-12-06, 8,000 steps, 1 thread, seeds 0 and 1, 10k samples): clusters
    # found within each class beat clusters of all images on Fashion-MNIST (9.60 / 9.00 against
    # 10.46 / 10.80) but not on MNIST (8.06 / 5.61 against 5.28 / 6.10, recall lower in both), so the
    # rule decides by the data: image clusters at least 0.8 pure on the labels stay (MNIST 0.87,
    # Fashion 0.75; data/batches.py). On MNIST the fast family trains exactly as before.
    # reg_mb_ratio=False: StyleGAN2's correction of D's Adam for the lazy phase (lr x 16/17, betas **
    # 16/17) lost both 8,000-step pairs on one core (10k samples, FID-MNIST): 6.34 vs 5.28 (seed 0)
    # and 6.80 vs 6.10 (seed 1), medians 6.57 vs 5.69; best and best-cond inherit it unmeasured.
    # Adam betas (0, 0.99), as in StyleGAN2 and R3GAN, instead of (0.5, 0.999): won all three 8,000-step
    # pairs (1 thread, seeds 0 and 1, 10k samples, FID): fast MNIST 5.04 / 5.17 vs 5.28 / 6.10,
    # fast Fashion-MNIST 8.02 / 8.77 vs 9.60 / 9.00, fast-cond 7.12 / 7.47 vs 8.31 / 8.27 (label
    # accuracy 0.9977 / 0.9956 vs 0.9964 / 0.9967). best and best-cond inherit them.
    # precision="auto" (fast only): bf16 forward passes where the CPU or GPU computes bf16 natively. At
    # 300 s alone on 2 threads of a CPU with AMX (10k samples, seeds 0 and 1): 19,665 / 20,946 steps
    # against 14,216 / 12,805 in fp32, FID-MNIST 4.05 / 4.66 against 4.06 / 6.00, recall 0.813 / 0.802
    # against 0.794 / 0.796; per step a split pair (8,000 steps: 4.90 / 5.94 against 5.04 / 5.17).
    # Elsewhere it is fp32, as before. best and best-cond are not measured in bf16 yet.
    "fast": Preset(
        replace(_FAST, precision="auto"),
        "Tuned, not a seed recipe: compact 28x28 DCGAN (4x4 convs, BN in G), NS loss, Adam 1e-3 (0, 0.99), "
        "batch 64, EMA of G, lazy R1 and R2 (gamma 0.2), self-conditioned on 100 k-means clusters, bf16 "
        "where the machine computes it natively: the best digits per CPU minute.",
    ),
    # fast-cond's auxiliary class head (AC-GAN, weight 1) with fast's R1 + R2 (2026-12-06, 8,000 steps, 1
    # thread, seeds 0 and 1, 10k samples at the data's class mix, FID / label accuracy / recall): 4.83 /
    # 0.9991 / 0.709 and 4.81 / 0.9994 / 0.718 against the unregularised preset's 7.12 / 0.9977 / 0.695
    # and 7.47 / 0.9956 / 0.685. R1 + R2 alone: 4.14 / 0.9949 and 5.38 / 0.9954 (label accuracy lost);
    # the head at weight 0.1: 4.77 / 0.9982 / 0.757 and 6.20 / 0.9973 / 0.732 (a split pair with 1).
    # precision="auto" like fast: at 300 s alone on 2 threads of the AMX CPU (seeds 0 and 1) bf16 ran
    # 20,888 / 20,996 steps against 14,793 / 14,798 and scored 4.17 / 4.91 against 4.95 / 5.47 (label
    # accuracy 0.9992 / 0.9990 against 0.9997 / 0.9997, recall 0.747 / 0.738 against 0.730 / 0.717).
    "fast-cond": Preset(
        replace(_FAST, preset="fast-cond", conditional=True, clusters=10, aux_class_weight=1.0,
                precision="auto"),
        "The class-conditional twin of `fast` (labels into G's input and D's head, projection term), "
        "10 clusters within each class, lazy R1 and R2, a class head on D (AC-GAN) that keeps the digits "
        "true to their label, bf16 where the machine computes it natively.",
    ),
    # The long-budget recipes (about an hour on 2 cores; the natural GPU default): fast's recipe at
    # twice the widths, Adam 5e-4 and a longer EMA. Chosen by hand from the fast sweeps, not swept at
    # this budget. Its hour on one core (README, "Time to quality"), 10k samples: FID-MNIST 9.38 at
    # 21.7k steps without R1, plateauing after 8k as D won; with fast's R1 (gamma 0.2) 4.54 at 17.5k
    # steps and, in a second hour, 4.01 at 21.9k (recall 0.790 and 0.796 vs 0.686). With R2 as well
    # (gamma 0.2, seeds 0 and 1, one hour each, two sessions): 3.90 at 25.1k steps and 4.68 at 37.3k,
    # a tie on FID (median 4.29 vs 4.28) but recall 0.816 and 0.826 against 0.790 and 0.796, and a
    # 2k-sample curve below both R1-only hours at every step from 8k on, so best carries R2 like
    # fast. Cosine decay of both rates to 0.1 lost (4.71, seed 0). best-cond keeps r1_gamma 0 like
    # fast-cond, where R1 cost label accuracy, and carries the R2 it inherits: without it D overfit
    # (11.03 after the hour, worse than at 4k steps); with it 5.23 after 1800 s, label accuracy 0.9973.
    # Adam betas (0, 0.99) came from fast's pairs; best's own pair (seed 0, 36,369 steps, 1 thread)
    # kept them: 3.55 against 4.18 with beta1 0.5 (recall 0.818 against 0.813); RpGAN there: 4.06.
    # best-cond's pair (seed 0, 19,388 steps): 3.59 against 3.97, label accuracy 0.9976 against 0.9974.
    "best": Preset(
        _BEST,
        "Long budget, not a seed recipe: fast at twice the widths, Adam 5e-4 (0, 0.99), EMA half-life 100k "
        "images, lazy R1 and R2 (gamma 0.2), 100 clusters.",
    ),
    "best-cond": Preset(
        replace(_BEST, preset="best-cond", conditional=True, clusters=10, r1_gamma=0.0),
        "The class-conditional twin of `best`, 10 clusters within each class, lazy R2 but no R1.",
    ),
}

__all__ = ["Preset", "PRESETS", "BUDGET"]
