"""The frozen encoders' own neurons (``models/encoder_neurons.py``): the hooks leave the encoders bit-identical and
are removed, even on an error; a neuron's value on a sentence is its maximum over the sentence's own positions
(MiniLM: between [CLS] and [SEP]; CLIP: after the start token up to and including end-of-text), checked against
forward passes run by hand; padding changes nothing; the random-weight MiniLM is a seeded copy."""

import numpy as np
import pytest
import torch

from clipneuron_utils.models import encoder_neurons as N

SENTENCES = ["A dog runs.", "Two men are playing football in a big green park on a sunny afternoon.",
             "A woman sings.", "Children sit on the grass near the lake."]
F16 = dict(rtol=2e-3, atol=2e-3)  # float16 output (about 3 significant digits) and float32 batch noise


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def minilm(minilm_encoder):
    return minilm_encoder


@pytest.fixture(scope="module")
def minilm_src(minilm):
    return N.minilm_source(minilm.model, "minilm", {"encoder": "minilm"})


@pytest.fixture(scope="module")
def clip(tiny_clip):
    return tiny_clip


@pytest.fixture(scope="module")
def clip_src(clip):
    return N.clip_source(clip, "clip", {"encoder": "clip"})


def _hook_counts(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


# ------------------------------------------------------------------------------------------- hand computations


def _minilm_by_hand(model, sentence: str) -> tuple[list[torch.Tensor], int]:
    """Each layer's (tokens × width) GELU output for one sentence alone (no padding), read as the input of the
    block's ``output.dense`` (not the module the source hooks), and the number of tokens."""
    bert = model[0].auto_model
    enc = model.tokenizer([sentence], return_tensors="pt")
    seen = [None] * len(bert.encoder.layer)
    handles = [block.output.dense.register_forward_hook(
        lambda mod, inp, out, i=i: seen.__setitem__(i, inp[0][0].detach().clone()))
        for i, block in enumerate(bert.encoder.layer)]
    try:
        with torch.no_grad():
            bert(**{k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")})
    finally:
        for h in handles:
            h.remove()
    assert int(enc["input_ids"][0, 0]) == model.tokenizer.cls_token_id
    assert int(enc["input_ids"][0, -1]) == model.tokenizer.sep_token_id
    return seen, int(enc["input_ids"].shape[1])


def _clip_by_hand(clip, sentence: str) -> tuple[list[torch.Tensor], int]:
    """Each layer's (77 × width) GELU output of ``encode_text`` on the full padded context (the input of
    ``mlp.c_proj``), and the end-of-text position (argmax of the token ids)."""
    model = clip.model
    tokens = clip.tokenize([sentence])
    blocks = model.transformer.resblocks
    seen = [None] * len(blocks)
    handles = [block.mlp.c_proj.register_forward_hook(
        lambda mod, inp, out, i=i: seen.__setitem__(i, inp[0][0].detach().clone())) for i, block in enumerate(blocks)]
    try:
        with torch.no_grad():
            model.encode_text(tokens)
    finally:
        for h in handles:
            h.remove()
    assert seen[0].shape[0] == tokens.shape[1]  # batch first, all 77 positions
    return seen, int(tokens[0].argmax())


# ---------------------------------------------------------------------------------------------------- hooks


@pytest.mark.parametrize("which", ["minilm", "clip"])
def test_hooks_leave_the_encoder_bit_identical_and_are_removed(which, request):
    encoder = request.getfixturevalue(which)
    source = request.getfixturevalue(f"{which}_src")
    model = encoder.model
    hooks_before = _hook_counts(model)
    before = encoder.encode(SENTENCES, progress=False)

    maxima = N.sentence_maxima(source, SENTENCES, progress=False)
    assert len(maxima) == source.n_layers and maxima[0].shape == (len(SENTENCES), source.width)
    assert all(len(m._forward_hooks) == 0 for m in source.layers)
    assert _hook_counts(model) == hooks_before
    assert np.array_equal(encoder.encode(SENTENCES, progress=False), before)

    # a hook that edits does change the features (so equality above is no accident) ...
    zero = lambda layer, out: torch.zeros_like(out)  # noqa: E731
    with N.Hooks(source.layers, edit=zero) as hooks:
        assert all(len(m._forward_hooks) == 1 for m in source.layers)
        edited = encoder.encode(SENTENCES, progress=False)
        assert all(o is not None and not o.any() for o in hooks.outputs)
    assert not np.allclose(edited, before)
    assert np.array_equal(encoder.encode(SENTENCES, progress=False), before)

    # ... and hooks exited by an exception are removed too
    with pytest.raises(RuntimeError, match="boom"):
        with N.Hooks(source.layers, edit=zero):
            encoder.encode(SENTENCES[:1], progress=False)
            raise RuntimeError("boom")
    assert all(len(m._forward_hooks) == 0 for m in source.layers)
    assert _hook_counts(model) == hooks_before
    assert np.array_equal(encoder.encode(SENTENCES, progress=False), before)


def test_hooks_keep_each_layers_latest_output_and_pass_the_edit_on():
    torch.manual_seed(0)
    layers = [torch.nn.Linear(2, 2), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers)
    x = torch.tensor([[1.0, -2.0]])
    with torch.no_grad():
        first = layers[0](x)
        with N.Hooks(layers, edit=lambda i, out: out + 10 * (i + 1)) as hooks:
            y = net(x)
            assert torch.equal(hooks.outputs[0], first + 10)
            assert torch.equal(hooks.outputs[1], y)
        assert torch.equal(y, torch.relu(first + 10) + 20)
        assert hooks.handles == [] and all(not m._forward_hooks for m in layers)
        assert torch.equal(net(x), torch.relu(first))


# ------------------------------------------------------------------------------------------------ own tokens


def test_minilm_maxima_are_over_the_word_pieces_between_cls_and_sep(minilm, minilm_src):
    assert minilm_src.n_layers == 6 and minilm_src.width == 1536
    maxima = N.sentence_maxima(minilm_src, SENTENCES, batch_size=3, progress=False)
    with_cls = with_sep = 0
    for i, sentence in enumerate(SENTENCES):
        acts, n = _minilm_by_hand(minilm.model, sentence)
        for layer in range(6):
            own = acts[layer][1:n - 1].max(dim=0).values.numpy()
            np.testing.assert_allclose(maxima[layer][i].astype(np.float32), own, **F16)
            # were [CLS] or [SEP] included, some neuron's value would change beyond the tolerance
            cls = acts[layer][0:n - 1].max(dim=0).values.numpy()
            sep = acts[layer][1:n].max(dim=0).values.numpy()
            with_cls += int((np.abs(cls - maxima[layer][i]) > 0.05).sum())
            with_sep += int((np.abs(sep - maxima[layer][i]) > 0.05).sum())
    assert with_cls > 0 and with_sep > 0


def test_clip_maxima_run_from_after_the_start_token_to_end_of_text(clip, clip_src):
    maxima = N.sentence_maxima(clip_src, SENTENCES, batch_size=3, progress=False)
    assert clip_src.width == 128 and clip_src.n_layers == 2
    with_start = with_padding = without_end = 0
    for i, sentence in enumerate(SENTENCES):
        acts, eot = _clip_by_hand(clip, sentence)
        for layer in range(clip_src.n_layers):
            own = acts[layer][1:eot + 1].max(dim=0).values.numpy()
            np.testing.assert_allclose(maxima[layer][i].astype(np.float32), own, **F16)
            start = acts[layer][0:eot + 1].max(dim=0).values.numpy()
            padded = acts[layer][1:].max(dim=0).values.numpy()  # the whole 77-token context
            without_eot = acts[layer][1:eot].max(dim=0).values.numpy()
            with_start += int((np.abs(start - maxima[layer][i]) > 0.05).sum())
            with_padding += int((np.abs(padded - maxima[layer][i]) > 0.05).sum())
            without_end += int((np.abs(without_eot - maxima[layer][i]) > 0.05).sum())
    assert with_start > 0 and with_padding > 0 and without_end > 0


@pytest.mark.parametrize("which", ["minilm", "clip"])
def test_a_short_sentence_batched_with_a_long_one_has_its_maxima_alone(which, request):
    source = request.getfixturevalue(f"{which}_src")
    short, long = SENTENCES[0], SENTENCES[1]
    alone = N.sentence_maxima(source, [short], progress=False)
    together = N.sentence_maxima(source, [long, short], batch_size=8, progress=False)  # one padded batch
    long_alone = N.sentence_maxima(source, [long], progress=False)
    for layer in range(source.n_layers):
        np.testing.assert_allclose(together[layer][1].astype(np.float32), alone[layer][0].astype(np.float32), **F16)
        np.testing.assert_allclose(together[layer][0].astype(np.float32), long_alone[layer][0].astype(np.float32),
                                   **F16)
        assert together[layer].dtype == np.float16
    # the rows are in input order, not the sorted batch order
    assert not np.allclose(together[-1][0].astype(np.float32), together[-1][1].astype(np.float32), atol=0.05)


def test_the_own_positions_mask_of_each_source(minilm_src, clip_src, minilm, clip):
    own = minilm_src.run(SENTENCES[:2])
    lengths = [len(minilm.model.tokenizer(s)["input_ids"]) for s in SENTENCES[:2]]
    assert own.shape == (2, max(lengths))
    for row, n in zip(own, lengths):
        assert row.tolist() == [False] + [True] * (n - 2) + [False] * (1 + max(lengths) - n)
    own = clip_src.run(SENTENCES[:2])
    eots = clip.tokenize(SENTENCES[:2]).argmax(dim=1).tolist()
    assert own.shape == (2, max(eots) + 1)
    for row, eot in zip(own, eots):
        assert row.tolist() == [False] + [True] * eot + [False] * (max(eots) - eot)


def test_embed_is_the_encoders_own_features(minilm, minilm_src, clip, clip_src):
    with torch.inference_mode():
        np.testing.assert_allclose(minilm_src.embed(SENTENCES).numpy(), minilm.encode(SENTENCES, progress=False),
                                   atol=1e-5)
        np.testing.assert_allclose(clip_src.embed(SENTENCES).numpy(), clip.encode_reference(SENTENCES), atol=1e-5)


# --------------------------------------------------------------------------------------------- random MiniLM


def test_random_minilm_leaves_minilm_and_the_global_generator_alone(minilm):
    bert = minilm.model[0].auto_model
    weight = bert.encoder.layer[0].intermediate.dense.weight.detach().clone()
    state = torch.random.get_rng_state()
    clone = N.random_minilm(minilm.model, 3)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global generator is left as it was
    assert clone is not minilm.model and clone[0] is not minilm.model[0]
    assert torch.equal(bert.encoder.layer[0].intermediate.dense.weight, weight)  # the original is untouched
    assert minilm.model[0].auto_model is bert


def _first_weight(model) -> torch.Tensor:
    """The weight the forward pass uses: the BERT that the sentence-transformers module runs."""
    return model[0].auto_model.encoder.layer[0].intermediate.dense.weight


def test_random_minilm_has_fresh_seeded_weights(minilm, minilm_src):
    a, b, c = (N.random_minilm(minilm.model, s) for s in (3, 3, 4))
    trained = _first_weight(minilm.model)
    assert not torch.equal(_first_weight(a), trained) and _first_weight(a).shape == trained.shape
    assert torch.equal(_first_weight(a), _first_weight(b)) and not torch.equal(_first_weight(a), _first_weight(c))
    assert not a[0].auto_model.training
    short = SENTENCES[:2]
    rand = N.sentence_maxima(N.minilm_source(a, "minilm-random", {}), short, progress=False)
    again = N.sentence_maxima(N.minilm_source(b, "minilm-random", {}), short, progress=False)
    real = N.sentence_maxima(minilm_src, short, progress=False)
    assert np.array_equal(rand[0], again[0])
    assert not np.allclose(rand[0].astype(np.float32), real[0].astype(np.float32), atol=0.05)
