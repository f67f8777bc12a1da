"""Incremental decoding for Step-Audio 2 with a KV cache, streaming and batching.

One prefill pass (audio encoder + adaptor + decoder over the whole prompt), then one
decoder step per token reusing transformers' `DynamicCache`. Sampling: temperature,
top-k, top-p, repetition penalty (the HF `RepetitionPenaltyLogitsProcessor` rule over
prompt + generated ids); greedy when temperature is 0. Each step hands the new tokens
to an `on_token(row, token_id)` callback and yields them, so text and audio tokens
stream as they are produced. Several conversations run as one left-padded batch; a
row stops at a stop token or its token budget, and a `CancelToken` stops all rows
at the next step (barge-in).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache

from model.policy import CancelToken
from model.stepaudio2.audio import AudioChunkFeatures, batch_mels


@dataclass
class SamplingParams:
    max_new_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 0
    repetition_penalty: float = 1.05
    stop_token_ids: tuple[int, ...] = ()
    seed: int | None = None


@dataclass
class GenerationRequest:
    input_ids: list[int]
    audio: list[AudioChunkFeatures] = field(default_factory=list)


@dataclass
class GenerationResult:
    tokens: list[int]
    finish_reason: str  # stop | length | cancelled
    prompt_tokens: int
    prefill_s: float = 0.0
    decode_s: float = 0.0


@dataclass
class StepOutput:
    step: int
    tokens: list[int | None]  # None for rows already finished


def apply_repetition_penalty(
    logits: torch.Tensor, seen: torch.Tensor, penalty: float
) -> torch.Tensor:
    if penalty == 1.0:
        return logits
    scaled = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, scaled, logits)


def sample_next(
    logits: torch.Tensor, params: SamplingParams, seen: torch.Tensor, gen: torch.Generator | None
) -> torch.Tensor:
    """logits [B, V] (float32) -> next token ids [B]."""
    logits = apply_repetition_penalty(logits, seen, params.repetition_penalty)
    if params.temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits / params.temperature
    if params.top_k and params.top_k < logits.shape[-1]:
        kth = torch.topk(logits, params.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = logits.softmax(dim=-1)
    if 0 < params.top_p < 1:
        # nucleus: keep the smallest set of most likely tokens whose mass reaches top_p.
        # Sorting 158k entries per step is slow on a CPU, so look at the top 1024 first
        # and fall back to a full sort only for rows whose nucleus is larger.
        k = min(1024, probs.shape[-1])
        top, order = torch.topk(probs, k, dim=-1)
        if bool((top.sum(-1) < params.top_p).any()):
            top, order = torch.sort(probs, descending=True, dim=-1)
        cum = top.cumsum(dim=-1)
        top = top.masked_fill(cum - top > params.top_p, 0.0)
        pick = torch.multinomial(top, 1, generator=gen)
        return order.gather(-1, pick).squeeze(-1)
    return torch.multinomial(probs, 1, generator=gen).squeeze(-1)


class StepAudio2Generator:
    """Streams tokens from a `StepAudio2ForCausalLM`."""

    def __init__(self, model: torch.nn.Module, pad_token_id: int) -> None:
        self.model = model
        self.pad_token_id = pad_token_id

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _prefill_inputs(self, requests: list[GenerationRequest]):
        dev = self.device
        lens = [len(r.input_ids) for r in requests]
        width = max(lens)
        ids = torch.full((len(requests), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(requests), width), dtype=torch.long)
        for i, r in enumerate(requests):
            ids[i, width - lens[i] :] = torch.tensor(r.input_ids, dtype=torch.long)
            mask[i, width - lens[i] :] = 1
        chunks = [c for r in requests for c in r.audio]
        wavs = wav_lens = None
        if chunks:
            wavs, wav_lens = batch_mels(chunks)
            wavs, wav_lens = wavs.to(dev), wav_lens.to(dev)
        return ids.to(dev), mask.to(dev), wavs, wav_lens

    @torch.inference_mode()
    def stream(
        self,
        requests: list[GenerationRequest],
        params: SamplingParams,
        *,
        cancel: CancelToken | None = None,
        on_token: Callable[[int, int], None] | None = None,
        results: list[GenerationResult] | None = None,
    ) -> Iterator[StepOutput]:
        """Yield one StepOutput per decoding step; fills `results` (if given) at the end."""
        if not requests:
            return
        model = self.model
        ids, mask, wavs, wav_lens = self._prefill_inputs(requests)
        bsz, vocab = ids.shape[0], model.lm_head.out_features
        dev = ids.device
        gen = None
        if params.seed is not None:
            gen = torch.Generator(device=dev)
            gen.manual_seed(params.seed)
        seen = torch.zeros((bsz, vocab), dtype=torch.bool, device=dev)
        seen.scatter_(1, ids.clamp(max=vocab - 1), mask.bool())
        stop = torch.tensor(sorted(set(params.stop_token_ids)) or [-1], device=dev)

        t0 = time.perf_counter()
        embeds = model.embed_inputs(ids, wavs, wav_lens)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=model.config.text_config)
        out = model(
            inputs_embeds=embeds, attention_mask=mask, position_ids=pos, past_key_values=cache,
            use_cache=True, logits_to_keep=1,
        )  # fmt: skip
        logits = out.logits[:, -1].float()
        prefill_s = time.perf_counter() - t0
        t1 = time.perf_counter()

        tokens: list[list[int]] = [[] for _ in range(bsz)]
        reasons: list[str | None] = [None] * bsz
        done = torch.zeros(bsz, dtype=torch.bool, device=dev)
        last_pos = pos[:, -1:]
        step = 0
        try:
            while step < params.max_new_tokens:
                if cancel is not None and cancel.cancelled:
                    for i in range(bsz):
                        reasons[i] = reasons[i] or "cancelled"
                    break
                nxt = sample_next(logits, params, seen, gen)
                nxt = torch.where(done, torch.full_like(nxt, self.pad_token_id), nxt)
                step += 1
                row_tokens: list[int | None] = []
                nxt_list = nxt.tolist()
                for i in range(bsz):
                    if done[i]:
                        row_tokens.append(None)
                        continue
                    t = nxt_list[i]
                    tokens[i].append(t)
                    row_tokens.append(t)
                    if on_token is not None:
                        on_token(i, t)
                seen[torch.arange(bsz, device=dev), nxt] |= ~done
                newly = torch.isin(nxt, stop) & ~done
                for i in newly.nonzero().flatten().tolist():
                    reasons[i] = "stop"
                done |= newly
                yield StepOutput(step=step, tokens=row_tokens)
                if bool(done.all()) or step >= params.max_new_tokens:
                    break
                if cancel is not None and cancel.cancelled:
                    continue  # reported at the top of the loop
                mask = torch.cat([mask, torch.ones((bsz, 1), dtype=mask.dtype, device=dev)], dim=1)
                last_pos = last_pos + 1
                out = model(
                    input_ids=nxt[:, None], attention_mask=mask, position_ids=last_pos,
                    past_key_values=cache, use_cache=True,
                )  # fmt: skip
                logits = out.logits[:, -1].float()
        finally:
            if results is not None:
                results.clear()
                for i in range(bsz):
                    results.append(
                        GenerationResult(
                            tokens=tokens[i],
                            finish_reason=reasons[i] or "length",
                            prompt_tokens=len(requests[i].input_ids),
                            prefill_s=prefill_s,
                            decode_s=time.perf_counter() - t1,
                        )
                    )

    def generate(
        self,
        requests: list[GenerationRequest],
        params: SamplingParams,
        *,
        cancel: CancelToken | None = None,
    ) -> list[GenerationResult]:
        results: list[GenerationResult] = []
        for _ in self.stream(requests, params, cancel=cancel, results=results):
            pass
        return results
