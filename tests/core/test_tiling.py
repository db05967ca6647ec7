"""Tiled inference equals whole-image inference when the overlap covers the receptive field."""

import pytest
import torch
import torch.nn as nn

from hggt.core.archs import build_generator
from hggt.core.tiling import tiled_apply, tiles


def local_net(depth: int = 5) -> nn.Module:
    """A plain convolutional net: receptive-field radius = depth (3x3 convolutions)."""
    torch.manual_seed(0)
    layers = []
    for i in range(depth):
        layers += [nn.Conv2d(3 if i == 0 else 8, 8 if i < depth - 1 else 3, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers[:-1]).eval()


@pytest.mark.parametrize("shape, tile, batch", [((1, 3, 100, 130), 32, 3), ((1, 3, 64, 64), 64, 1), ((1, 3, 37, 90), 16, 8)])
def test_tiled_equals_whole_image_when_overlap_covers_the_receptive_field(shape, tile, batch):
    net = local_net(5)
    x = torch.rand(shape)
    with torch.no_grad():
        whole = net(x)
    assert torch.allclose(tiled_apply(net, x, tile=tile, overlap=5, batch=batch), whole, atol=1e-5)


def test_too_little_overlap_shows_seams():
    net, x = local_net(5), torch.rand(1, 3, 100, 130)
    with torch.no_grad():
        whole = net(x)
    assert (tiled_apply(net, x, tile=32, overlap=2) - whole).abs().max() > 1e-3


def test_tiles_cover_every_pixel_exactly_once():
    cover = torch.zeros(70, 101, dtype=torch.int32)
    for t in tiles(70, 101, 32, 6):
        y0, y1, x0, x1 = t.core
        cover[y0:y1, x0:x1] += 1
        cy0, cy1, cx0, cx1 = t.context
        assert cy0 <= y0 and cy1 >= y1 and cx0 <= x0 and cx1 >= x1 and y0 - cy0 <= 6
    assert (cover == 1).all()


def test_tiled_enhancer_output_has_the_image_size():
    model = build_generator("elan", blocks=2, channels=24).eval()
    x = torch.rand(1, 3, 75, 51)
    assert tiled_apply(model, x, tile=32, overlap=8).shape == x.shape


def test_scale_factor_models_are_stitched_at_the_output_scale():
    net = nn.Sequential(local_net(3), nn.Upsample(scale_factor=2, mode="nearest")).eval()
    x = torch.rand(1, 3, 40, 52)
    with torch.no_grad():
        whole = net(x)
    assert torch.allclose(tiled_apply(net, x, tile=16, overlap=3, scale=2), whole, atol=1e-5)


def test_auto_batch_on_cpu_measures_then_keeps_a_choice_and_the_output():
    from hggt.core.tiling import AUTO, auto_batch, chosen_batches

    assert auto_batch(torch.device("cpu")) == 1 and auto_batch(torch.device("cuda")) == 8
    net, x = local_net(5), torch.rand(1, 3, 150, 190)
    with torch.no_grad():
        whole = net(x)
    for _ in range(3):  # the trials span images: 4 equal-shape interior tiles per image here
        assert torch.allclose(tiled_apply(net, x, tile=32, overlap=5, batch=AUTO), whole, atol=1e-5)
    choices = chosen_batches(net)
    assert choices and set(choices.values()) <= {None, 1, 4}
    assert any(v in (1, 4) for v in choices.values())


def test_the_cpu_default_equals_a_one_tile_loop_to_the_last_bit():
    # A tile's output must not depend on which tiles share its pass (or on the machine's load):
    # seeded datasets are then byte-identical from run to run.
    from hggt.core.tiling import auto_batch

    net, x = local_net(5), torch.rand(1, 3, 150, 190)
    out = tiled_apply(net, x, tile=32, overlap=5, batch=auto_batch(torch.device("cpu")))
    loop = torch.empty_like(out)
    with torch.no_grad():
        for t in tiles(150, 190, 32, 5):
            (y0, y1, x0, x1), (cy0, cy1, cx0, cx1) = t.core, t.context
            loop[..., y0:y1, x0:x1] = net(x[..., cy0:cy1, cx0:cx1])[..., y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0]
    assert torch.equal(out, loop)
