"""Networks: shapes and output ranges for every preset, conditioning with soft labels, padding."""

import pytest
import torch
import torch.nn.functional as F

from minigan.data.batches import DeviceBatches
from minigan.models import build_discriminator, build_generator, one_hot
from minigan.models.layers import Dropout, Flatten, UpsampleConv2d
from minigan.presets import PRESETS, get_config
from minigan.sampling import crop_padding


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("conditional", [False, True])
def test_shapes_and_output_range(preset, conditional):
    if preset == "cgan" and not conditional:
        pytest.skip("cgan is conditional by design")
    # mlp4's short last batch (the write-up's order) cannot carry labels: conditional runs shuffle
    order = "shuffle" if conditional and PRESETS[preset].config.batch_order == "shuffle_keep_last" else None
    head = None if conditional else 0.0  # fast-cond's class head needs the labels it is built without
    config = get_config(preset, conditional=conditional, batch_order=order, aux_class_weight=head)
    G, D = build_generator(config).eval(), build_discriminator(config).eval()
    z = torch.randn(5, config.z_dim)
    y = one_hot(torch.arange(5), config.num_classes) if conditional else None
    with torch.no_grad():
        images = G(z, y)
        logits = D(images, G.cluster_labels(z, y) if config.clusters else y)  # D sees G's own clusters
    size = config.image_size
    assert images.shape == (5, 1, size, size) and logits.shape == (5,)
    # the data is scaled into the range G's output activation spans: black is exactly its low end
    low, high = config.pixel_range
    digits = torch.zeros(4, 28, 28, dtype=torch.uint8)
    digits[:, 10:18, 12:16] = 255
    config_4 = get_config(preset, batch_size=2, train_holdout=0)  # 4 synthetic images: keep them all
    real, _ = DeviceBatches(digits, None, config_4, torch.device("cpu")).get(0)
    assert real.min() == low and real.max() == high


def test_conditioning_uses_the_label_vector_so_soft_labels_interpolate():
    config = get_config("fast-cond", clusters=0)
    G = build_generator(config).eval()
    z = torch.randn(1, config.z_dim).repeat(3, 1)
    seven, nine = one_hot(torch.tensor([7]), 10), one_hot(torch.tensor([9]), 10)
    labels = torch.cat([seven, 0.5 * seven + 0.5 * nine, nine])
    with torch.no_grad():
        images = G(z, labels)
    assert not torch.equal(images[0], images[2])
    # the midpoint label gives a picture different from both ends (the label enters as a vector)
    assert not torch.equal(images[1], images[0]) and not torch.equal(images[1], images[2])
    D = build_discriminator(config).eval()
    with torch.no_grad():
        assert not torch.equal(D(images[:1], seven), D(images[:1], nine))


def test_dcgan_pads_digits_to_32_and_crops_back_to_28():
    config = get_config("dcgan", batch_size=4, pad_value="black", pixel_scale="auto")  # padded in uint8
    images = torch.randint(1, 256, (8, 28, 28), dtype=torch.uint8)
    batches = DeviceBatches(images, None, config, torch.device("cpu"))
    real, _ = batches.get(0)
    assert real.shape == (4, 1, 32, 32)
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert torch.all(real[:, 0][:, border] == -1.0)  # zero (black) padding in the [-1, 1] range
    assert torch.all(real[:, 0, 2:30, 2:30] > -1.0)
    assert torch.equal(crop_padding(real, 2), real[..., 2:30, 2:30])


