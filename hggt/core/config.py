"""Typed configuration with the paper's values as defaults and named presets.

Every stage reads one section of :class:`HGGTConfig`. The resolved config and its hash are
recorded with every run, so a manifest can always be traced back to the settings that made it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from hggt.core.degradation.settings import SETTING_1, SETTING_2, TABLE_2_REFERENCE, DegradationSettings
from hggt.core.annotation.labels import MAX_VERSIONS, MIN_VERSIONS, is_version
from hggt.core import networks
from hggt.core.networks import ENHANCER, GENERATOR, with_sizes
from hggt.core.sizes import PAPER_ENHANCERS, DeclaredEnhancer, EnhancerSpec
from hggt.core.dataset import TRAIN_MODES
from hggt.core.training.config import TrainConfig

PresetName = Literal["paper", "demo"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestConfig(_Section):
    extensions: tuple[str, ...] = Field(
        (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"),
        description="File extensions (case-insensitive) scanned as images.",
    )
    max_pixels: int = Field(
        150_000_000, gt=0, description="Decompression-bomb guard: images with more pixels are rejected."
    )
    min_size: int | None = Field(
        None, description="Smallest accepted width and height; defaults to the patch crop size."
    )
    shard_size: int = Field(64, gt=0, description="Images per ingest task run.")


class OffsetRule(_Section):
    """Upper bound k of the random grid origin for an axis at least `min_length` pixels long."""

    min_length: int = Field(ge=0)
    max_offset: int = Field(ge=0)


class PatchConfig(_Section):
    crop_size: int = Field(512, gt=2, description="Side of the square crops (paper Sec. 3.3).")
    step: int = Field(288, gt=0, description="Grid step between crop origins.")
    offset_rules: tuple[OffsetRule, ...] = Field(
        (
            OffsetRule(min_length=0, max_offset=32),
            OffsetRule(min_length=1200, max_offset=64),
            OffsetRule(min_length=2400, max_offset=128),
        ),
        description="Per-axis origin offset in [0, k]; the rule with the largest min_length <= axis length applies.",
    )
    jitter: int = Field(16, ge=0, description="Each grid point moves by a random integer in [-jitter, jitter].")
    min_gray_std: float = Field(30.0, description="Texture test: std of the 8-bit grayscale crop.")
    min_laplacian_var: float = Field(30.0, description="Texture test: variance of the 8-bit Laplacian.")
    png_compression: int = Field(3, ge=0, le=9, description="PNG compression level of written crops.")
    shard_size: int = Field(16, gt=0, description="Images per patch-extraction task run.")

    @model_validator(mode="after")
    def _rules_sorted(self) -> "PatchConfig":
        lengths = [r.min_length for r in self.offset_rules]
        if not lengths or lengths[0] != 0 or lengths != sorted(set(lengths)):
            raise ValueError("offset_rules must start at min_length 0 and increase strictly")
        return self


class DegradeConfig(_Section):
    settings: tuple[str, ...] = Field(("1", "2"), description="Settings `hggt degrade` synthesises: '1', '2' (Table 1) or 'table2'.")
    samples_per_patch: int = Field(1, ge=1, description="LQ samples per patch and setting.")
    setting_1: DegradationSettings = Field(SETTING_1, description="Table 1, setting 1 (enhancer versions 01 and 03).")
    setting_2: DegradationSettings = Field(SETTING_2, description="Table 1, setting 2 (enhancer versions 02 and 04).")
    table_2: DegradationSettings = Field(
        TABLE_2_REFERENCE,
        description="Table 2: Real-ISR training and test LR, gray noise 0.2 as the authors' code (the paper's text: 0.1).",
    )
    lr_scale: int = Field(4, ge=1, description="Downscaling factor of the Real-ISR LR images.")
    shard_size: int = Field(32, gt=0, description="Patches per degradation task run.")

    @model_validator(mode="after")
    def _known_settings(self) -> "DegradeConfig":
        unknown = set(self.settings) - set(SETTING_NAMES)
        if unknown:
            raise ValueError(f"unknown degradation settings {sorted(unknown)}; choose from {list(SETTING_NAMES)}")
        return self

    def named(self, name: str) -> DegradationSettings:
        return getattr(self, SETTING_NAMES[name])


SETTING_NAMES = {"1": "setting_1", "2": "setting_2", "table2": "table_2"}


def _enhancer_kind(value: Any) -> str:
    """A versions entry naming a model file is declared; the rest are trained (errors then speak of
    that kind only, not of both)."""
    if isinstance(value, dict):
        return "declared" if "model" in value else "trained"
    return "declared" if isinstance(value, DeclaredEnhancer) else "trained"


AnyEnhancer = Annotated[
    Annotated[EnhancerSpec, Tag("trained")] | Annotated[DeclaredEnhancer, Tag("declared")], Discriminator(_enhancer_kind)
]


@with_sizes(ENHANCER)  # one field per enhancer backbone of the registry
class EnhancersConfig(_Section):
    versions: tuple[AnyEnhancer, ...] = Field(
        PAPER_ENHANCERS,
        description="The versions of every set, 2 to 8, in order: trained ({version, arch, setting}: backbone and Table 1 "
                    "setting) or declared ({version, model, scale}: a model file Spandrel loads).",
    )
    train: TrainConfig = Field(
        TrainConfig(ema_decay=None, pool_size=40),
        description="The authors' train_Enhance*.yml: no EMA (ema_decay: 0), queue_size 40, GT 96, batch 4, lr 1e-4 halved at "
                    "200k, 300k iterations, shuffled epochs over the HR images with flips and transposes (use_hflip, use_rot).",
    )
    pretrained: str | None = Field(
        None,
        description="A folder of ready enhancer files <version>.pt (as train-enhancers writes model.pt) to use instead of "
                    "training; 'demo': the tiny enhancers shipped with hggt (make demo-enhancers).",
    )

    @model_validator(mode="after")
    def _check(self) -> "EnhancersConfig":
        for spec in self.trained:
            if spec.setting not in ("1", "2") or spec.arch not in networks.names(ENHANCER):
                raise ValueError(f"enhancer {spec.version}: arch must be {networks.choices(ENHANCER)} and setting 1 or 2")
        if len({s.version for s in self.versions}) != len(self.versions):
            raise ValueError("enhancer versions must be distinct")
        return self

    # Declared enhancers (issue 21): how many versions a set has, and what a version may be called.
    @model_validator(mode="after")
    def _versions(self) -> "EnhancersConfig":
        if not MIN_VERSIONS <= len(self.versions) <= MAX_VERSIONS:
            raise ValueError(f"enhancers.versions: a set has {MIN_VERSIONS} to {MAX_VERSIONS} versions, not {len(self.versions)}")
        for spec in self.versions:
            if not is_version(spec.version):
                raise ValueError(f"enhancer version {spec.version!r}: a name of 1-16 letters, digits, '-' or '_' (not 'original'), "
                                 "as it names the version's folder")
        return self

    @property
    def trained(self) -> tuple[EnhancerSpec, ...]:
        return tuple(s for s in self.versions if isinstance(s, EnhancerSpec))

    @property
    def declared(self) -> tuple[DeclaredEnhancer, ...]:
        return tuple(s for s in self.versions if isinstance(s, DeclaredEnhancer))

    @property
    def names(self) -> tuple[str, ...]:
        """The versions of every set, in the configured order."""
        return tuple(s.version for s in self.versions)



class EnhanceConfig(_Section):
    tile: int = Field(480, gt=0, description="Tile side for enhancement inference.")
    overlap: int = Field(24, ge=0, description="Context pixels around each tile.")
    tile_batch: int = Field(0, ge=-1, description="Tiles per forward pass; 0 = 8 on CUDA, 1 on CPUs (a tile's output then never depends on the tiles sharing its pass: bit-reproducible); -1 = on CPUs, one or four per pass as measured on the first tiles (faster where batching pays; outputs may differ by one level between runs).")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N.")
    amp: bool = Field(
        False, description="bfloat16 autocast on CUDA (faster; outputs differ by about one 8-bit level). false: float32, as "
                           "the authors' inference_rcannoup.py / inference_elan.py run the enhancers.")
    shard_size: int = Field(8, gt=0, description="HR images per enhancement task run.")


class SelectConfig(_Section):
    min_diff: float = Field(0.0, ge=0, description="Drop patches whose max_k |mean(original - enhanced_k)| (0-255 scale) is below this.")
    top_n: int | None = Field(None, gt=0, description="Keep the N most-changed patches as annotation sets (default: all).")


class AnnotationConfig(_Section):
    annotators: tuple[str, ...] = Field(("A", "B", "C"), description="Annotator names; each gets a token.")
    per_set: int = Field(3, gt=0, description="Different annotators per set (the paper: 3).")
    batch_size: int = Field(1000, gt=0, description="Sets per annotation batch (the paper: 1,000).")
    mode: Literal["human", "proxy"] = Field(
        "human", description="human: build-dataset waits for people; proxy: full-reference rules vote (demo only)."
    )
    proxy_model: str | None = Field(
        None, description="In proxy mode, a learned annotator votes instead of the hand rules: 'demo' (the one shipped with "
                          "hggt, trained on the demo's proxy votes), or a model.json path (`hggt annotator train`). Votes stay source 'proxy'."
    )
    wait_timeout: int = Field(30 * 24 * 3600, gt=0, description="Seconds build-dataset waits for annotation before failing.")
    repeat_share: float = Field(
        0.05, ge=0, le=0.5, description="Share of each annotator's sets shown to them again later, unannounced, to measure "
                                         "self-consistency (the repeat's votes never count in the labels)."
    )
    repeat_gap: int = Field(20, ge=1, description="Sets between a set and its repeat in the annotator's queue.")
    min_seconds: float = Field(3.0, ge=0, description="Sets answered faster than this are flagged as too fast.")
    host: str = Field("127.0.0.1", description="Address `hggt annotate serve` binds to (0.0.0.0: your lab network).")
    port: int = Field(8765, gt=0, lt=65536, description="Port of the annotation app.")
    allowed_hosts: tuple[str, ...] = Field(
        (), description="Extra host names the app is reached by (e.g. annotate.lab.example); requests naming any other "
                        "host are refused (DNS rebinding). IP addresses and localhost are always accepted."
    )

    @model_validator(mode="after")
    def _enough(self) -> "AnnotationConfig":
        if len(set(self.annotators)) < self.per_set:
            raise ValueError(f"{self.per_set} annotators per set need at least {self.per_set} distinct annotator names")
        return self


class MapsConfig(_Section):
    ksize: int = Field(3, ge=3, description="Window of the local variance (the paper: 3).")
    figure_size: int = Field(192, gt=16, description="Panel side of the per-set Figure 3 pictures.")
    shard_size: int = Field(32, gt=0, description="Sets per maps task run.")

    @model_validator(mode="after")
    def _odd(self) -> "MapsConfig":
        if self.ksize % 2 == 0:
            raise ValueError("maps.ksize must be odd")
        return self


@with_sizes(GENERATOR)  # one field per Real-ISR generator of the registry
class TrainSRConfig(_Section):
    train: TrainConfig = Field(
        TrainConfig(batch_size=12, gt_size=256, pool_size=144),
        description="The authors' train_RRDBGAN_PosNegGT_Blind_*_x4.yml: GT crop 256 (LQ 64), batch 12, queue 144, lr 1e-4 "
                    "halved at 200k, 300k iterations, EMA 0.999, fp32, shuffled epochs with horizontal flips.",
    )
    arch_train: dict[str, dict[str, Any] | None] = Field(
        {"swinir": {"batch_size": 8, "milestones": [200_000, 250_000, 275_000, 287_500],
                    "modes": {"ori": {"pool_size": 160}, "pos": {"pool_size": 160},
                              "psnr": {"lr": 2e-4, "milestones": [150_000, 240_000, 270_000, 285_000], "pool_size": 160}}}},
        description="Per-architecture changes applied on top of `train`, and under `modes` per-mode changes on top of those "
                    "(the authors' SwinIR configs: batch 8, four milestones; queue 160 in Ori and Pos, 144 in Pos+Neg; its "
                    "PSNR pretraining lr 2e-4, milestones 150k/240k/270k/285k, queue 160. RRDB's PSNR config is `train`'s). "
                    "null: none (e.g. --set train_sr.arch_train.swinir=null).",
    )
    scale: int = Field(4, description="Super-resolution factor (the generators here are x4).")
    negative_weight: float = Field(300.0, ge=0, description="Weight of the negative-GT term in posneg mode.")
    map_positive: Literal["independent", "target"] = Field(
        "independent",
        description="Positive behind the indication map: drawn independently of the GT P* (the authors' code) or P* itself.",
    )
    clamp_negative: bool = Field(
        False, description="Clamp SR to [0, 1] inside the negative term (the authors' code does not; it bounds the term)."
    )
    synthesis: Literal["batch", "sample"] = Field(
        "batch", description="LQ synthesis: 'batch' (the authors' feed_data: whole patches degraded with per-batch resize and "
                             "noise kind and a float-quality differentiable JPEG, then one crop position per batch) or 'sample' "
                             "(hggt's: crop first, every draw per sample, integer-quality JPEG; more diverse batches).",
    )
    init: str = Field("auto", description="GAN modes start from: 'auto' (the latest psnr run of the arch), 'none', or a model file.")
    psnr_init: dict[str, str] = Field(
        {},
        description="Per architecture, the model file its psnr run starts from (hggt model.pt, BasicSR .pth or .safetensors); "
                    "none: random weights, and the run says so. The authors start SwinIR from the classical-SR x4 SwinIR "
                    "(001_classicalSR_DF2K_s64w8_SwinIR-M_x4.pth) and RRDB from RRDB_bicubic_PSNR.pth; hggt downloads nothing, "
                    "e.g. --set train_sr.psnr_init.swinir=/models/001_classicalSR_DF2K_s64w8_SwinIR-M_x4.pth.",
    )

    @model_validator(mode="after")
    def _arch_train(self) -> "TrainSRConfig":
        for field, archs in (("arch_train", self.arch_train), ("psnr_init", self.psnr_init)):
            for arch in archs:
                if arch not in networks.names(GENERATOR):
                    raise ValueError(f"train_sr.{field}: unknown architecture {arch!r}; choose {networks.choices(GENERATOR)}")
        for arch, changes in self.arch_train.items():
            unknown = set((changes or {}).get("modes") or {}) - set(TRAIN_MODES)
            if unknown:
                raise ValueError(f"train_sr.arch_train.{arch}.modes: unknown mode(s) {sorted(unknown)}; choose from {TRAIN_MODES}")
            for mode in TRAIN_MODES:
                self.train_for(arch, mode)  # validates the merged values now, not at training time
        return self

    def train_for(self, arch: str, mode: str | None = None) -> TrainConfig:
        """The training config of one run: `train`, then the arch's `arch_train` changes, then those of
        its mode; psnr trains without the perceptual and GAN terms (L1 only)."""
        changes = dict(self.arch_train.get(arch) or {})
        by_mode = changes.pop("modes", None) or {}
        merged = {**self.train.model_dump(), **changes, **((by_mode.get(mode) or {}) if mode else {})}
        if mode == "psnr":
            merged.update(gan_weight=0.0, perceptual_weight=0.0)
        return TrainConfig.model_validate(merged)


class SplitConfig(_Section):
    test_sets: int = Field(100, ge=0, description="Held-out test sets (Test-100: sets with two or more positives), whole photos at a time.")


class EvaluateConfig(_Section):
    tile: int = Field(128, gt=0, description="LR tile side for SR inference.")
    overlap: int = Field(16, ge=0, description="LR context pixels around each tile.")
    crop_border: int = Field(4, ge=0, description="Pixels cropped from each border for PSNR and SSIM.")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N.")
    amp: bool = Field(
        False, description="bfloat16 autocast on CUDA (faster; SR outputs differ slightly). false: float32, as the authors' "
                           "test configs run (no fp16 or half setting in options/test).")
    shard_size: int = Field(16, gt=0, description="Test images per evaluation task run.")


class HGGTConfig(_Section):
    preset: PresetName = "paper"
    seed: int = Field(0, description="Global seed; every item's randomness derives from (seed, item id, stage).")
    ingest: IngestConfig = IngestConfig()
    patches: PatchConfig = PatchConfig()
    degrade: DegradeConfig = DegradeConfig()
    enhancers: EnhancersConfig = EnhancersConfig()
    enhance: EnhanceConfig = EnhanceConfig()
    select: SelectConfig = SelectConfig()
    annotation: AnnotationConfig = AnnotationConfig()
    split: SplitConfig = SplitConfig()
    maps: MapsConfig = MapsConfig()
    train_sr: TrainSRConfig = TrainSRConfig()
    evaluate: EvaluateConfig = EvaluateConfig()

    def min_image_size(self) -> int:
        return self.ingest.min_size if self.ingest.min_size is not None else self.patches.crop_size

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def section_hash(self, *sections: str) -> str:
        """Hash of the named sections plus the seed: what a stage's outputs depend on (shard sizes
        change how work is split, never its results, so they are left out)."""
        payload = {name: getattr(self, name).model_dump(mode="json", exclude={"shard_size"}) for name in sections}
        payload["seed"] = self.seed
        return _sha(json.dumps(payload, sort_keys=True, separators=(",", ":")))

    @property
    def hash(self) -> str:
        return _sha(self.to_json())


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
