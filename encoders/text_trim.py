"""Text-tower forward over the tokens that matter, for causal CLIP text towers.

A CLIP text tower pads every text to its context length (77 tokens) and pools the features of
the end-of-text token. Its attention is causal, so that token never sees the padding after it:
running the tower on the tokens up to the batch's last end-of-text position gives the same
vector, at a fraction of the cost for the short texts people search with (about 10 tokens).
Towers without a causal mask, or that pool another way, are run in full.
"""

from __future__ import annotations

from typing import Any

import torch
from open_clip.model import CLIP, CustomTextCLIP
from open_clip.transformer import TextTransformer, text_global_pool


def trim_mode(model: Any) -> str | None:
    """`clip` or `custom` when `model`'s text tower can run on trimmed tokens, else None."""
    if isinstance(model, CLIP):
        if model.attn_mask is not None and _pools(model.text_pool_type, model.text_eos_id):
            return "clip"
    elif isinstance(model, CustomTextCLIP) and isinstance(model.text, TextTransformer):
        text = model.text
        causal = text.attn_mask is not None and text.cls_emb is None
        if causal and _pools(text.pool_type, text.eos_id):
            return "custom"
    return None


def _pools(pool_type: str, eos_id: int | None) -> bool:
    return pool_type == "argmax" or (pool_type == "eos" and eos_id is not None)


def pooled_length(tokens: torch.Tensor, pool_type: str, eos_id: int | None) -> int:
    """How many leading tokens the pooled position of every row lies within."""
    if pool_type == "argmax":
        index = tokens.argmax(dim=-1)
    else:
        index = tokens.eq(eos_id if eos_id is not None else -1).int().argmax(dim=-1)
    return int(index.max().item()) + 1


def encode_text(model: Any, mode: str | None, tokens: torch.Tensor) -> torch.Tensor:
    """`model.encode_text(tokens)` (unnormalised), on trimmed tokens where `mode` allows."""
    if mode is None:
        return model.encode_text(tokens)
    pool_type, eos_id = pooling(model, mode)
    return forward_tokens(model, mode, tokens[:, : pooled_length(tokens, pool_type, eos_id)])


def pooling(model: Any, mode: str) -> tuple[str, int | None]:
    """The pool type and end-of-text id of a trimmable text tower."""
    if mode == "custom":
        return model.text.pool_type, model.text.eos_id
    return model.text_pool_type, model.text_eos_id


def forward_tokens(model: Any, mode: str, tokens: torch.Tensor) -> torch.Tensor:
    """The text features of tokens already cut after the last pooled position of the batch
    (what an exported text tower runs: its token axis is as long as the input)."""
    length = tokens.shape[1]
    pool_type, eos_id = pooling(model, mode)
    if mode == "custom":
        tower = model.text
        x, mask = tower._embeds(tokens)
        if mask is not None and mask.dim() == 2:
            mask = mask[:length, :length]
    else:
        tower = model
        x = tower.token_embedding(tokens).to(tower.transformer.get_cast_dtype())
        x = x + tower.positional_embedding[:length].to(x.dtype)
        mask = tower.attn_mask[:length, :length]
    x = tower.ln_final(tower.transformer(x, attn_mask=mask))
    x = text_global_pool(x, tokens, pool_type, eos_token_id=eos_id)
    projection = tower.text_projection
    if projection is None:
        return x
    return projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection
