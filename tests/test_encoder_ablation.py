"""Holding a frozen encoder's own neurons inside the encoder (``models/encoder_ablation.py``): the fills are the
mean over the sentences' own positions, held neurons are their fill at every position and change the features,
holding nothing changes nothing; the attribution is the first-order cost of holding a neuron, with the sign of
the real change; and the ablation's layer groups and pooled effects (``run/encoder_ablation.py``)."""

import numpy as np
import pandas as pd
import pytest
import torch

from clipneuron_utils.models import encoder_ablation as A
from clipneuron_utils.models import encoder_neurons as N
from clipneuron_utils.models.ablation import gold_margins
from clipneuron_utils.run import encoder_ablation as R
from clipneuron_utils.stats import replicates

PREMISES = ["A dog runs in the park.", "Two men play football on a big green field.", "A woman sings.",
            "Children sit near the lake."]
HYPOTHESES = ["An animal moves.", "Nobody plays.", "A person performs music on a stage tonight.", "Kids are outside."]
GOLD = np.array([0, 2, 0, 1])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def clip_src(tiny_clip):
    src = N.clip_source(tiny_clip, "clip", {})
    src.consumers = [block.mlp.c_proj for block in tiny_clip.model.transformer.resblocks]  # reads each GELU output
    return src


@pytest.fixture(scope="module")
def minilm_src(minilm_encoder):
    model = minilm_encoder.model
    src = N.minilm_source(model, "minilm", {})
    src.consumers = [block.output.dense for block in model[0].auto_model.encoder.layer]  # reads each GELU output
    return src


@pytest.fixture(params=["clip", "minilm"])
def source(request):
    return request.getfixturevalue(f"{request.param}_src")


class LinearHead(torch.nn.Module):
    """A tiny linear NLI head on [u; v], seeded."""

    def __init__(self, dim: int, seed: int):
        super().__init__()
        self.lin = torch.nn.Linear(2 * dim, 3)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(3, 2 * dim, generator=g))
            self.lin.bias.copy_(torch.randn(3, generator=g))

    def forward(self, u, v):
        return self.lin(torch.cat([u, v], dim=1))


def _own_activations_by_hand(source, sentences) -> list[np.ndarray]:
    """Per layer, the (own positions × width) activations of the sentences, each run alone (no padding), read
    from the input of the module after the hooked one."""
    consumers = source.consumers
    assert len(consumers) == source.n_layers
    out = [[] for _ in consumers]
    for sentence in sentences:
        seen = [None] * len(consumers)
        handles = [m.register_forward_hook(lambda mod, inp, o, i=i: seen.__setitem__(i, inp[0][0].detach().clone()))
                   for i, m in enumerate(consumers)]
        try:
            with torch.no_grad():
                own = source.run([sentence])[0]  # one sentence: no padding; the mask says which positions are its own
        finally:
            for h in handles:
                h.remove()
        n = int(own.sum())
        if source.name == "clip":
            assert own.tolist()[: n + 1] == [False] + [True] * n
        else:
            assert own.tolist() == [False] + [True] * n + [False]  # [CLS] words [SEP]
        for layer in range(len(consumers)):
            out[layer].append(seen[layer][own].numpy())
    return [np.concatenate(parts) for parts in out]


# ------------------------------------------------------------------------------------------------- fills


