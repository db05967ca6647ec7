"""Declared enhancers: Spandrel loading and its errors, the downscale-enhance-crop of 2x and 4x
models, tiled inference equal to whole-image inference, precision by architecture, and the
config's versions (2 to 8, trained or declared)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from hggt.core.presets import load_config
from hggt.core.declared_enhancers import (
    DeclaredModelError, DeclaredNet, check_scale, describe, downscale, enhance_declared, inference_dtype, load_descriptor,
)
from hggt.core.sizes import DeclaredEnhancer, EnhancerSpec
from tests.declared_models import save_rrdb


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zoo")
    return {s: save_rrdb(folder / f"esrgan-x{s}.safetensors", s) for s in (1, 2, 4)} | {"pth": save_rrdb(folder / "esrgan-x2.pth", 2)}


@pytest.mark.parametrize("key, scale", [(1, 1), (2, 2), (4, 4), ("pth", 2)])
def test_spandrel_detects_the_architecture_scale_and_size(models, key, scale):
    path = models[key]
    facts = describe(load_descriptor(path.read_bytes(), str(path)))
    state = torch.load(path, weights_only=True) if path.suffix == ".pth" else None
    assert facts["arch"] == "ESRGAN" and facts["scale"] == scale
    if state is not None:
        assert facts["parameters"] == sum(t.numel() for t in state.values())


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_a_declared_version_has_the_original_size_and_tiles_do_not_show(models, scale):
    net = DeclaredNet(load_descriptor(models[scale].read_bytes(), str(models[scale])))
    image = torch.rand(1, 3, 70, 45, generator=torch.Generator().manual_seed(scale))
    whole = enhance_declared(net, image, tile=1024, overlap=0, batch=1)
    assert whole.shape == image.shape
    # 1x and 2x RRDBs pixel-unshuffle their input: the context must cover the receptive field there.
    tiled = enhance_declared(net, image, tile=32, overlap=64 // scale + 8, batch=3)
    assert torch.allclose(tiled, whole, atol=1e-5)


def test_a_2x_or_4x_model_sees_the_area_downscaled_image():
    rgb = np.random.default_rng(0).integers(0, 256, (64, 48, 3)).astype(np.float32)
    image = torch.from_numpy(rgb).permute(2, 0, 1)[None]
    for scale in (2, 4):
        ours = downscale(image, scale)[0].permute(1, 2, 0).numpy()
        reference = cv2.resize(rgb, (48 // scale, 64 // scale), interpolation=cv2.INTER_AREA)
        assert np.allclose(ours, reference, atol=1e-3)
    odd = downscale(torch.rand(1, 3, 33, 30), 4)  # reflect-padded to 36 x 32 first
    assert odd.shape[-2:] == (9, 8)


def test_files_spandrel_cannot_use_get_errors_naming_them(models, tmp_path):
    with pytest.raises(DeclaredModelError, match=r"zoo/broken\.pth: Spandrel cannot load it: UnpicklingError"):
        load_descriptor(b"not a checkpoint", "/zoo/broken.pth")
    from safetensors.torch import save_file

    save_file({"encoder.weight": torch.zeros(4, 4)}, str(tmp_path / "unknown.safetensors"))
    with pytest.raises(DeclaredModelError, match=r"unknown\.safetensors: .*match none of the architectures"):
        load_descriptor((tmp_path / "unknown.safetensors").read_bytes(), str(tmp_path / "unknown.safetensors"))
    with pytest.raises(DeclaredModelError, match=r"model\.onnx: unsupported file type '\.onnx'"):
        load_descriptor(b"", "/zoo/model.onnx")
    descriptor = load_descriptor(models[4].read_bytes(), str(models[4]))
    with pytest.raises(DeclaredModelError, match="the config says scale 2, but Spandrel detects a 4x ESRGAN"):
        check_scale(descriptor, 2, str(models[4]))
    assert check_scale(descriptor, None, "x") == check_scale(descriptor, 4, "x") == 4


def test_mixed_precision_only_where_the_architecture_supports_it(models, tmp_path):
    from spandrel.architectures.SwinIR import SwinIR  # a zoo architecture Spandrel marks fp16-unsafe
    from safetensors.torch import save_file

    swin = SwinIR(upscale=1, img_size=16, window_size=4, embed_dim=12, depths=[1], num_heads=[2], mlp_ratio=2, upsampler="")
    save_file(swin.state_dict(), str(tmp_path / "swinir.safetensors"))
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    nets = {name: DeclaredNet(load_descriptor(p.read_bytes(), str(p))) for name, p in
            (("esrgan", models[1]), ("swinir", tmp_path / "swinir.safetensors"))}
    assert describe(nets["swinir"].descriptor)["supports_half"] is False
    assert inference_dtype(nets["esrgan"], cuda, amp=True) is torch.bfloat16
    assert inference_dtype(nets["esrgan"], cuda, amp=False) is None and inference_dtype(nets["esrgan"], cpu, amp=True) is None
    nets["swinir"].supports_bfloat16 = False  # as Spandrel says of architectures that break in bfloat16
    assert inference_dtype(nets["swinir"], cuda, amp=True) is None
    image = torch.rand(1, 3, 40, 36)
    assert enhance_declared(nets["swinir"], image, tile=24, overlap=8, batch=2).shape == image.shape


def test_the_config_takes_2_to_8_trained_or_declared_versions(models):
    path = str(models[2])
    cfg = load_config("demo", {"enhancers": {"versions": [
        {"version": "01", "arch": "rcan", "setting": "1"}, {"version": "zoo-x2", "model": path, "scale": 2},
        {"version": "03", "arch": "elan", "setting": "1"},
    ]}})
    assert cfg.enhancers.names == ("01", "zoo-x2", "03")
    assert [type(s) for s in cfg.enhancers.versions] == [EnhancerSpec, DeclaredEnhancer, EnhancerSpec]
    assert cfg.enhancers.declared == (DeclaredEnhancer(version="zoo-x2", model=path, scale=2),)
    assert load_config("demo", {"enhancers": cfg.enhancers.model_dump(mode="json")}) == cfg  # a recorded config reads back
    trained = [{"version": f"{i:02d}", "arch": "rcan", "setting": "1"} for i in range(1, 10)]
    for versions, reason in [
        (trained[:1], "a set has 2 to 8 versions, not 1"), (trained, "a set has 2 to 8 versions, not 9"),
        ([trained[0], trained[0]], "must be distinct"), ([trained[0], {**trained[1], "version": "a/b"}], "version 'a/b'"),
        ([trained[0], {"version": "original", "model": path}], "version 'original'"),
        ([trained[0], {"version": "02", "model": "/no/such/model.pth"}], "model file /no/such/model.pth does not exist"),
        ([trained[0], {"version": "02", "model": path, "scale": 16}], "less than or equal to 8"),
    ]:
        with pytest.raises(ValueError, match=reason):
            load_config("demo", {"enhancers": {"versions": versions}})


def test_config_errors_of_declared_enhancers_are_one_readable_line_each(models):
    from hggt.core.presets import ConfigError

    trained = {"version": "01", "arch": "rcan", "setting": "1"}
    versions = [trained, {"version": "up", "model": str(models[2]), "scale": "two"}, {"model": str(models[2])},
                {"version": "04", "model": "/no/such/model.pth"}, {"version": "05", "model": str(models[4]), "scael": 4}]
    with pytest.raises(ConfigError) as caught:
        load_config("demo", {"enhancers": {"versions": versions}})
    problems = caught.value.problems
    assert problems == [
        "enhancer up (declared, entry 2 of enhancers.versions): scale: input should be a valid integer, unable to parse string "
        "as an integer (you wrote 'two'); write scale: the model's factor, 1 to 8 (e.g. scale: 4), or leave scale out to use "
        "the one Spandrel detects",
        "enhancer #3 (declared, entry 3 of enhancers.versions): version is missing; write version: NAME (1-16 letters, digits, "
        "'-' or '_'; it names the version's folder)",
        "enhancer 04 (declared, entry 4 of enhancers.versions): model file /no/such/model.pth does not exist; write model: PATH "
        "or URL of a .safetensors, .pth, .pt or .ckpt file that exists",
        "enhancer 05 (declared, entry 5 of enhancers.versions): unknown field 'scael'; did you mean 'scale'? a declared "
        "enhancer takes version, model, scale",
    ]
    assert str(caught.value) == "\n".join(problems)
    assert not any(bad in str(caught.value) for bad in ("input_value", "pydantic", "validation error", "https://"))


def test_show_config_checks_declared_models_as_train_enhancers_does(models, tmp_path):
    import json

    from typer.testing import CliRunner

    from hggt.cli.main import app

    def show(*declared: dict):
        config = tmp_path / "hggt.json"
        config.write_text(json.dumps({"enhancers": {"versions": [{"version": "01", "arch": "rcan", "setting": "1"}, *declared]}}))
        return CliRunner().invoke(app, ["show-config", "--preset", "demo", "--config", str(config)], env={"COLUMNS": "300"})

    good = show({"version": "x2", "model": str(models[2])})
    assert good.exit_code == 0, good.output
    assert f"enhancer x2 (declared): {models[2]} loads as a 2x ESRGAN (" in good.output
    (tmp_path / "notes.pth").write_bytes(b"not a model")
    bad = show({"version": "x4", "model": str(models[4]), "scale": 2}, {"version": "junk", "model": str(tmp_path / "notes.pth")})
    assert bad.exit_code == 2
    assert (f"error: enhancer x4 (declared): declared model {models[4]}: the config says scale 2, but Spandrel detects a 4x "
            "ESRGAN model; set scale: 4 or leave it out") in bad.output
    assert f"error: enhancer junk (declared): declared model {tmp_path / 'notes.pth'}: Spandrel cannot load it" in bad.output


def test_a_stage_command_prints_one_error_line_per_config_problem(models, tmp_path):
    import json

    from typer.testing import CliRunner

    from hggt.cli.main import app

    config = tmp_path / "hggt.json"
    config.write_text(json.dumps({"enhancers": {"versions": [
        {"version": "01", "arch": "rcan", "setting": "1"}, {"version": "up", "model": str(models[2]), "scale": 0}, {"model": str(models[2])}]}}))
    result = CliRunner().invoke(app, ["train-enhancers", "--out", str(tmp_path / "ds"), "--preset", "demo", "--config", str(config)])
    assert result.exit_code == 1  # refused before any Prefect run
    lines = result.output.strip().splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["enhancer up (declared, entry 2 of enhancers.versions)",
                                                             "enhancer #3 (declared, entry 3 of enhancers.versions)"]
    assert lines[0].endswith("scale: input should be greater than or equal to 1 (you wrote 0); write scale: the model's "
                             "factor, 1 to 8 (e.g. scale: 4), or leave scale out to use the one Spandrel detects")
    assert all(line.startswith("error: ") for line in lines) and "pydantic" not in result.output
