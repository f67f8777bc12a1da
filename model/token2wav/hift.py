"""HiFT vocoder: 80-bin mel (50 Hz) -> 24 kHz waveform (neural source filter + iSTFT).

Facts from the public code (Step-Audio 2 `flashcosyvoice/modules/hifigan.py` and
`hifigan_components/layers.py`; CosyVoice 2 `cosyvoice/hifigan/generator.py`,
HiFTNet, arXiv 2309.09493):

- `f0_predictor`: 5 x (weight-normed Conv1d k3 + ELU) on the mel, Linear(512, 1), |.|.
- source (`m_source`, the 24 kHz "HnNSF2" variant): f0 upsampled (nearest, x480) ->
  harmonics 1..9 -> phase from the cumulative sum of f0/sr computed at the frame rate
  (linear down/up interpolation by 480) plus a random initial phase for the overtones
  -> 0.1 * sin, voiced where f0 > 10 Hz, Gaussian noise (std 0.003 voiced,
  0.1/3 unvoiced) -> `l_linear` (9 -> 1) + tanh.
- `decode`: STFT of the source (n_fft 16, hop 4, periodic Hann) feeds each upsampling
  stage through `source_downs` + `source_resblocks`; `conv_pre` (k7), 3 x
  [leaky ReLU 0.1, weight-normed ConvTranspose1d (rates 8/5/3, kernels 16/11/7),
  reflection pad (1, 0) after the last, + source branch, mean of 3 Snake ResBlocks
  (kernels 3/7/11, dilations 1/3/5)], leaky ReLU (0.01), `conv_post` (k7) -> 9 log
  magnitudes + 9 phases (sin), iSTFT, clamp to +-0.99.
- weight-normed layers: conv_pre, ups, resblocks.*, source_resblocks.*, conv_post,
  f0_predictor.condnet.*. We build them with torch's `parametrizations.weight_norm` so
  the state dict has the reference's keys (a `weight_g`/`weight_v` checkpoint is
  converted on load), then fold the weights once loaded.

Randomness (overtone phases, noise) is drawn from an explicit `torch.Generator` in the
reference's order (`rand(b, 9)` then `randn(b, L, 9)`), so results are reproducible and a
reference run seeded the same way draws the same numbers.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from model.token2wav.config import HiFTConfig


def _padding(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


class Snake(nn.Module):
    """x + 1/alpha * sin^2(alpha * x), one alpha per channel."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.alpha.view(1, -1, 1)
        return torch.addcmul(x, 1.0 / (a + 1e-9), torch.sin(x * a).pow_(2))


