"""Pretrained stand-ins: they learn, and they load through the same code as the real releases."""

from speechbrain_diffa.chat import ChatLayout, load_tokenizer
from speechbrain_diffa.demo.standins import pretrain_llada_standin
from speechbrain_diffa.llada import LLaDA


def test_llada_standin_learns_its_text_and_loads_as_a_release(tmp_path):
    texts = ["Is the tone high or low? high", "Is the tone high or low? low", "three beeps", "a falling melody"]
    path = str(tmp_path / "llada")
    losses = pretrain_llada_standin(path, texts * 8, steps=80, batch_size=8, d_model=64, n_layers=2, vocab_size=300)
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10
    llm = LLaDA.from_pretrained(path)
    chat = ChatLayout(load_tokenizer(path))
    assert chat.mask_id == llm.mask_token_id
    assert len(chat.tokenizer("three beeps")["input_ids"]) <= 3  # the BPE learned the corpus words


def _between_within(features, labels):
    """Squared distance of the two class means over the mean within-class squared spread."""
    means = [features[labels == c].mean(0) for c in (0, 1)]
    within = sum((features[labels == c] - means[c]).pow(2).sum(1).mean() for c in (0, 1)) / 2
    return float((means[0] - means[1]).pow(2).sum() / within)


def test_whisper_standin_tags_make_a_clip_trait_salient(tmp_path):
    import numpy as np
    import torch

    from speechbrain_diffa.data.audio import batch_waveforms
    from speechbrain_diffa.demo.standins import pretrain_whisper_standin
    from speechbrain_diffa.demo.synthetic import sounds
    from speechbrain_diffa.whisper import WhisperEncoderTaps

    rng = np.random.default_rng(0)
    labels = torch.tensor([i % 2 for i in range(32)])
    clips = []
    for high in labels.tolist():
        wave = sounds.tone(rng.uniform(1500, 2500) if high else rng.uniform(200, 400), rng.uniform(0.2, 0.8))
        wave = rng.uniform(0.2, 1.0) * wave + 0.05 * rng.standard_normal(len(wave))
        clips.append(torch.tensor(wave, dtype=torch.float32))
    texts = [str(rng.choice(["ab", "ba", "abab"])) for _ in clips]  # the words say nothing of the pitch
    ratios = {}
    for name, tags in (("ctc", None), ("tags", [{"pitch": "high" if c else "low"} for c in labels.tolist()])):
        path = str(tmp_path / name)
        pretrain_whisper_standin(path, clips, texts, steps=40, batch_size=8, d_model=32, layers=2,
                                 window_seconds=1, tags=tags)  # fmt: skip
        encoder = WhisperEncoderTaps(path, taps=[2]).eval()
        with torch.no_grad():
            out = encoder(*batch_waveforms(clips))
        valid = (torch.arange(out.last.shape[1])[None] < out.lengths[:, None]).unsqueeze(-1)
        ratios[name] = _between_within((out.last * valid).sum(1) / valid.sum(1), labels)
    assert ratios["tags"] > 3 * ratios["ctc"], ratios