def test_mean_fills_are_the_mean_over_own_positions(source):
    sentences = PREMISES[:3]
    fills = A.mean_fills(source, sentences, batch_size=2)  # a padded batch and a single sentence
    by_hand = _own_activations_by_hand(source, sentences)
    assert len(fills) == source.n_layers
    for layer, acts in enumerate(by_hand):
        assert fills[layer].shape == (source.width,) and fills[layer].dtype == torch.float32
        np.testing.assert_allclose(fills[layer].numpy(), acts.mean(axis=0), atol=2e-5, rtol=1e-4)
    # the per-sentence means averaged are another figure (the mean is over positions, not sentences) ...
    per_sentence = np.mean([a.mean(axis=0) for a in _own_activations_by_hand(source, sentences[:1])] +
                           [a.mean(axis=0) for a in _own_activations_by_hand(source, sentences[1:2])], axis=0)
    two = A.mean_fills(source, sentences[:2])
    assert not np.allclose(two[0].numpy(), per_sentence, atol=1e-3)
    # ... and so is the mean over every position of a padded batch
    with N.Hooks(source.layers) as hooks, torch.inference_mode():
        source.run(sentences)
        everything = hooks.outputs[0].float().mean(dim=(0, 1)).numpy()
    assert np.abs(everything - fills[0].numpy()).max() > 1e-2


# ------------------------------------------------------------------------------------------------ holding


def test_holding_nothing_leaves_the_features_intact(source):
    with torch.inference_mode():
        direct = source.embed(PREMISES).float().numpy()
    intact = A.features(source, PREMISES)
    assert intact.shape == direct.shape and np.array_equal(intact, direct)
    fills = A.mean_fills(source, PREMISES)
    assert np.array_equal(A.features(source, PREMISES, {}, fills), intact)
    assert np.array_equal(A.features(source, PREMISES, {0: np.array([], dtype=np.int64)}, fills), intact)
    np.testing.assert_allclose(A.features(source, PREMISES, batch_size=3), intact, atol=1e-5)  # other batches
    assert A.features(source, []).shape == (0, 0)


def test_held_neurons_sit_at_their_fill_and_change_the_features(source):
    fills = A.mean_fills(source, PREMISES)
    intact = A.features(source, PREMISES)
    last = source.n_layers - 1
    held = {0: np.arange(0, source.width, 7), last: np.array([3, 5])}
    consumers = source.consumers
    seen = {}
    handles = [consumers[layer].register_forward_hook(
        lambda mod, inp, o, layer=layer: seen.__setitem__(layer, inp[0].detach().clone())) for layer in held]
    try:
        changed = A.features(source, PREMISES, held, fills, batch_size=8)
    finally:
        for h in handles:
            h.remove()
    for layer, units in held.items():
        values = seen[layer][..., units]  # every position of every sentence, [CLS]/[SEP] and padding included
        assert torch.equal(values, fills[layer][units].expand_as(values))
        others = np.setdiff1d(np.arange(source.width), units)
        free = seen[layer][..., others[:5]]
        assert not torch.equal(free, fills[layer][others[:5]].expand_as(free))
    assert changed.shape == intact.shape and not np.allclose(changed, intact, atol=1e-4)
    # the hooks are gone afterwards: the intact features come back bit for bit
    assert all(not layer._forward_hooks for layer in source.layers)
    assert np.array_equal(A.features(source, PREMISES), intact)
    # holding a single late neuron changes less than holding a seventh of the first layer
    one = A.features(source, PREMISES, {last: np.array([3])}, fills)
    assert 0 < np.abs(one - intact).max() < np.abs(changed - intact).max()


def test_head_margins_are_gold_margins_of_the_heads_logits():
    head = LinearHead(4, 0)
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(5, 4)).astype(np.float32)
    gold = np.array([0, 1, 2, 1, 0])
    logits = (np.hstack([u, v]).astype(np.float64) @ head.lin.weight.detach().double().numpy().T
              + head.lin.bias.detach().double().numpy())
    own = logits[np.arange(5), gold]
    want = own - (logits.sum(1) - own) / 2
    np.testing.assert_allclose(A.head_margins(head, u, v, gold), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gold_margins(logits, gold), want)


# ------------------------------------------------------------------------------------------- attributions


def _margin_change(source, head, held, fills, base) -> float:
    u, v = A.features(source, PREMISES, held, fills), A.features(source, HYPOTHESES, held, fills)
    return float((A.head_margins(head, u, v, GOLD) - base).sum())