class ResBlock(nn.Module):
    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs1 = nn.ModuleList(
            weight_norm(
                nn.Conv1d(channels, channels, kernel, 1, dilation=d, padding=_padding(kernel, d))
            )
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            weight_norm(nn.Conv1d(channels, channels, kernel, 1, padding=_padding(kernel)))
            for _ in dilations
        )
        self.activations1 = nn.ModuleList(Snake(channels) for _ in dilations)
        self.activations2 = nn.ModuleList(Snake(channels) for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2, a1, a2 in zip(
            self.convs1, self.convs2, self.activations1, self.activations2, strict=True
        ):
            x = x + c2(a2(c1(a1(x))))
        return x


class F0Predictor(nn.Module):
    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(5):
            layers.append(
                weight_norm(nn.Conv1d(in_channels if i == 0 else channels, channels, 3, padding=1))
            )
            layers.append(nn.ELU())
        self.condnet = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, 1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        h = self.condnet(mel).transpose(1, 2)
        return torch.abs(self.classifier(h).squeeze(-1))


class SourceModule(nn.Module):
    """Harmonic-plus-noise excitation from f0 (the reference's 24 kHz variant)."""

    def __init__(self, cfg: HiFTConfig):
        super().__init__()
        self.sr = cfg.sampling_rate
        self.scale = cfg.hop_samples
        self.dim = cfg.nb_harmonics + 1
        self.sine_amp = cfg.nsf_alpha
        self.noise_std = cfg.nsf_sigma
        self.voiced_threshold = cfg.nsf_voiced_threshold
        self.l_linear = nn.Linear(self.dim, 1)

    def forward(self, f0: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """f0 (b, L, 1) at the sample rate -> excitation (b, L, 1)."""
        harmonics = torch.arange(1, self.dim + 1, device=f0.device, dtype=f0.dtype)
        fn = f0 * harmonics.view(1, 1, -1)
        rad = (fn / self.sr) % 1
        dev = generator.device if generator is not None else f0.device
        rand_ini = torch.rand(fn.shape[0], self.dim, generator=generator, device=dev).to(fn)
        rand_ini[:, 0] = 0
        rad[:, 0, :] = rad[:, 0, :] + rand_ini
        rad = F.interpolate(rad.transpose(1, 2), scale_factor=1 / self.scale, mode="linear")
        phase = torch.cumsum(rad, dim=2) * 2 * np.pi
        phase = F.interpolate(phase * self.scale, scale_factor=self.scale, mode="linear")
        sines = torch.sin(phase.transpose(1, 2)) * self.sine_amp
        uv = (f0 > self.voiced_threshold).to(f0.dtype)
        noise_amp = uv * self.noise_std + (1 - uv) * self.sine_amp / 3
        # the reference's randn_like fills a tensor laid out like the transposed sines;
        # filling the same layout draws the same numbers from the same seed
        draw = torch.empty(phase.shape, dtype=sines.dtype, device=dev).transpose(1, 2)
        noise = noise_amp * draw.normal_(generator=generator).to(sines)
        sines = sines * uv + noise
        # the reference also draws a (b, L, 1) noise it does not use; drawing it keeps
        # the random stream aligned with a reference run over successive chunks
        torch.randn(uv.shape, generator=generator, device=dev)
        return torch.tanh(self.l_linear(sines))


class HiFTGenerator(nn.Module):
    def __init__(self, cfg: HiFTConfig | None = None):
        super().__init__()
        cfg = cfg or HiFTConfig()
        self.cfg = cfg
        base = cfg.base_channels
        n_fft = cfg.istft_n_fft
        self.m_source = SourceModule(cfg)
        self.conv_pre = weight_norm(nn.Conv1d(cfg.in_channels, base, 7, 1, padding=3))
        self.ups = nn.ModuleList(
            weight_norm(
                nn.ConvTranspose1d(base // 2**i, base // 2 ** (i + 1), k, u, padding=(k - u) // 2)
            )
            for i, (u, k) in enumerate(
                zip(cfg.upsample_rates, cfg.upsample_kernel_sizes, strict=True)
            )
        )
        down_rates = [1, *list(cfg.upsample_rates[::-1][:-1])]
        cum = np.cumprod(down_rates)[::-1]
        self.source_downs = nn.ModuleList()
        self.source_resblocks = nn.ModuleList()
        for i, (u, k, d) in enumerate(
            zip(
                cum,
                cfg.source_resblock_kernel_sizes,
                cfg.source_resblock_dilation_sizes,
                strict=True,
            )
        ):
            ch = base // 2 ** (i + 1)
            u = int(u)
            if u == 1:
                self.source_downs.append(nn.Conv1d(n_fft + 2, ch, 1, 1))
            else:
                self.source_downs.append(nn.Conv1d(n_fft + 2, ch, u * 2, u, padding=u // 2))
            self.source_resblocks.append(ResBlock(ch, k, tuple(d)))
        self.resblocks = nn.ModuleList()
        for i in range(len(self.ups)):
            ch = base // 2 ** (i + 1)
            for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes, strict=True):
                self.resblocks.append(ResBlock(ch, k, tuple(d)))
        self.conv_post = weight_norm(nn.Conv1d(ch, n_fft + 2, 7, 1, padding=3))
        self.f0_predictor = F0Predictor(cfg.in_channels, cfg.f0_cond_channels)
        window = torch.hann_window(n_fft, periodic=True)
        self.register_buffer("stft_window", window, persistent=False)
        self.num_kernels = len(cfg.resblock_kernel_sizes)

    def fold_weight_norm(self) -> None:
        """Replace every weight-norm parametrization by its computed weight (inference)."""
        for m in self.modules():
            if parametrize.is_parametrized(m, "weight"):
                parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)

    def _stft(self, x: torch.Tensor) -> torch.Tensor:
        n = self.cfg.istft_n_fft
        spec = torch.stft(
            x, n, self.cfg.istft_hop_len, n, window=self.stft_window.to(x), return_complex=True
        )
        spec = torch.view_as_real(spec)
        return torch.cat([spec[..., 0], spec[..., 1]], dim=1)

    def decode(self, mel: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        n = self.cfg.istft_n_fft
        s = self._stft(source.squeeze(1))
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, self.cfg.lrelu_slope))
            if i == len(self.ups) - 1:
                x = F.pad(x, (1, 0), mode="reflect")
            x = x + self.source_resblocks[i](self.source_downs[i](s))
            xs = self.resblocks[i * self.num_kernels](x)
            for j in range(1, self.num_kernels):
                xs = xs + self.resblocks[i * self.num_kernels + j](x)
            x = xs / self.num_kernels
        x = self.conv_post(F.leaky_relu(x))
        magnitude = torch.exp(x[:, : n // 2 + 1]).clamp(max=1e2)
        phase = torch.sin(x[:, n // 2 + 1 :])
        spec = torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
        wav = torch.istft(spec, n, self.cfg.istft_hop_len, n, window=self.stft_window.to(magnitude))
        return wav.clamp(-self.cfg.audio_limit, self.cfg.audio_limit)

    @torch.inference_mode()
    def forward(
        self,
        mel: torch.Tensor,
        cache_source: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """mel (b, 80, T) -> waveform (b, T*480) and the excitation (b, 1, T*480).
        `cache_source` overwrites the start of the excitation (streaming continuity)."""
        f0 = self.f0_predictor(mel)
        f0_up = f0[:, None].repeat_interleave(self.cfg.hop_samples, dim=2).transpose(1, 2)
        s = self.m_source(f0_up, generator).transpose(1, 2)
        if cache_source is not None and cache_source.shape[2] > 0:
            s[:, :, : cache_source.shape[2]] = cache_source
        return self.decode(mel, s), s
