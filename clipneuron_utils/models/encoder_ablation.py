"""Holding a frozen encoder's own neurons at a value inside the encoder (forward hooks, removed afterwards), and
each neuron's attribution to an NLI head's gold margin: (activation − fill) × the margin's gradient, summed over
token positions and pairs, the first-order estimate of what holding it at ``fill`` costs.

Neurons are held at every token position of a sentence; the head then reads the encoder's sentence features as
it was trained to (:attr:`~.encoder_neurons.NeuronSource.embed`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .ablation import gold_margins
from .encoder_neurons import Hooks, NeuronSource


def _hold(held: dict, fills: list):
    """A hook edit that sets each layer's ``held`` neurons to their ``fills``."""
    import torch

    def edit(layer, output):
        units = held.get(layer)
        if units is None or not len(units):
            return output
        out = output.clone()
        index = torch.as_tensor(units, device=out.device)
        out[..., index] = fills[layer].to(out.device, out.dtype)[index]
        return out
    return edit


def mean_fills(source: NeuronSource, sentences: Sequence[str], *, batch_size: int = 128) -> list:
    """Per layer, each neuron's mean activation over the sentences' own token positions (a torch vector)."""
    import torch

    sums = [torch.zeros(source.width, dtype=torch.float64) for _ in source.layers]
    count = 0
    with Hooks(source.layers) as hooks, torch.inference_mode():
        for start in range(0, len(sentences), batch_size):
            own = source.run(list(sentences[start:start + batch_size]))
            count += int(own.sum())
            for layer, acts in enumerate(hooks.outputs):
                sums[layer] += (acts.double() * own[:, :, None]).sum(dim=(0, 1)).cpu()
    return [(s / max(count, 1)).float() for s in sums]


def features(source: NeuronSource, sentences: Sequence[str], held: dict | None = None, fills: list | None = None,
             *, batch_size: int = 128) -> np.ndarray:
    """The sentence features with the ``held`` neurons (layer → neuron indices) at their ``fills``."""
    import torch

    chunks = []
    with Hooks(source.layers, edit=_hold(held or {}, fills or [])), torch.inference_mode():
        for start in range(0, len(sentences), batch_size):
            chunks.append(source.embed(list(sentences[start:start + batch_size])).float().cpu().numpy())
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32)


def head_margins(head, u: np.ndarray, v: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """An NLI head's gold margin (the gold logit less the mean of the others) per pair, from premise and
    hypothesis features."""
    import torch

    head.eval()
    with torch.inference_mode():
        logits = head(torch.from_numpy(u), torch.from_numpy(v)).double().numpy()
    return gold_margins(logits, gold)


def attributions(source: NeuronSource, heads: list, premises: Sequence[str], hypotheses: Sequence[str],
                 gold: np.ndarray, fills: list, *, batch_size: int = 64, intact: tuple | None = None) -> list[np.ndarray]:
    """Per layer, each neuron's Σ over pairs, heads and token positions of (activation − fill) × ∂(gold margin)/
    ∂activation: the first-order loss of the summed gold margin when the neuron is held at its fill (larger:
    holding it costs more). ``intact``: the premises' and hypotheses' intact :func:`features`, when the caller
    has them (else each batch's other side is encoded here)."""
    import torch

    def other_side(side: int, start: int, stop: int) -> np.ndarray:
        if intact is not None:
            return intact[1 - side][start:stop]
        return features(source, hypotheses[start:stop] if side == 0 else premises[start:stop])

    totals = [np.zeros(source.width) for _ in source.layers]
    for start in range(0, len(premises), batch_size):
        stop = start + batch_size
        for texts, side in ((premises[start:stop], 0), (hypotheses[start:stop], 1)):
            # the frozen encoder's weights need no gradient: the first hooked output starts the graph, and every
            # later layer's output depends on it (the path through later MLPs is kept)
            start_graph = lambda layer, out: out if out.requires_grad else out.detach().requires_grad_()  # noqa: E731
            # the other sentence's features first: its own pass must not run under these hooks
            other = torch.from_numpy(np.ascontiguousarray(other_side(side, start, stop)))
            with Hooks(source.layers, edit=start_graph) as hooks, torch.enable_grad():
                emb = source.embed(list(texts)).cpu()  # the heads run on the CPU; the move keeps the graph
                for out in hooks.outputs:
                    out.retain_grad()
                u, v = (emb, other) if side == 0 else (other, emb)
                total = 0.0
                for head in heads:
                    head.eval()
                    logits = head(u.float(), v.float())
                    g = torch.as_tensor(gold[start:stop])
                    own = logits.gather(1, g[:, None]).squeeze(1)
                    total = total + (own - (logits.sum(1) - own) / (logits.shape[1] - 1)).sum()
                total.backward()
                for layer, out in enumerate(hooks.outputs):
                    delta = (out - fills[layer].to(out.device)[None, None, :]) * out.grad
                    totals[layer] += delta.sum(dim=(0, 1)).detach().double().cpu().numpy()
    return totals