@pytest.mark.parametrize("kernel", [3, 5])
def test_upsample_conv_equals_upsample_then_conv(kernel):
    torch.manual_seed(0)
    layer = UpsampleConv2d(6, 4, kernel).double()
    x = torch.randn(2, 6, 8, 8, dtype=torch.double, requires_grad=True)
    fast = layer(x)
    plain = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), layer.weight, layer.bias,
                     padding=kernel // 2)
    torch.testing.assert_close(fast, plain, rtol=1e-12, atol=1e-12)
    for a, b in zip(torch.autograd.grad(fast.square().sum(), [x, layer.weight, layer.bias]),
                    torch.autograd.grad(plain.square().sum(), [x, layer.weight, layer.bias]), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_flatten_is_nn_flatten_with_the_gradient_in_the_inputs_layout(layout):
    """The same features in the same order and the same gradients, first and second order (R1 takes
    D's double backward); only the gradient's memory layout follows the input's (channels_last conv
    nets: the activation before it would take a strided backward ~20x slower)."""
    torch.manual_seed(0)
    x = torch.randn(3, 4, 5, 5, dtype=torch.double).contiguous(memory_format=layout).requires_grad_(True)
    head = torch.randn(100, dtype=torch.double)
    outputs = [flatten(F.leaky_relu(x, 0.2)) @ head for flatten in (Flatten(), torch.nn.Flatten())]
    torch.testing.assert_close(*outputs, rtol=0, atol=0)
    grads = [torch.autograd.grad(out.sum(), x, create_graph=True)[0] for out in outputs]
    torch.testing.assert_close(*grads, rtol=0, atol=0)
    assert grads[0].is_contiguous(memory_format=layout)
    second = [torch.autograd.grad((g * x).square().sum(), x)[0] for g in grads]  # R1's penalty shape
    torch.testing.assert_close(*second, rtol=0, atol=0)
    features = torch.randn(3, 7, requires_grad=True)  # already flat: nothing to keep
    torch.testing.assert_close(Flatten()(features), features)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_dropout_zeroes_at_rate_p_and_rescales_survivors(layout):
    torch.manual_seed(0)
    x = torch.ones(64, 8, 32, 32).contiguous(memory_format=layout).requires_grad_(True)
    y = Dropout(0.3)(x)
    kept = y != 0
    assert y.is_contiguous(memory_format=layout)
    assert abs(1 - kept.float().mean().item() - 0.3) < 0.005  # 524k draws: sd of the rate ~0.0006
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / 0.7), rtol=1e-4, atol=0)
    assert abs(y.mean().item() - 1.0) < 0.01
    (grad,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(grad, y.detach())  # the gradient flows through the same mask
    torch.manual_seed(0)
    torch.testing.assert_close(Dropout(0.3)(x), y)  # masks come from the seeded generator
    layer = Dropout(0.3).eval()
    assert torch.equal(layer(x), x)


@pytest.mark.parametrize("p", [0.999999, 1.0])
def test_dropout_with_p_near_one_zeroes_everything(p):
    torch.manual_seed(0)  # p=0.999999 keeps ~1e-6 of elements: seeded, none of these 1000
    assert torch.equal(Dropout(p)(torch.ones(1000)), torch.zeros(1000))


def test_dropout_masks_are_independent_across_elements():
    torch.manual_seed(1)
    kept = (Dropout(0.5)(torch.ones(400_000)) != 0).float()
    neighbours = (kept[:-1] * kept[1:]).mean().item()  # P(both kept) = 0.25 when independent
    assert abs(neighbours - 0.25) < 0.005
    assert abs(kept.mean().item() - 0.5) < 0.005


@pytest.mark.parametrize("preset", ["dcgan", "fast", "mlp4", "cgan"])
def test_conditional_discriminator_relates_label_to_image(preset):
    """The label's effect on D's logit must depend on the image, or D cannot judge label fit."""
    torch.manual_seed(0)
    config = get_config(preset, conditional=True, batch_order="shuffle" if preset == "mlp4" else None,
                        clusters=0 if preset == "fast" else None)
    D = build_discriminator(config).eval()
    x = torch.rand(2, 1, config.image_size, config.image_size)
    a, b = one_hot(torch.tensor([3, 3]), 10), one_hot(torch.tensor([8, 8]), 10)
    with torch.no_grad():
        effect = D(x, a) - D(x, b)  # (2,): label effect for each image
    assert abs(float(effect[0] - effect[1])) > 1e-4


def test_conv_discriminator_widths_past_two_are_3x3_layers_at_a_quarter_size():
    config = get_config("fast", d_hidden=(32, 64, 48), clusters=0)
    D = build_discriminator(config)
    convs = [m for m in D.body if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (1, 32, (4, 4), (2, 2)), (32, 64, (4, 4), (2, 2)), (64, 48, (3, 3), (1, 1))]
    assert D.head.in_features == 48 * 7 * 7
    assert D(torch.zeros(3, 1, 28, 28)).shape == (3,)
    with pytest.raises(Exception, match="--d-hidden C1,C2\\[,C3...\\]"):
        get_config("fast", d_hidden=(32,))
