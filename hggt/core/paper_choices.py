"""The table of record: every choice of the ``paper`` preset, where the authors' code makes it, the
option that gives the other reading, and the conformance test that runs their code beside ours.

The documentation's table (in :data:`DOCS_PAGE`) is rendered from :data:`CHOICES`
(``python -m hggt.core.paper_choices`` rewrites it) and ``tests/core/test_paper_choices.py`` fails when the two differ, when a named test
does not exist, when an override is not a valid config key or when a cited line is not in the
authors' file. So the documentation, the config and the tests cannot drift apart.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

DOCS_PAGE = "docs/paper-fidelity.md"  # relative to the repository root
START, END = "<!-- paper-choices:start -->", "<!-- paper-choices:end -->"
_POSNEG = "PosNegGTSR/options/train/PosNegGTSR/"
_ENHANCE = "ImageEnhancement/options/train/EnhancementModels/"


@dataclass(frozen=True)
class Choice:
    topic: str
    paper: str  # what the paper preset does (= the authors' code)
    source: str  # their file:line (paths inside their HGGT repository), several separated by "; "
    other: str  # the other reading, or hggt's own choice kept as an option
    override: str  # the --set that gives `other` ("" when there is none)
    proof: str  # tests/...py::test_name, the test that runs their code (or reads their config) beside ours


_PN = "PosNegGTSR/basicsr/"
_NETS = "tests/conformance/test_generator_networks.py::"
_ENH = "tests/conformance/test_enhancer_networks.py::"
_RECIPE = "tests/conformance/test_training_recipe.py::"
_SETS = "tests/conformance/test_training_sets.py::"
_SYN = "tests/conformance/test_batch_synthesis.py::"

CHOICES: tuple[Choice, ...] = (
    # Networks
    Choice("Real-ISR RRDB", "`RRDBPSNet`: 23 RRDBs, 64 channels, growth 32, pixel-shuffle x4",
           f"{_POSNEG}train_RRDBGAN_PosNegGT_Blind_Pos+Neg_x4.yml:62; {_PN}archs/rrdbnet_arch.py",
           "ESRGAN's nearest+conv", "train_sr.rrdb.upsampler=nearest", _NETS + "test_rrdb_matches_theirs_with_their_weights"),
    Choice("RRDB initialisation", "dense-block convolutions Kaiming-normal x 0.1, zero bias; the rest PyTorch's default",
           f"{_PN}archs/rrdbnet_arch.py:31; {_PN}archs/arch_util.py:33-36", "", "",
           _NETS + "test_rrdb_initialises_as_theirs_from_the_same_seed"),
    Choice("Real-ISR SwinIR", "embed 180, 6 x 6 blocks and heads, window 8, MLP 2, `pixelshuffle`",
           f"{_POSNEG}train_SwinIRGAN_PosNegGT_Blind_Pos+Neg_x4.yml:62-72", "real-SR nearest+conv",
           "train_sr.swinir.upsampler=nearest+conv", _NETS + "test_swinir_eval_matches_theirs"),
    Choice("SwinIR padding", "a full extra window when the size is a multiple of 8 (their `check_image_size`)",
           f"{_PN}archs/swinir_arch.py:933-935", "to the next multiple only (Spandrel's; loads in Spandrel)",
           "train_sr.swinir.pad=multiple", _NETS + "test_swinir_eval_matches_theirs"),
    Choice("SwinIR stochastic depth", "drop path 0.1, rising linearly over the 36 blocks, in training",
           f"{_PN}archs/swinir_arch.py:736; {_PN}archs/swinir_arch.py:798", "none",
           "train_sr.swinir.drop_path_rate=0", _NETS + "test_swinir_training_forward_drops_the_same_samples_as_theirs"),
    Choice("Discriminator", "U-Net with spectral normalisation, 64 channels, skip connections",
           f"{_PN}archs/discriminator_arch.py:91", "", "", _ENH + "test_the_discriminator_equals_theirs"),
    Choice("RCAN enhancer", "`RCANNOUP` 10 x 20 blocks, 64 channels, input range 255",
           f"{_ENHANCE}train_EnhanceRCAN_01.yml:63-72", "range 1", "enhancers.rcan.img_range=1",
           _ENH + "test_rcan_equals_their_rcannoup"),
    Choice("ELAN enhancer", "36 ELABs, no attention sharing, `softmax(q q^T)` unscaled, input range 255 "
           "(q/v channels in another order: their weights load permuted)",
           f"{_ENHANCE}train_EnhanceELAN_03.yml:64-71; ImageEnhancement/basicsr/archs/elan_arch.py:115-160",
           "ELAN paper: shared, scaled attention",
           "enhancers.elan.shared_depth=1, enhancers.elan.scaled_attention=true, enhancers.elan.img_range=1",
           _ENH + "test_elan_equals_theirs"),
    # Recipes
    Choice("Real-ISR schedule", "batch 12, GT 256, pool 144, Adam 1e-4 (0.9, 0.99), 300k iterations, halved at 200k; "
           "losses L1 1, perceptual 1 (VGG19 layers 0.1/0.1/1/1/1), GAN 0.1",
           f"{_POSNEG}train_RRDBGAN_PosNegGT_Blind_Pos+Neg_x4.yml:22-23; {_POSNEG}train_RRDBGAN_PosNegGT_Blind_Pos+Neg_x4.yml:84-133",
           "", "", _RECIPE + "test_real_isr_recipe_is_their_config"),
    Choice("SwinIR schedule", "batch 8, halved at 200k, 250k, 275k, 287.5k; pool 160 in Ori and Pos, 144 in Pos+Neg",
           f"{_POSNEG}train_SwinIRGAN_PosNegGT_Blind_Ori_x4.yml:23; {_POSNEG}train_SwinIRGAN_PosNegGT_Blind_Pos+Neg_x4.yml:48-104",
           "RRDB's schedule", "train_sr.arch_train.swinir=null", _RECIPE + "test_real_isr_recipe_is_their_config"),
    Choice("PSNR pretraining (`--mode psnr`)", "RRDB: their GAN schedule without GAN and perceptual terms; SwinIR: lr 2e-4, "
           "halved at 150k, 240k, 270k, 285k, pool 160; start weights from `train_sr.psnr_init` (theirs: bicubic-PSNR "
           "RRDB, classical-SR SwinIR; nothing is downloaded)",
           f"{_POSNEG}train_RRDB_DF2K_OST_Blind_x4.yml:72-91; {_POSNEG}train_SwinIR_DF2K_OST_Blind_x4.yml:79-98",
           "random start when no file is given (said in the log)", "", _RECIPE + "test_real_isr_recipe_is_their_config"),
    Choice("GAN initialisation", "`auto`: the latest hggt psnr run of the arch (their configs load "
           "`RRDB_DF2K_OST_Blind_PSNR_x4.pth`, `params_ema`, a PSNR model trained on DF2K-OST)",
           f"{_POSNEG}train_RRDBGAN_PosNegGT_Blind_Pos+Neg_x4.yml:78-79", "their file, or none",
           "train_sr.init=none", "tests/flows/test_train_sr_init.py::test_a_gan_run_starts_from_a_basicsr_file"),
    Choice("Enhancer recipe", "GT 96, batch 4, pool 40, no EMA (`ema_decay: 0`), 300k iterations halved at 200k",
           f"{_ENHANCE}train_EnhanceRCAN_01.yml:21-22; {_ENHANCE}train_EnhanceRCAN_01.yml:91-108", "EMA 0.999",
           "enhancers.train.ema_decay=0.999", _RECIPE + "test_enhancer_recipe_is_their_config"),
    Choice("Training precision", "float32", f"{_POSNEG}train_RRDBGAN_PosNegGT_Blind_Pos+Neg_x4.yml:84-100",
           "bfloat16 autocast on CUDA (faster; losses differ at bf16 rounding)", "train_sr.train.amp=true",
           _RECIPE + "test_real_isr_recipe_is_their_config"),
    Choice("Inference precision", "float32 (enhancement and evaluation)", "ImageEnhancement/inference/inference_rcannoup.py:108",
           "bfloat16 autocast on CUDA", "enhance.amp=true, evaluate.amp=true", _RECIPE + "test_their_inference_is_float32"),
    Choice("EMA", "constant decay 0.999 every iteration", f"{_PN}models/base_model.py:75-82",
           "warm-up `min(0.999, (1+t)/(10+t))` (the demo: 100 iterations)", "train_sr.train.ema_warmup=true",
           _RECIPE + "test_ema_is_their_model_ema"),
    Choice("Training-pair pool", "144 pairs, shuffled, the first batch swapped out", f"{_PN}models/ours_model.py:182-216",
           "no pool", "train_sr.train.pool_size=0", _RECIPE + "test_pool_is_their_dequeue_and_enqueue"),
    # Data
    Choice("Which sets train", "Ori: every train-side set; Pos: sets with an effective Positive, always a Positive as GT; "
           "Pos+Neg: usable sets, the original where no Positive",
           f"{_PN}data/posneggtori_dataset.py:46; {_PN}data/posneggtpos_dataset.py:150-154; {_PN}data/posneggtposneg_dataset.py:110-120",
           "", "", _SETS + "test_their_dataset_classes_choose_our_sets"),
    Choice("Label files", "`Picture_2..5` = versions 01..04 by position, integer `Total`",
           f"{_PN}data/posneggtpos_dataset.py:88-106", "", "", _SETS + "test_their_effective_labels_and_counts_are_ours_for_every_set"),
    Choice("Sampling", "shuffled epochs: every set once per epoch, a batch of distinct sets, the last partial batch dropped; "
           "horizontal flips only", f"{_PN}data/data_sampler.py:29-42; {_PN}data/__init__.py:66-74",
           "a buffer of decoded sets drawn with replacement", "train_sr.train.sampling=buffer",
           _RECIPE + "test_epochs_visit_every_set_once_in_distinct_batches_as_basicsr"),
    Choice("LQ synthesis", "whole patch degraded, then one 256/64 crop for the batch; resize and noise kind per batch, "
           "kernels, strengths, gray flags and float JPEG qualities per sample; `scale_factor` resizes",
           f"{_PN}models/ours_posneggt_model.py:150-192", "crop first, every draw per sample (more diverse batches)",
           "train_sr.synthesis=sample", _SYN + "test_lq_matches_reference_feed_data"),
    Choice("JPEG in training", "differentiable JPEG (hard rounding), float quality per sample",
           f"{_PN}utils/diffjpeg.py:459-490", "OpenCV/nvJPEG, integer quality (with `synthesis=sample`)",
           "train_sr.synthesis=sample", "tests/conformance/test_diffjpeg.py::test_matches_reference_per_sample_quality"),
    Choice("Table 2 gray noise", "0.2", f"{_POSNEG}train_RRDBGAN_PosNegGT_Blind_Pos+Neg_x4.yml:14", "0.1 (the paper's text)",
           "degrade.table_2.gray_noise_probability=0.1", _SYN + "test_settings_are_the_reference_configs"),
    # Losses and maps
    Choice("Positive behind the indication map", "drawn independently of the GT P*",
           f"{_PN}models/ours_posneggt_model.py:292-293", "P* itself", "train_sr.map_positive=target",
           "tests/conformance/test_losses.py::test_negative_term_is_their_train_net_g"),
    Choice("Negative term", "L1 of map x SR against map x N*, mean per sample, weight 300, summed over samples with a "
           "negative / batch; SR unclamped", f"{_PN}models/ours_posneggt_model.py:307-308",
           "SR clamped to [0, 1] (bounded; the demo)", "train_sr.clamp_negative=true",
           "tests/conformance/test_losses.py::test_negative_term_is_their_train_net_g"),
    Choice("Indication maps", "float32 as their `get_overall_map` (unfold variance, `** 0.75` per sample), ties to the positive",
           f"{_PN}losses/loss_util.py:113-168", "", "", "tests/conformance/test_indication_maps.py::test_constructed_ties"),
    # Evaluation
    Choice("Metrics", "PSNR, SSIM, LPIPS and DISTS on the 4-pixel-cropped images; DISTS at full resolution (`DISTS_pytorch`)",
           "PosNegGTSR/scripts/metrics/calculate_multigt_labeled_dists.py:19-22", "", "",
           "tests/conformance/test_metric_scripts.py::test_metrics_equal_the_authors_scripts"),
)


def markdown_table() -> str:
    rows = ["| choice | `paper` preset (= the authors' code) | their code | the other reading | override | proven by |",
            "|---|---|---|---|---|---|"]
    for c in CHOICES:
        source = "<br>".join(f"`{s}`" for s in c.source.split("; "))
        override = f"`{c.override}`" if c.override else "(none)"
        other = c.other or "(none)"
        proof = f"`{c.proof.split('tests/', 1)[1]}`"
        rows.append(f"| {c.topic} | {c.paper} | {source} | {other} | {override} | {proof} |")
    return "\n".join(rows)


def render_into(text: str) -> str:
    """``text`` (the page) with the table between the markers replaced by :func:`markdown_table`."""
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"no {START} ... {END} block to fill")
    return pattern.sub(lambda _: f"{START}\n{markdown_table()}\n{END}", text)


if __name__ == "__main__":  # python -m hggt.core.paper_choices [docs/paper-fidelity.md]
    path = sys.argv[1] if len(sys.argv) > 1 else DOCS_PAGE
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_into(text))
