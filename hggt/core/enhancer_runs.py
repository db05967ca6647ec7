"""An enhancer's training run as data, before any orchestration: the key that says when an earlier
run can be reused, and the run of the GAN recipe (hggt.core.training.recipe) it is."""

from __future__ import annotations

from hggt.core import catalog, storage
from hggt.core.config import HGGTConfig
from hggt.core.enhancement import EnhancerBatches, EnhancerSpec, enhancer_options, enhancer_payload
from hggt.core.fingerprint import fingerprint
from hggt.core.images import decode_image
from hggt.core.seeding import item_seed_sequence
from hggt.core.training.data import single_images
from hggt.core.training.recipe import GANRun
from hggt.core.training.sampling import make_sampler
from hggt.core.training.store import NOT_IN_KEY

SEED_STREAM = "train-enhancers"  # the stage's name: its enhancers' seeds since the first datasets


def enhancer_dir(root: str, version: str) -> str:
    return storage.join(root, catalog.enhancer_dir(version))


def compatibility_key(spec: EnhancerSpec, cfg: HGGTConfig, hr_fingerprint: str, code: str) -> str:
    """What an enhancer's weights depend on (not its iterations: a run can be extended); ``code``
    is the stage's code version."""
    train = cfg.enhancers.train.model_dump(mode="json", exclude=set(NOT_IN_KEY))
    sizes = enhancer_options(spec.arch, cfg.enhancers)
    setting = cfg.degrade.named(spec.setting).model_dump(mode="json")
    return fingerprint([spec.model_dump(), train, sizes, setting, cfg.seed, hr_fingerprint, code])


def _seed(cfg: HGGTConfig, version: str) -> int:
    return int(item_seed_sequence(cfg.seed, SEED_STREAM, version).generate_state(1)[0])


def enhancer_run(spec: EnhancerSpec, hr_uris: list[str], root: str, cfg: HGGTConfig, key: str, device: str, resume: bool) -> GANRun:
    """Enhancer ``spec`` as a run of the GAN recipe: HR crops degraded on the fly with its Table 1 setting."""
    tcfg, options, config_hash = cfg.enhancers.train, enhancer_options(spec.arch, cfg.enhancers), cfg.section_hash("enhancers")

    def load(i: int):
        return decode_image(storage.read_bytes(hr_uris[i]), cfg.ingest.max_pixels).rgb

    def batches(seed: int, dev) -> EnhancerBatches:
        # Flips and transposes: the authors' enhancer configs set use_hflip and use_rot.
        sampler = make_sampler(tcfg.sampling, len(hr_uris), single_images(load), tcfg.gt_size, seed, dihedral=True,
                               buffer=tcfg.image_buffer, refresh_every=tcfg.refresh_every)
        return EnhancerBatches(sampler, cfg.degrade.named(spec.setting), dev)

    return GANRun(
        name=f"enhancer {spec.version}", arch=spec.arch, options=options, train=tcfg, seed=_seed(cfg, spec.version),
        device=device, batches=batches, root=root, model_uri=catalog.enhancer_model(spec.version),
        checkpoints=storage.join(enhancer_dir(root, spec.version), "checkpoints"), key=key, config_hash=config_hash,
        payload=lambda model, iterations: enhancer_payload(spec, options, model, config_hash, iterations), resume=resume,
        without_perceptual=f"enhancer {spec.version} trains WITHOUT the perceptual term (perceptual_weight=0); recorded in enhancers.parquet",
    )
