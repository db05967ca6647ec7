"""The enhancers (RCAN, ELAN) and both U-Net discriminators against the authors' classes: the same
weights give the same outputs. Tiny widths keep it fast; the structure (module order, padding,
input range, attention) is what is compared."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from hggt.core.archs import build_generator
from hggt.core.archs.discriminator import UNetDiscriminator


def copy_weights(src: torch.nn.Module, dst: torch.nn.Module) -> None:
    """Their state dict into ours, tensor by tensor in registration order (the names differ, the
    order and shapes must not). Their frozen parameters are constants, not weights (ELAN's
    one-hot shift kernels, which ours applies as slicing), and are left out."""
    frozen = {name for name, p in src.named_parameters() if not p.requires_grad}
    theirs, ours = [t for name, t in src.state_dict().items() if name not in frozen], dst.state_dict()
    assert [tuple(t.shape) for t in theirs] == [tuple(t.shape) for t in ours.values()]
    dst.load_state_dict(dict(zip(ours, theirs)))


def _timm_for_elan() -> None:
    # Their ELAN imports three helpers from timm (not installed); torch and their own SwinIR
    # module provide the same functions, and none of them runs in an ELAN forward pass.
    if "timm.models.layers" not in sys.modules:
        layers = types.ModuleType("timm.models.layers")
        layers.DropPath = torch.nn.Identity
        layers.to_2tuple = lambda x: (x, x)
        layers.trunc_normal_ = torch.nn.init.trunc_normal_
        for name in ("timm", "timm.models"):
            sys.modules.setdefault(name, types.ModuleType(name))
        sys.modules["timm.models.layers"] = layers


def _same(theirs: torch.nn.Module, ours: torch.nn.Module, x: torch.Tensor) -> float:
    copy_weights(theirs, ours)
    theirs.eval(), ours.eval()
    with torch.no_grad():
        return float((theirs(x) - ours(x)).abs().max())


def test_rcan_equals_their_rcannoup(ref_enhancement):
    torch.manual_seed(0)
    theirs = ref_enhancement.module("basicsr.archs.rcan_arch").RCANNOUP(
        3, 3, num_feat=16, num_group=2, num_block=2, squeeze_factor=4, res_scale=1, img_range=255.0)
    ours = build_generator("rcan", groups=2, blocks=2, channels=16, reduction=4, img_range=255.0)
    assert _same(theirs, ours, torch.rand(2, 3, 24, 20)) < 1e-5


@pytest.mark.parametrize("size", [(32, 32), (20, 28)])  # a multiple of the windows' LCM (16), and not
def test_elan_equals_theirs(ref_enhancement, size):
    _timm_for_elan()
    torch.manual_seed(0)
    theirs = ref_enhancement.module("basicsr.archs.elan_arch").ELAN(
        scale=1, img_range=255.0, window_sizes=[4, 8, 16], m_elan=2, c_elan=24, n_share=0, r_expand=2)
    ours = build_generator("elan", blocks=2, channels=24, windows=(4, 8, 16), expansion=2, shared_depth=0,
                           scaled_attention=False, img_range=255.0)
    x = torch.rand(1, 3, *size)
    copy_weights(theirs, ours)
    _their_qv_order_as_ours(ours, channels=24, groups=3)
    theirs.eval(), ours.eval()
    with torch.no_grad():
        assert float((theirs(x) - ours(x)).abs().max()) < 1e-4


def _their_qv_order_as_ours(elan: torch.nn.Module, channels: int, groups: int) -> None:
    """Their GMSA projects to [q0 v0 | q1 v1 | q2 v2] (one block per window size), ours to
    [q0 q1 q2 | v0 v1 v2]: the same function of permuted weights (the batch norm is per channel).
    ``elan`` holds their weights in their order (copied by :func:`copy_weights`); its projection's
    output channels are reordered into ours, in place."""
    g = channels // groups
    order = [w * 2 * g + part * g + i for part in (0, 1) for w in range(groups) for i in range(g)]
    for name, module in elan.named_modules():
        if name.endswith("project_in"):
            for tensor in (*module[0].parameters(), *module[1].parameters(), module[1].running_mean, module[1].running_var):
                tensor.data = tensor.data[order].clone()


@pytest.mark.parametrize(("tree", "cls"), [("ref", "UNetDiscriminatorSN"), ("ref_enhancement", "RealESRGANUNetDiscriminatorSN")])
def test_the_discriminator_equals_theirs(request, tree, cls):
    module = "basicsr.archs.discriminator_arch" if tree == "ref" else "basicsr.archs.realesrgandiscriminator_arch"
    torch.manual_seed(0)
    theirs = getattr(request.getfixturevalue(tree).module(module), cls)(3, num_feat=16, skip_connection=True)
    ours = UNetDiscriminator(channels=16, skip_connection=True)
    x = torch.rand(2, 3, 32, 32)
    # Spectral norm keeps its power-iteration vectors as buffers: copied too, and eval mode stops
    # the iteration, so both use the same normalised weights.
    assert _same(theirs, ours, x) < 1e-5