def test_attributions_predict_the_sign_of_holding_a_single_neuron(source):
    fills = A.mean_fills(source, list(dict.fromkeys(PREMISES + HYPOTHESES)))
    u0, v0 = A.features(source, PREMISES), A.features(source, HYPOTHESES)
    head = LinearHead(u0.shape[1], 1)
    base = A.head_margins(head, u0, v0, GOLD)
    scores = A.attributions(source, [head], PREMISES, HYPOTHESES, GOLD, fills)
    assert len(scores) == source.n_layers and all(s.shape == (source.width,) for s in scores)
    assert all(np.isfinite(s).all() and np.abs(s).max() > 0 for s in scores)
    for layer in (0, source.n_layers - 1):
        top, bottom = int(np.argmax(scores[layer])), int(np.argmin(scores[layer]))
        assert scores[layer][top] > 0 > scores[layer][bottom]
        lowered = _margin_change(source, head, {layer: np.array([top])}, fills, base)
        raised = _margin_change(source, head, {layer: np.array([bottom])}, fills, base)
        assert lowered < 0 < raised  # a large positive attribution: holding the neuron costs margin
        # first order: the attribution is about the loss (within a factor of two for these single neurons)
        assert 0.5 < -lowered / scores[layer][top] < 2 and 0.5 < raised / -scores[layer][bottom] < 2
    # no hooks are left behind, and the encoder's features are unchanged
    assert all(not layer._forward_hooks for layer in source.layers)
    assert np.array_equal(A.features(source, PREMISES), u0)


