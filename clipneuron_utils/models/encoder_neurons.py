"""The frozen encoders' own neurons: every MLP neuron after its nonlinearity, in every transformer block, read
with forward hooks that are removed afterwards (the encoder's outputs are left bit-identical).

The unit of observation is a sentence: a neuron's value on a sentence is its **maximum over the sentence's own
token positions**, never over padding or special tokens. For MiniLM (BERT) that is every word piece between
``[CLS]`` and ``[SEP]``; for CLIP's text tower every position after the start token up to and including the
end-of-text token, which is the position CLIP pools (its causal attention lets it read the whole sentence).

A :class:`NeuronSource` says, for one encoder, which modules output the neurons, how a batch of sentences runs
through the encoder, and which positions are a sentence's own; :func:`sentence_maxima` reads any source.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class NeuronSource:
    """One encoder's MLP neurons: ``layers`` (the modules whose output is the post-nonlinearity activation,
    (batch, tokens, width) with batch first), ``run(sentences) → own`` (runs the encoder's forward pass on a
    batch and returns the (batch, tokens) boolean mask of each sentence's own positions), ``identity`` (what
    a cache of its activations is keyed by) and ``name``."""

    name: str
    layers: list
    run: Callable[[Sequence[str]], Any]
    identity: dict
    width: int
    embed: Callable[[Sequence[str]], Any] | None = None  # the sentence features the NLI head reads

    @property
    def n_layers(self) -> int:
        return len(self.layers)


def minilm_source(model, name: str, identity: dict) -> NeuronSource:
    """The neurons of a sentence-transformers BERT model (MiniLM): each block's ``intermediate`` output (after
    its GELU); a sentence's own positions are its word pieces, without ``[CLS]``, ``[SEP]`` and padding."""
    import torch

    bert = model[0].auto_model
    prepare = getattr(model, "preprocess", None) or model.tokenize  # sentence-transformers < 6: tokenize
    bert.requires_grad_(False)  # frozen: an attribution needs gradients of activations, never of weights
    layers = [block.intermediate for block in bert.encoder.layer]
    device = next(bert.parameters()).device

    def run(sentences):
        features = prepare(list(sentences))
        ids, mask = features["input_ids"].to(device), features["attention_mask"].to(device)
        extra = {"token_type_ids": features["token_type_ids"].to(device)} if "token_type_ids" in features else {}
        bert(input_ids=ids, attention_mask=mask, **extra)
        own = mask.bool().clone()
        own[:, 0] = False  # [CLS]
        own[torch.arange(len(ids)), mask.sum(dim=1) - 1] = False  # [SEP]
        return own

    def embed(sentences):
        features = {k: v.to(device) if hasattr(v, "to") else v for k, v in prepare(list(sentences)).items()}
        return model(features)["sentence_embedding"]

    return NeuronSource(name, layers, run, identity, int(bert.config.intermediate_size), embed)


def clip_source(encoder, name: str, identity: dict) -> NeuronSource:
    """The neurons of open_clip's text tower: each residual block's MLP GELU output; a sentence's own positions
    run from the first token after the start token to the end-of-text token (the one CLIP pools), inclusive."""
    import torch

    from .clip import cut_encode_text

    model = encoder.model
    layers = [block.mlp.gelu for block in model.transformer.resblocks]
    if not getattr(model.transformer, "batch_first", True):
        raise NotImplementedError("CLIP's text tower must run batch first (open_clip ≥ 2.24)")
    device = next(model.parameters()).device

    def run(sentences):
        tokens = encoder.tokenize(list(sentences))
        eot = tokens.argmax(dim=1)  # the end-of-text token has the largest id (CLIP's argmax pooling)
        tokens = tokens[:, : int(eot.max()) + 1].to(device)  # causal attention: cutting padding changes nothing
        cut_encode_text(model, tokens)
        positions = torch.arange(tokens.shape[1], device=device)[None, :]
        return (positions >= 1) & (positions <= eot.to(device)[:, None])

    def embed(sentences):
        tokens = encoder.tokenize(list(sentences))
        return cut_encode_text(model, tokens[:, : int(tokens.argmax(dim=1).max()) + 1].to(device))

    return NeuronSource(name, layers, run, identity, int(model.transformer.resblocks[0].mlp.c_fc.out_features), embed)


class Hooks:
    """Forward hooks on ``modules`` that keep each one's latest output; removed on exit, even on an error."""

    def __init__(self, modules, edit: Callable | None = None):
        self.modules, self.edit = list(modules), edit
        self.outputs: list = [None] * len(self.modules)
        self.handles: list = []

    def __enter__(self):
        for i, module in enumerate(self.modules):
            self.handles.append(module.register_forward_hook(self._keep(i)))
        return self

    def _keep(self, i: int):
        def hook(module, inputs, output):
            if self.edit is not None:
                output = self.edit(i, output)
            self.outputs[i] = output
            return output
        return hook

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        return False


def sentence_maxima(source: NeuronSource, sentences: Sequence[str], *, batch_size: int = 128,
                    progress: bool = True) -> list[np.ndarray]:
    """Per layer, a (sentences × width) float16 array: each neuron's maximum over each sentence's own token
    positions. Sentences run in batches sorted by length (less padding); the rows come back in input order."""
    import torch
    from tqdm.auto import tqdm

    sentences = list(sentences)
    order = np.argsort([len(s) for s in sentences], kind="stable")
    out = [np.empty((len(sentences), source.width), dtype=np.float16) for _ in source.layers]
    with Hooks(source.layers) as hooks, torch.inference_mode():
        for start in tqdm(range(0, len(sentences), batch_size), desc=f"{source.name} neurons", unit="batch",
                          disable=not progress, leave=False):
            idx = order[start:start + batch_size]
            own = source.run([sentences[i] for i in idx])
            for layer, acts in enumerate(hooks.outputs):
                held = acts.float().masked_fill(~own[:, :, None], float("-inf"))
                out[layer][idx] = held.amax(dim=1).cpu().numpy().astype(np.float16)
    return out


def random_minilm(model, seed: int):
    """A copy of a sentence-transformers MiniLM whose BERT has random weights (the same architecture, BERT's
    own initialisation seeded by ``seed``): the random-network control of its neurons."""
    import copy

    import torch
    from transformers import BertModel

    clone = copy.deepcopy(model)
    bert = clone[0].auto_model
    with torch.random.fork_rng():
        torch.manual_seed(int(seed))
        fresh = BertModel(bert.config, add_pooling_layer=False)
    fresh = fresh.to(next(bert.parameters()).device).eval()
    module = clone[0]
    # sentence-transformers ≥ 6 keeps the network in ``model`` (``auto_model`` is a read-only alias of it)
    setattr(module, "model" if hasattr(module, "model") and module.model is bert else "auto_model", fresh)
    if module.auto_model is not fresh:
        raise RuntimeError("random_minilm: could not swap the BERT of this sentence-transformers version")
    return clone
