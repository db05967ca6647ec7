"""SwinIR (Liang et al., ICCVW 2021, "SwinIR: Image Restoration Using Swin Transformer") at x4.

A first convolution (shallow features); residual Swin transformer blocks (RSTB: L Swin layers
with window self-attention and a learned relative position bias, every other layer on windows
shifted by half their size with an attention mask across the wrap-around, then a convolution and
a skip); a layer norm and a convolution closing a long skip; then one of two upsamplers, both
after a convolution with LeakyReLU to ``num_feat`` channels:

- ``pixelshuffle`` (classical SR, what the HGGT authors' SwinIR configs train, the paper default):
  twice a convolution to 4x the channels and a pixel shuffle x2, then an output convolution;
- ``nearest+conv`` (the real-SR models): two nearest-neighbour x2 steps each with a convolution,
  and two output convolutions.

Inputs are reflect-padded to a multiple of the window and the output cropped; by default (``pad``
"always", the authors') by window - size % window, a whole extra window when the size is already a
multiple. In training, stochastic depth drops each layer's residual branches per sample at a rate
rising linearly over the layers (``drop_path_rate``). Module names follow the reference
implementation's, so Spandrel tells the two upsamplers apart from the weights.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from hggt.core.archs.common import RGB_MEAN, add_x4_upsampler, nearest_x4, pad_to_multiple


def _windows(x: torch.Tensor, w: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * nW, w*w, C)"""
    b, h, wd, c = x.shape
    return x.view(b, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, w * w, c)