def test_attributions_add_over_heads_and_pairs(clip_src):
    source = clip_src
    fills = A.mean_fills(source, PREMISES + HYPOTHESES)
    dim = A.features(source, PREMISES[:1]).shape[1]
    h1, h2 = LinearHead(dim, 2), LinearHead(dim, 3)
    both = A.attributions(source, [h1, h2], PREMISES, HYPOTHESES, GOLD, fills)
    one = A.attributions(source, [h1], PREMISES, HYPOTHESES, GOLD, fills)
    two = A.attributions(source, [h2], PREMISES, HYPOTHESES, GOLD, fills)
    chunked = A.attributions(source, [h1, h2], PREMISES, HYPOTHESES, GOLD, fills, batch_size=3)
    # the caller's intact features of the other side give the same attributions as encoding it again per batch
    given = A.attributions(source, [h1, h2], PREMISES, HYPOTHESES, GOLD, fills, batch_size=3,
                           intact=(A.features(source, PREMISES), A.features(source, HYPOTHESES)))
    for layer in range(source.n_layers):
        np.testing.assert_allclose(both[layer], one[layer] + two[layer], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(chunked[layer], both[layer], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(given[layer], chunked[layer], rtol=1e-4, atol=1e-5)
    # the attribution is measured from the fill
    zero_fills = [torch.zeros(source.width) for _ in range(source.n_layers)]
    assert not np.allclose(A.attributions(source, [h1], PREMISES, HYPOTHESES, GOLD, zero_fills)[0], one[0])


# ------------------------------------------------------------------------------- the ablation's bookkeeping


def test_layer_groups():
    assert R.layer_groups(6) == [[0, 1], [2, 3], [4, 5]]
    assert R.layer_groups(12) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert R.layer_groups(7) == [[0, 1, 2], [3, 4], [5, 6]]
    assert R.layer_groups(2) == [[0], [1]]
    assert R.layer_groups(1) == [[0]]
    assert R.layer_groups(6, 1) == [[0, 1, 2, 3, 4, 5]]
    assert R.layer_groups(6, 2) == [[0, 1, 2], [3, 4, 5]]
    assert all(isinstance(x, int) for g in R.layer_groups(5) for x in g)


def _frame(seeds=(0, 1)) -> pd.DataFrame:
    rows = []
    per_seed = {  # ranking → per seed, per draw: (delta, var)
        "top excess IoU": {0: [(-0.5, 0.01)], 1: [(-0.3, 0.01)]},
        "random": {0: [(-0.1, 0.01), (-0.2, 0.03)], 1: [(0.0, 0.01), (-0.2, 0.03)]},
        "top attribution": {0: [(-0.9, 0.01)], 1: [(-0.7, 0.01)]},
    }
    for ranking, by_seed in per_seed.items():
        for seed in seeds:
            for draw, (delta, var) in enumerate(by_seed[seed]):
                rows.append({"model": "minilm", "group": 0, "layers": "0, 1", "ranking": ranking, "draw": draw,
                             "seed": seed, "units": 4, "delta": delta, "var": var})
    other = [dict(r, group=1, layers="2, 3", delta=r["delta"] + 10) for r in rows]
    return pd.DataFrame(rows + other)


def test_effects_pool_the_seeds():
    out = R.effects(_frame())
    assert out[["group", "layers"]].drop_duplicates().values.tolist() == [[0, "0, 1"], [1, "2, 3"]]
    first = out[out["group"] == 0].set_index("comparison")
    assert first.index.tolist() == ["top excess IoU", "random", "top attribution", "top excess IoU − random",
                                    "top attribution − random"]
    assert (first["seeds"] == 2).all()
    # per seed, the random sets' figure is the mean over draws, its variance the draws' mean variance plus the
    # spread between the draws over their number: seed 0 (−0.15, 0.02 + 0.005/2), seed 1 (−0.1, 0.02 + 0.02/2)
    random = {0: (-0.15, 0.0225), 1: (-0.1, 0.03)}
    own = {"top excess IoU": {0: -0.5, 1: -0.3}, "top attribution": {0: -0.9, 1: -0.7}}

    def pooled(estimates, variances):
        return replicates.pool(np.array(estimates), np.array(variances), seeds=[0, 1])

    want = {"top excess IoU": pooled([-0.5, -0.3], [0.01, 0.01]),
            "random": pooled([random[0][0], random[1][0]], [random[0][1], random[1][1]]),
            "top attribution": pooled([-0.9, -0.7], [0.01, 0.01])}
    for r in ("top excess IoU", "top attribution"):
        want[f"{r} − random"] = pooled([own[r][s] - random[s][0] for s in (0, 1)],
                                       [0.01 + random[s][1] for s in (0, 1)])
    for what, p in want.items():
        assert first.loc[what, ["estimate", "ci_low", "ci_high"]].tolist() == pytest.approx(
            [p["estimate"], p["ci_low"], p["ci_high"]]), what
    # leaving the draws' spread out would give a narrower interval for the random sets
    narrow = pooled([-0.15, -0.1], [0.02, 0.02])
    assert first.loc["random", "ci_high"] - first.loc["random", "ci_low"] > narrow["ci_high"] - narrow["ci_low"]
    assert (first["ci_low"] < first["estimate"]).all() and (first["estimate"] < first["ci_high"]).all()
    second = out[out["group"] == 1].set_index("comparison")
    assert second.loc["top excess IoU − random", "estimate"] == pytest.approx(
        first.loc["top excess IoU − random", "estimate"])  # every delta + 10: the differences stay


def test_effects_of_a_single_seed_are_its_own_figures():
    out = R.effects(_frame(seeds=(1,))).query("group == 0").set_index("comparison")
    assert (out["seeds"] == 1).all()
    assert out.loc["random", "estimate"] == pytest.approx(-0.1)
    diff = out.loc["top attribution − random"]
    assert diff["estimate"] == pytest.approx(-0.6)
    half = 1.959963984540054 * np.sqrt(0.01 + 0.02 + 0.02 / 2)  # the variances add, the draws' spread included
    assert [diff["ci_low"], diff["ci_high"]] == pytest.approx([-0.6 - half, -0.6 + half])
    without_random = R.effects(_frame(seeds=(1,)).query("ranking != 'random'"))
    assert sorted(set(without_random["comparison"])) == ["top attribution", "top excess IoU"]
