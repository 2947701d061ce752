"""Tokenizer, transformer and sampler (small random models: fast, no shipped weights needed)."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from provchain.generator import data as D  # noqa: E402
from provchain.generator.model import (  # noqa: E402
    BOS, GenConfig, VideoTransformer, pad_prompt, sequence_layout, tokenize_prompt)
from provchain.generator.sample import Generator, sample_tokens  # noqa: E402
from provchain.generator.tokenizer import CODEBOOK_SIZE, FSQ, FrameTokenizer  # noqa: E402

PROMPT = "a red circle bouncing left to right over a striped green background"


def small_model(seed=0, layers=2, context_frames=2):
    torch.manual_seed(seed)
    m = VideoTransformer(GenConfig(d_model=32, n_layer=layers, n_head=2, context_frames=context_frames)).eval()
    with torch.no_grad():  # larger weights than the init so that every path matters
        for p in m.parameters():
            p.normal_(0, 0.2)
    return m


def small_generator(seed=0):
    torch.manual_seed(seed)
    return Generator(FrameTokenizer(ch=8), small_model(seed), b"\0" * 32, "test-model")


def test_fsq_index_roundtrip_all_codes():
    fsq = FSQ()
    idx = torch.arange(CODEBOOK_SIZE)
    assert torch.equal(fsq.codes_to_indices(fsq.indices_to_codes(idx)), idx)
    q = fsq(torch.randn(100, 4) * 3)
    assert torch.equal(fsq.indices_to_codes(fsq.codes_to_indices(q)), q)


def test_tokenizer_shapes_and_token_roundtrip():
    tok = FrameTokenizer(ch=8).eval()
    frames = D.render(D.sample_scene(np.random.default_rng(0)), 3)
    ids = tok.encode(frames)
    assert ids.shape == (3, 8, 8) and ids.min() >= 0 and ids.max() < CODEBOOK_SIZE
    rec = tok.decode(ids)
    assert rec.shape == (3, 64, 64, 3) and rec.dtype == np.uint8
    # decoding then re-encoding the decoder's own codes is stable for the quantiser
    assert np.array_equal(tok.fsq.codes_to_indices(tok.fsq.indices_to_codes(torch.from_numpy(ids))).numpy(), ids)


def test_shipped_tokenizer_psnr():
    from provchain.generator.sample import WEIGHTS_FILE, load_model
    from provchain.generator.tokenizer import psnr

    if not os.path.exists(WEIGHTS_FILE):
        pytest.skip("no shipped weights")
    gen = load_model()
    frames, _ = D.random_frames(np.random.default_rng(1), 32)
    assert psnr(frames, gen.tokenizer.decode(gen.tokenizer.encode(frames))) > 19.0


def test_model_output_shapes():
    m = small_model()
    B, F = 2, 3
    prompt = torch.tensor([pad_prompt(tokenize_prompt(PROMPT))] * B)
    tp, cf = sequence_layout(F)
    inp = torch.randint(0, CODEBOOK_SIZE, (B, F * 64))
    inp[:, 0] = BOS
    logits = m(prompt, inp, tp, cf)
    assert logits.shape == (B, F * 64, CODEBOOK_SIZE)


def test_causal_mask_future_never_influences_past():
    m = small_model()
    prompt = torch.tensor([pad_prompt(tokenize_prompt(PROMPT))])
    F = 4
    tp, cf = sequence_layout(F)
    inp = torch.randint(0, CODEBOOK_SIZE, (1, F * 64))
    inp[0, 0] = BOS
    with torch.no_grad():
        base = m(prompt, inp, tp, cf)
        for cut in (64 * 2, 64 * 2 + 17, 64 * 3):  # change everything from `cut` on
            alt = inp.clone()
            alt[0, cut:] = torch.randint(0, CODEBOOK_SIZE, (F * 64 - cut,))
            out = m(prompt, alt, tp, cf)
            assert torch.equal(out[0, :cut], base[0, :cut])
            assert not torch.allclose(out[0, cut:], base[0, cut:])


def test_context_window_is_two_frames():
    m = small_model(layers=1)  # one layer: the receptive field is exactly the mask
    prompt = torch.tensor([pad_prompt(tokenize_prompt(PROMPT))])
    F = 4
    tp, cf = sequence_layout(F)
    inp = torch.randint(0, CODEBOOK_SIZE, (1, F * 64))
    inp[0, 0] = BOS
    with torch.no_grad():
        base = m(prompt, inp, tp, cf)
        alt = inp.clone()
        alt[0, 1:64] = torch.randint(0, CODEBOOK_SIZE, (63,))  # tokens of frame 0
        out = m(prompt, alt, tp, cf)
    # targets in frame 3 (inputs 191..254) do not see frame 0; the last input of frame 2 neither
    assert torch.equal(out[0, 3 * 64:], base[0, 3 * 64:])
    assert not torch.allclose(out[0, 2 * 64 - 1:3 * 64 - 1], base[0, 2 * 64 - 1:3 * 64 - 1])


def test_kv_cache_decoding_matches_full_recomputation():
    m = small_model(context_frames=1)  # ring of 2*64+1 slots: 3 frames wrap it and evict frame 0
    ids = tokenize_prompt(PROMPT)
    a, la = sample_tokens(m, ids, 3, seed=3, use_cache=True, return_logits=True)
    b, lb = sample_tokens(m, ids, 3, seed=3, use_cache=False, return_logits=True)
    assert np.array_equal(a, b)
    assert torch.allclose(la, lb, atol=1e-4, rtol=1e-4)
    # and the cached logits equal one full forward pass over the finished sequence
    tp, cf = sequence_layout(3)
    inp = torch.cat([torch.tensor([BOS]), torch.from_numpy(a).reshape(-1)[:-1]])[None]
    with torch.no_grad():
        full = m(torch.tensor([pad_prompt(ids)]), inp, tp, cf)[0]
    assert torch.allclose(la, full, atol=1e-4, rtol=1e-4)


def test_seeded_generation_is_bitwise_deterministic():
    g = small_generator()
    calls = []
    v1 = g.generate(PROMPT, seed=11, seconds=0.5, progress=lambda i, n: calls.append((i, n)))
    v2 = g.generate(PROMPT, seed=11, seconds=0.5)
    v3 = g.generate(PROMPT, seed=12, seconds=0.5)
    assert v1.dtype == np.uint8 and v1.shape == (4, 256, 256, 3)
    assert np.array_equal(v1, v2)
    assert not np.array_equal(v1, v3)
    assert calls == [(i, 4) for i in range(1, 5)]
    s = g.sampling_settings
    assert all(isinstance(v, (int, str)) for v in s.values()) and s["frames"] == 4


def test_unknown_words_warn_not_crash():
    with pytest.warns(UserWarning, match="frobnicating"):
        ids = tokenize_prompt("a red circle frobnicating left to right")
    assert D.VOCAB[ids[1]] == "red" and len(ids) == 6
    g = small_generator()
    with pytest.warns(UserWarning):
        out = g.generate("a zebra-striped unicorn", seed=0, seconds=0.125)
    assert out.shape[0] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tokenize_prompt(PROMPT)


def test_seconds_out_of_range():
    g = small_generator()
    with pytest.raises(ValueError):
        g.generate(PROMPT, seed=0, seconds=9)


def test_package_import_does_not_import_torch():
    code = "import sys, provchain.generator, provchain.generator.data, provchain.generator.score, " \
           "provchain.generator.video; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_batched_sampling_shapes_and_cache_equivalence():
    m = small_model()
    ids = [tokenize_prompt(PROMPT), tokenize_prompt("a white square moving bottom to top")]
    a = sample_tokens(m, ids, 2, seed=5)
    b = sample_tokens(m, ids, 2, seed=5, use_cache=False)
    assert a.shape == (2, 2, 8, 8) and np.array_equal(a, b)
