"""The one GAN training recipe: it trains, writes the model file and the shared manifest columns,
resumes exactly, and both training stages (enhancers, Real-ISR) are run specs of it."""

from __future__ import annotations

import logging

import torch

from hggt.core import schemas
from hggt.core.presets import load_config
from hggt.core.sr_runs import SRRun
from hggt.core.networks import NETWORKS
from hggt.core.training.config import TrainConfig
from hggt.core.training.recipe import TRAINED_COLUMNS, GANRun, RunHooks, Trained, train_gan

TINY_TRAIN = TrainConfig(iterations=4, batch_size=2, gt_size=16, pool_size=0, perceptual_weight=0.0, discriminator_channels=4,
                         checkpoint_every=2, log_every=1, deterministic=True, ema_decay=None)


class Noise:
    """A seeded batch stream of same-size pairs (what an enhancer trains on), resumable."""

    def __init__(self, seed: int, device: torch.device):
        self.generator, self.device = torch.Generator().manual_seed(seed), device

    def next_batch(self, n: int):
        gt = torch.rand(n, 3, 16, 16, generator=self.generator)
        return (gt + 0.05 * torch.randn(gt.shape, generator=self.generator)).clamp(0, 1), gt

    def state_dict(self) -> dict:
        return {"rng": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["rng"])


class Log(list):
    def __call__(self, iteration: int, logs: dict) -> None:
        self.append({"iteration": iteration, **logs})

    def close(self) -> None:
        pass


def _run(root: str, iterations: int) -> GANRun:
    return GANRun(
        name="tiny", arch="rcan", options=dict(NETWORKS["rcan"].tiny), train=TINY_TRAIN.model_copy(update={"iterations": iterations}),
        seed=7, device="cpu", batches=Noise, root=root, model_uri="tiny/model.pt", checkpoints=f"{root}/tiny/checkpoints", key="k",
        config_hash="h", payload=lambda model, it: {"state_dict": model.state_dict(), "iterations": it},
    )


def _hooks(log: Log, speeds: list) -> RunHooks:
    return RunHooks(logger=logging.getLogger("test"), open_log=lambda start: (log, list(log)), on_speed=speeds.append)


def test_the_recipe_trains_writes_the_model_and_the_shared_columns(tmp_path):
    log, speeds = Log(), []
    trained = train_gan(_run(str(tmp_path), 4), _hooks(log, speeds))
    assert tuple(trained.row) == TRAINED_COLUMNS and trained.row["iterations"] == 4 and not trained.resumed
    assert [r["iteration"] for r in log] == [1, 2, 3, 4] and speeds and trained.row["perceptual"] is False
    payload = torch.load(tmp_path / "tiny" / "model.pt", weights_only=True)
    assert payload["iterations"] == 4 and trained.row["final_l1"] == log[-1]["l1"]
    assert sorted(p.name for p in (tmp_path / "tiny" / "checkpoints").iterdir()) == ["iter_00000002.pt", "iter_00000004.pt"]


def test_an_extended_run_resumes_to_the_same_weights(tmp_path):
    straight = tmp_path / "straight"
    train_gan(_run(str(straight), 4), _hooks(Log(), []))
    extended = tmp_path / "extended"
    train_gan(_run(str(extended), 2), _hooks(Log(), []))
    again = train_gan(_run(str(extended), 4), _hooks(Log(), []))
    assert again.resumed and again.row["iterations"] == 4
    a, b = (torch.load(d / "tiny" / "model.pt", weights_only=True)["state_dict"] for d in (straight, extended))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_both_manifests_share_the_trained_columns():
    for spec in (schemas.ENHANCERS, schemas.RUNS):
        assert set(TRAINED_COLUMNS) <= set(spec.schema.names), spec.name
    assert all(schemas.ENHANCERS.schema.field(c).type == schemas.RUNS.schema.field(c).type for c in TRAINED_COLUMNS)


def test_both_stages_are_run_specs_of_the_recipe(monkeypatch, tmp_path):
    """train-enhancers and train-sr hand the recipe a GANRun and add only their own columns."""
    import hggt.tasks.enhancers
    import hggt.tasks.train_sr
    from prefect.logging import disable_run_logger

    seen: list[GANRun] = []

    def fake_train_gan(run: GANRun, hooks: RunHooks) -> Trained:
        seen.append(run)
        return Trained(dict.fromkeys(TRAINED_COLUMNS, 0.0), {"extra": -1.0}, {"iterations_per_s": 1.0}, False)

    monkeypatch.setattr(hggt.tasks.enhancers, "train_gan", fake_train_gan)
    monkeypatch.setattr(hggt.tasks.train_sr, "train_gan", fake_train_gan)
    cfg = load_config("demo")
    spec = cfg.enhancers.versions[2]
    with disable_run_logger():
        row = hggt.tasks.enhancers.train_enhancer.fn(spec, ["a.png"], "hr", str(tmp_path), cfg, "cache", "cpu")
    assert row["version"] == spec.version and row["source"] == "trained"
    run = SRRun("swinir", "posneg", [], {}, "data", str(tmp_path), cfg, "cpu", True, (None, None, None))
    sr_row = hggt.tasks.train_sr.train_sr_run(run)
    assert sr_row["final_negative"] == -1.0 and sr_row["run_id"].startswith("swinir-posneg-")
    enhancer, generator = seen
    assert (enhancer.arch, enhancer.name, enhancer.extra_loss) == (spec.arch, f"enhancer {spec.version}", None)
    assert generator.arch == "swinir" and generator.extra_loss is not None and generator.name == sr_row["run_id"]
    assert enhancer.options == cfg.enhancers.elan.model_dump() and generator.options == cfg.train_sr.swinir.model_dump()