def _unwindows(x: torch.Tensor, w: int, b: int, h: int, wd: int) -> torch.Tensor:
    return x.view(b, h // w, wd // w, w, w, -1).permute(0, 1, 3, 2, 4, 5).reshape(b, h, wd, -1)


class WindowAttention(nn.Module):
    def __init__(self, dim: int, window: int, heads: int):
        super().__init__()
        self.window, self.heads = window, heads
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer("relative_position_index", rel[..., 0] * (2 * window - 1) + rel[..., 1])
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        bw, n, c = x.shape
        q, k, v = self.qkv(x).view(bw, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        attn = attn + bias.permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(bw // nw, nw, self.heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.heads, n, n)
        out = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(bw, n, c)
        return self.proj(out)


class Mlp(nn.Module):
    def __init__(self, dim: int, ratio: float):
        super().__init__()
        self.fc1 = nn.Linear(dim, int(dim * ratio))
        self.act = nn.GELU()
        self.fc2 = nn.Linear(int(dim * ratio), dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def _shift_mask(h, w, window: int, shift: int, device: torch.device) -> torch.Tensor:
    """(nW, w*w, w*w) additive mask: -100 between positions that the cyclic shift brought together.
    Built from comparisons with the image size, so an ONNX trace keeps it dynamic."""
    def regions(n):
        idx = torch.arange(n, device=device)
        return (idx >= n - window).long() + (idx >= n - shift).long()  # 0, 1, 2: the three slices of the shift

    labels = (regions(h)[:, None] * 3 + regions(w)[None, :]).float()
    ids = _windows(labels[None, :, :, None], window).squeeze(-1)
    diff = ids.unsqueeze(1) - ids.unsqueeze(2)
    return torch.where(diff != 0, torch.full_like(diff, -100.0), torch.zeros_like(diff))


def _drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth (Huang et al., ECCV 2016) of a residual branch: in training, zeroed for each
    sample with probability ``rate`` and scaled by 1 / (1 - rate) otherwise, so its expectation is
    unchanged; the identity in eval and at rate 0. One uniform draw per sample and call, as the
    authors' DropPath makes, so the same torch seed drops the same samples in both."""
    if not training or rate == 0:
        return x
    keep = 1.0 - rate
    kept = (torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device) + keep).floor()
    return x / keep * kept


class SwinTransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, shift: int, mlp_ratio: float, img_size: int, drop_path: float):
        super().__init__()
        self.window, self.shift, self.img_size, self.drop_path = window, shift, img_size, drop_path
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_ratio)
        # As in the reference, shifted blocks keep the mask of the training size as a buffer (weight
        # files carry it); other sizes get theirs computed once and cached.
        if shift:
            self.register_buffer("attn_mask", _shift_mask(img_size, img_size, window, shift, torch.device("cpu")))
        self._masks: dict[tuple, torch.Tensor] = {}

    def _mask(self, h: int, w: int, device: torch.device) -> torch.Tensor | None:
        if not self.shift:
            return None
        if torch.jit.is_tracing():  # an exported graph computes it for every input size
            return _shift_mask(h, w, self.window, self.shift, device)
        if (h, w) == (self.img_size, self.img_size):
            return self.attn_mask
        key = (h, w, str(device))
        if key not in self._masks:
            self._masks = {key: _shift_mask(h, w, self.window, self.shift, device)}
        return self._masks[key]

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        h, w = size
        b, _, c = x.shape
        y = self.norm1(x).view(b, h, w, c)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        y = _unwindows(self.attn(_windows(y, self.window), self._mask(h, w, x.device)), self.window, b, h, w)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        # Both branches are dropped independently, attention first (the order of the random draws).
        x = x + _drop_path(y.reshape(b, h * w, c), self.drop_path, self.training)
        return x + _drop_path(self.mlp(self.norm2(x)), self.drop_path, self.training)


class BasicLayer(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, window: int, mlp_ratio: float, img_size: int, drop_paths: list[float]):
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinTransformerBlock(dim, heads, window, 0 if i % 2 == 0 else window // 2, mlp_ratio, img_size, drop_paths[i])
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, size)
        return x


class RSTB(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, window: int, mlp_ratio: float, img_size: int, drop_paths: list[float]):
        super().__init__()
        self.residual_group = BasicLayer(dim, depth, heads, window, mlp_ratio, img_size, drop_paths)
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, _, c = x.shape
        y = self.residual_group(x, size).transpose(1, 2).reshape(b, c, *size)
        return x + self.conv(y).flatten(2).transpose(1, 2)


class PatchEmbedNorm(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.flatten(2).transpose(1, 2))


class SwinIR(nn.Module):
    """Options as :class:`hggt.core.sizes.SwinIRSize`, whose defaults are the paper's (SwinIR-M x4,
    the authors' train_SwinIRGAN_PosNegGT_Blind_*_x4.yml): embedding 180, 6 RSTBs of 6 layers, 6
    heads, window 8, MLP ratio 2, 64 upsampler features, pixel-shuffle upsampler, padding by a whole
    extra window, stochastic depth 0.1; LQ training size 64."""

    def __init__(
        self, *, embed_dim: int, depths: tuple[int, ...], num_heads: tuple[int, ...], window_size: int, mlp_ratio: float, num_feat: int,
        upsampler: str, pad: str, drop_path_rate: float, scale: int = 4, img_size: int = 64,
    ):
        super().__init__()
        if scale != 4:
            raise ValueError("SwinIR here is the x4 generator")
        if len(depths) != len(num_heads):
            raise ValueError("depths and num_heads need one entry per RSTB")
        if upsampler not in ("pixelshuffle", "nearest+conv"):
            raise ValueError(f"unknown SwinIR upsampler {upsampler!r}; choose pixelshuffle or nearest+conv")
        if pad not in ("always", "multiple"):
            raise ValueError(f"unknown SwinIR pad {pad!r}; choose always or multiple")
        self.window, self.scale, self.upsampler, self.pad = window_size, scale, upsampler, pad
        self.register_buffer("mean", torch.tensor(RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.conv_first = nn.Conv2d(3, embed_dim, 3, 1, 1)
        self.patch_embed = PatchEmbedNorm(embed_dim)
        # Stochastic depth rising linearly over all layers; float32 linspace gives the authors' exact rates.
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        starts = [sum(depths[:i]) for i in range(len(depths))]
        self.layers = nn.ModuleList(
            RSTB(embed_dim, d, h, window_size, mlp_ratio, img_size, rates[s:s + d]) for d, h, s in zip(depths, num_heads, starts)
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = nn.Conv2d(embed_dim, embed_dim, 3, 1, 1)
        self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, num_feat, 3, 1, 1), nn.LeakyReLU(inplace=True))
        add_x4_upsampler(self, upsampler == "pixelshuffle", num_feat)
        if upsampler != "pixelshuffle":  # the real-SR models' convolution before the output one
            self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, 3, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.patch_embed(x)
        for layer in self.layers:
            y = layer(y, (h, w))
        return self.norm(y).transpose(1, 2).reshape(b, c, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = pad_to_multiple(x, self.window, always=self.pad == "always")
        feat = self.conv_first(x - self.mean)
        feat = self.conv_before_upsample(self.conv_after_body(self.forward_features(feat)) + feat)
        if self.upsampler == "pixelshuffle":
            out = self.conv_last(self.upsample(feat)) + self.mean
        else:
            out = self.conv_last(self.lrelu(self.conv_hr(nearest_x4(self, feat)))) + self.mean
        return out[..., : h * self.scale, : w * self.scale]
