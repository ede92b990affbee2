"""The autoregressive control backbone: its loss, likelihoods, cached decoding, training and model folders."""

import os

import pytest
import torch

from speechbrain_diffa.autoregressive import CausalLM, exact_log_likelihoods, load_backbone, read_llama_config
from speechbrain_diffa.demo.tiny_models import make_tiny_diffa2
from speechbrain_diffa.model import sft_objectives

QUESTIONS = ["How many beeps?", "Is it music or speech?"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_diffa2(str(tmp_path_factory.mktemp("ar")), stage=3, backbone="autoregressive", seed=3).eval()


def batch(model):
    examples = [
        model.chat.training_example(QUESTIONS[0], "three"),
        model.chat.training_example(QUESTIONS[1], "music played by a small band"),
    ]
    ids, plen, splice = model.chat.collate_training(examples)
    return torch.randn(2, 12000, generator=torch.Generator().manual_seed(1)) * 0.1, ids, plen, splice


def full_logits(model, wavs, ids, splice):
    """Every position's logits over the spliced sequence, in text coordinates (no LM-head shortcut)."""
    audio, lens = model.encode_audio(wavs)
    spliced = model.splice(ids, splice, audio, lens)
    out = model.llm(inputs_embeds=spliced.inputs_embeds, attention_mask=spliced.attention_mask).logits
    return out.gather(1, spliced.text_slots[..., None].expand(-1, -1, out.shape[-1]))


def test_the_loss_is_next_token_cross_entropy_on_the_answer_through_its_first_eos(model):
    wavs, ids, plen, splice = batch(model)
    with torch.no_grad():
        loss, _, _ = sft_objectives(model.sft_predictions(wavs, None, ids, plen, splice))
        logits = full_logits(model, wavs, ids, splice)
    scored = model.scored_answer(ids, plen)
    assert scored.sum() < (ids.shape[1] - plen).sum()  # the EOS padding after the first EOS is not scored
    terms = [
        torch.nn.functional.cross_entropy(logits[b, j - 1][None], ids[b, j][None]) for b, j in scored.nonzero().tolist()
    ]
    assert torch.allclose(loss, torch.stack(terms).mean(), atol=1e-5)
    with torch.no_grad():
        logp = model.elbo(wavs, None, ids, plen, splice)  # the stage-4 score: exact, not sampled
    per_row = [-sum(float(t) for (b, _), t in zip(scored.nonzero().tolist(), terms) if b == row) for row in (0, 1)]
    assert torch.allclose(logp, torch.tensor(per_row), atol=1e-4)


def test_cached_greedy_decoding_equals_recomputing_and_batches_equal_alone(model):
    wavs = torch.randn(2, 16000, generator=torch.Generator().manual_seed(2)) * 0.1
    lens = torch.tensor([1.0, 0.55])
    together = model.answer(wavs, lens, QUESTIONS, gen_length=12)
    for i, question in enumerate(QUESTIONS):
        clip = wavs[i : i + 1, : int(16000 * lens[i])]
        assert model.answer(clip, torch.ones(1), [question], gen_length=12)[0] == together[i]
    # without the cache: re-run the whole sequence for every token
    prompt = model.chat.prompt(QUESTIONS[0], system_prompt=model.answer_system_prompt)
    ids = torch.tensor([prompt.ids])
    audio, audio_lens = model.encode_audio_as_alone(wavs[:1], torch.ones(1))
    splice = torch.tensor([prompt.splice_at])
    for _ in range(12):
        logits = full_logits_with(model, ids, splice, audio, audio_lens)
        ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], 1)
        if int(ids[0, -1]) in (model.chat.eos_id, model.chat.eot_id):
            break
    assert model.chat.decode_answer(ids[0, len(prompt.ids) :].tolist()) == together[0]


def full_logits_with(model, ids, splice, audio, audio_lens):
    spliced = model.splice(ids, splice, audio, audio_lens)
    with torch.no_grad():
        return model.llm(inputs_embeds=spliced.inputs_embeds, attention_mask=spliced.attention_mask).logits


@pytest.mark.slow
def test_the_autoregressive_path_trains(tmp_path):
    """Adapters + LoRA on two clips: the next-token loss falls (the counterpart of the SFT overfit test)."""
    torch.manual_seed(0)
    model = make_tiny_diffa2(str(tmp_path), stage=3, backbone="autoregressive")
    wavs, ids, plen, splice = batch(model)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.eval()
    with torch.no_grad():
        before = float(model.sft_loss(wavs, None, ids, plen, splice)[0])
    model.train()
    for _ in range(30):
        loss = model.sft_loss(wavs, None, ids, plen, splice)[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        after = float(model.sft_loss(wavs, None, ids, plen, splice)[0])
    assert after < 0.5 * before, (before, after)


def test_one_switch_in_a_model_folder_and_from_hparams(tmp_path):
    """``backbone: autoregressive`` in hyperparams.yaml: the folder loads (allow-listed) and answers as built."""
    from speechbrain_diffa.hub.export import write_tiny_model_folder
    from speechbrain_diffa.inference import DIFFA2

    folder = write_tiny_model_folder(str(tmp_path), stage=3, seed=1, backbone="autoregressive")
    text = open(os.path.join(folder, "hyperparams.yaml"), encoding="utf-8").read()
    assert 'backbone: "autoregressive"' in text
    loaded = DIFFA2.from_hparams(source=folder)
    assert loaded.model.llm.is_causal
    source = make_tiny_diffa2(os.path.join(str(tmp_path), "tiny"), stage=3, seed=1, backbone="autoregressive").eval()
    wav = torch.sin(torch.arange(12000) / 5.0)[None] * 0.3
    assert loaded.answer_batch(wav, torch.ones(1), ["Which?"]) == source.answer(wav, torch.ones(1), ["Which?"])


def test_bad_backbones_and_folders_are_named(tmp_path):
    with pytest.raises(ValueError, match="backbone must be one of"):
        load_backbone("rnn", str(tmp_path))
    (tmp_path / "config.json").write_text('{"model_type": "llada"}')
    with pytest.raises(ValueError, match="reads Llama folders"):
        read_llama_config(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="No config.json"):
        CausalLM.from_pretrained(str(tmp_path / "none"))


def test_exact_log_likelihoods_sum_the_scored_tokens():
    ids = torch.tensor([[0, 1, 2, 3]])
    table = torch.log_softmax(torch.randn(4, 5), -1)  # position j's distribution over the next token

    def scorer(ids, where):
        return table[where[0]]

    scored = torch.tensor([[False, False, True, True]])
    (logp,) = exact_log_likelihoods([scorer], ids, scored)
    assert torch.allclose(logp, table[1, 2] + table[2, 3])
