"""The dcgan write-up's literal Keras models and the write-ups' batch orders."""

import pytest
import torch
from torch import nn

from minigan.data.batch_orders import BATCH_ORDERS, BatchOrderSampler
from minigan.models.dcgan_literal import DCGANLiteralDiscriminator, DCGANLiteralGenerator
from minigan.models.layers import Dropout
from minigan.presets import get_config


def dcgan_literal():
    config = get_config("dcgan", literal=True)
    return DCGANLiteralGenerator(config), DCGANLiteralDiscriminator(config)


def test_literal_dcgan_parameter_counts_are_the_keras_summary():
    G, D = dcgan_literal()
    # Dense 100*8192+8192, BN(128) gamma+beta, Conv 5*5*128*64+64, BN(64), Conv 5*5*64+1
    assert sum(p.numel() for p in G.parameters()) == 827_392 + 256 + 204_864 + 128 + 1_601
    assert sum(p.numel() for p in D.parameters()) == 208 + 12_864 + 4_097
    bns = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert [(type(m), m.num_features, m.momentum, m.eps) for m in bns] == [
        (nn.BatchNorm2d, 128, 0.01, 1e-3), (nn.BatchNorm2d, 64, 0.01, 1e-3)]


def test_literal_dcgan_dropout_sits_where_keras_puts_it():
    G, D = dcgan_literal()
    shapes = []
    for module in [*G.modules(), *D.modules()]:
        if isinstance(module, Dropout):
            module.register_forward_hook(lambda m, inputs, out: shapes.append(tuple(out.shape)))
    G.train(), D.train()
    images = G(torch.randn(4, 100))
    D(images)
    assert images.shape == (4, 1, 32, 32)
    assert shapes == [(4, 128, 16, 16), (4, 8, 16, 16)]  # G: after the first upsampling; D: once


def test_literal_dcgan_d_pads_like_tf_same():
    """32x32, k5, s2: output pixel (0, 0) reads input rows -1..3 (TF), not -2..2 (padding=2)."""
    _, D = dcgan_literal()
    conv = D.body[0]
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.zero_()
        x = torch.zeros(1, 1, 32, 32)
        x[0, 0, 3, 3] = 1.0
        assert conv(x)[0, 0, 0, 0].item() == 1.0
        assert nn.functional.conv2d(x, conv.weight, stride=2, padding=2)[0, 0, 0, 0].item() == 0.0
        assert conv(torch.zeros(1, 1, 32, 32)).shape == (1, 8, 16, 16)


@pytest.mark.parametrize("order", BATCH_ORDERS)
def test_batch_orders_resume_exactly(order):
    a = BatchOrderSampler(100, 16, order, seed=3)
    run = [a.indices(k) for k in range(20)]
    b = BatchOrderSampler(100, 16, order, seed=3)
    for k in (13, 7, 19):  # a restarted sampler, asked out of order
        assert torch.equal(b.indices(k), run[k])


def test_shuffle_orders_visit_each_image_once_per_epoch():
    for order, per_epoch, last in (("shuffle", 6, 16), ("shuffle_keep_last", 7, 4)):
        sampler = BatchOrderSampler(100, 16, order, seed=1)
        assert sampler.batches_per_epoch == per_epoch
        epoch = [sampler.indices(k) for k in range(per_epoch)]
        assert len(epoch[-1]) == last
        seen = torch.cat(epoch)
        assert len(seen) == len(set(seen.tolist()))
        next_epoch = torch.cat([sampler.indices(k) for k in range(per_epoch, 2 * per_epoch)])
        assert not torch.equal(seen, next_epoch)


def test_fixed_and_file_orders_repeat_every_epoch():
    fixed = BatchOrderSampler(100, 10, "fixed", seed=2)
    assert torch.equal(fixed.indices(0), fixed.indices(10))
    assert not torch.equal(fixed.indices(0), torch.arange(10))
    file = BatchOrderSampler(100, 10, "file")
    assert torch.equal(file.indices(3), torch.arange(30, 40))
    assert torch.equal(file.indices(13), torch.arange(30, 40))


def test_replacement_draws_duplicates_and_covers_the_set():
    sampler = BatchOrderSampler(50, 40, "replacement", seed=4)
    draws = torch.cat([sampler.indices(k) for k in range(200)])
    assert len(set(sampler.indices(0).tolist())) < 40  # 40 of 50 with replacement: repeats (p > 0.999)
    counts = torch.bincount(draws, minlength=50).double()
    expected = len(draws) / 50
    assert float(counts.min()) > 0.6 * expected and float(counts.max()) < 1.4 * expected  # 160 each


def test_tf_next_batch_wraps_and_legacy_starts_in_file_order():
    tf = BatchOrderSampler(10, 4, "tf_next_batch", seed=5)
    first, second = tf._permutation(0), tf._permutation(1)
    assert torch.equal(tf.indices(2), torch.cat([first[8:], second[:2]]))  # rest of epoch 0 + next
    assert not torch.equal(first, torch.arange(10))
    legacy = BatchOrderSampler(10, 4, "tf_next_batch_legacy", seed=5)
    assert [legacy.indices(k).tolist() for k in range(2)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert sorted(legacy.indices(2).tolist() + legacy.indices(3).tolist()) != [0, 1, 2, 3, 4, 5, 6, 7]
    assert len(set(legacy.indices(2).tolist() + legacy.indices(3).tolist())) == 8  # epoch 1 permuted


def test_bad_orders_raise():
    with pytest.raises(ValueError, match="unknown batch order"):
        BatchOrderSampler(10, 4, "sequential")
    with pytest.raises(ValueError, match="batch_size"):
        BatchOrderSampler(10, 11)
