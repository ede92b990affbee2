"""The assembled DIFFA-2: audio block, splice, padding, SFT loss, ELBO, answering from a file."""

import pytest
import torch
from speechbrain.dataio import audio_io

from speechbrain_diffa.data.audio import batch_waveforms, load_audio
from speechbrain_diffa.demo.tiny_models import make_tiny_diffa2


@pytest.fixture(scope="module")
def model(tiny_root):
    return make_tiny_diffa2(tiny_root, mask_padding=True).eval()


def test_audio_block_layout(tiny_root):
    wavs = torch.randn(2, 16000) * 0.1
    for stage, front in ((1, 20), (2, 8)):  # 20 stage-1 prompts; the tiny Q-Former has 8 queries
        model = make_tiny_diffa2(tiny_root, stage=stage).eval()
        audio, lens = model.encode_audio(wavs, torch.tensor([1.0, 0.5]))
        # 1 s -> 50 encoder frames -> 12 semantic positions; release mode: no padding mask
        assert audio.shape == (2, front + 12, 64)
        assert lens.tolist() == [front + 12] * 2
        if stage == 1:
            assert torch.equal(audio[0, :20], model.trainable_prompts.weight)


def test_masked_lengths(model):
    audio, lens = model.encode_audio(torch.randn(2, 16000) * 0.1, torch.tensor([1.0, 0.5]))
    assert lens.tolist() == [8 + 12, 8 + 6]


def test_splice_places_audio_and_text(model):
    ids = torch.randint(0, 300, (2, 10))
    audio = torch.randn(2, 4, 64)
    out = model.splice(ids, torch.tensor([3, 5]), audio, torch.tensor([4, 2]))
    text = model.llm.embed(ids)
    assert out.text_slots[0].tolist() == [0, 1, 2, 7, 8, 9, 10, 11, 12, 13]
    assert out.text_slots[1].tolist() == [0, 1, 2, 3, 4, 9, 10, 11, 12, 13]
    assert torch.equal(out.inputs_embeds[0, 3:7], audio[0])
    assert torch.equal(out.inputs_embeds[1, 5:7], audio[1, :2])
    assert torch.equal(out.inputs_embeds[1, 9], text[1, 5])
    assert out.attention_mask.sum(1).tolist() == [14, 12]
    assert out.attention_mask[1, 7:9].sum() == 0  # audio padding, masked in place


def test_batch_equals_single_items_with_padding_masks(model):
    """Items of different audio and prompt lengths give the same logits batched as alone."""
    wavs, lens = batch_waveforms([torch.randn(16000) * 0.1, torch.randn(7000) * 0.1])
    questions = ["How many beeps are there?", "Is it a tone or noise, or is it music?"]
    prompts = [model.chat.prompt(q) for q in questions]
    ids, mask, splice = model.chat.collate_prompts(prompts)
    audio, audio_lens = model.encode_audio(wavs, lens)
    from speechbrain_diffa.model import AudioConditionedLM

    batched = AudioConditionedLM(model, audio, audio_lens, splice)(ids, attention_mask=mask).logits
    for i, p in enumerate(prompts):
        one_audio, one_len = model.encode_audio(wavs[i : i + 1, : int(lens[i] * wavs.shape[1])])
        alone = AudioConditionedLM(model, one_audio, one_len, torch.tensor([p.splice_at]))(torch.tensor([p.ids])).logits
        assert (batched[i, -len(p.ids) :] - alone[0]).abs().max() < 1e-4


def test_block_cache_with_audio_is_exact_when_the_block_did_not_change(model):
    from speechbrain_diffa.model import AudioConditionedLM
    from speechbrain_diffa.sampling import BlockRunner

    wavs, lens = batch_waveforms([torch.randn(16000) * 0.1, torch.randn(7000) * 0.1])
    ids, mask, splice = model.chat.collate_prompts(
        [model.chat.prompt("How many?"), model.chat.prompt("Tone or noise?")]
    )
    audio, audio_lens = model.encode_audio(wavs, lens)
    lm = AudioConditionedLM(model, audio, audio_lens, splice)
    x = torch.cat([ids, torch.full((2, 8), model.chat.mask_id)], 1)
    mask = torch.cat([mask, torch.ones(2, 8, dtype=torch.long)], 1)
    start = ids.shape[1]
    reference = lm(x, attention_mask=mask).logits[:, start : start + 4].flatten(0, 1)
    wanted = torch.ones(2, 4, dtype=torch.bool)
    for mode in ("prefix", "dual"):
        runner = BlockRunner.wrap(lm, x, mask, mode)
        first = runner.block_logits(x, start, start + 4, True, wanted)
        again = runner.block_logits(x, start, start + 4, False, wanted)
        assert (first - reference).abs().max() < 1e-4
        assert (again - reference).abs().max() < 1e-4


def test_sft_loss_only_scores_answer_and_is_finite(model):
    examples = [
        model.chat.training_example("How many beeps?", "three"),
        model.chat.training_example("Tone or noise?", "noise, a short burst"),
    ]
    ids, plen, splice = model.chat.collate_training(examples)
    wavs = torch.randn(2, 16000) * 0.1
    loss, acc, answer_acc = model.sft_loss(wavs, None, ids, plen, splice, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(loss) and loss > 0 and 0 <= acc <= 1
    assert torch.isnan(answer_acc) or 0 <= answer_acc <= 1
    elbo = model.elbo(wavs, None, ids, plen, splice, num_samples=2)
    assert elbo.shape == (2,) and (elbo < 0).all()


@pytest.mark.slow
def test_sft_overfits_a_few_examples(tiny_root):
    """Stage-3 style training (adapters + LoRA) on two clips drives the loss down."""
    torch.manual_seed(0)
    model = make_tiny_diffa2(tiny_root, stage=2)
    model.llm.requires_grad_(False)
    model.llm.add_lora()
    examples = [
        model.chat.training_example("How many beeps?", "three beeps"),
        model.chat.training_example("How many beeps?", "five beeps"),
    ]
    ids, plen, splice = model.chat.collate_training(examples)
    wavs = torch.randn(2, 12000) * 0.3
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=1e-2)
    base_before = model.llm.transformer.lm_head.weight.clone()

    def fixed_loss():  # same timesteps and masks before and after, so the comparison is fair
        model.eval()
        with torch.no_grad():
            return float(
                sum(
                    model.sft_loss(
                        wavs, None, ids, plen, splice, torch.Generator().manual_seed(s), t=torch.full((2,), t)
                    )[0]
                    for s, t in enumerate([0.3, 0.5, 0.7, 0.9])
                )
                / 4
            )

    before = fixed_loss()
    model.train()
    for _ in range(30):
        loss, _, _ = model.sft_loss(wavs, None, ids, plen, splice)
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = fixed_loss()
    assert after < 0.5 * before, (before, after)
    assert torch.equal(model.llm.transformer.lm_head.weight, base_before)  # the base stays frozen


@pytest.mark.parametrize(
    "options", [dict(), dict(factor=1.0, cache="dual", eos_early_stop=True), dict(threshold=0.5, cache="prefix")]
)
def test_answer_from_wav_files(model, tmp_path, options):
    paths = []
    for i, (seconds, rate, channels) in enumerate([(1.0, 16000, 1), (2.5, 22050, 2)]):
        path = str(tmp_path / f"clip{i}.wav")
        audio_io.save(path, torch.randn(channels, int(seconds * rate)) * 0.1, rate)
        paths.append(path)
    wavs, lens = batch_waveforms([load_audio(p) for p in paths])
    settings = dict(steps=8, gen_length=8, block_length=4, **options)
    batched = model.answer(wavs, lens, ["How many beeps?", "Is it music?"], **settings)
    assert len(batched) == 2 and all(isinstance(a, str) for a in batched)
    for i, path in enumerate(paths):
        w, lens = batch_waveforms([load_audio(path)])
        assert model.answer(w, lens, [["How many beeps?", "Is it music?"][i]], **settings)[0] == batched[i]
    with pytest.raises(ValueError, match="2 questions for 1 audio clips"):
        model.answer(w, lens, ["a", "b"])


def test_answer_accuracy_counts_only_the_answer_tokens(model):
    """With everything masked, answer accuracy is over the answer words, not header/EOT/padding."""
    examples = [
        model.chat.training_example("How many beeps?", "three"),
        model.chat.training_example("Tone or noise?", "noise, a short burst"),
    ]
    ids, plen, splice = model.chat.collate_training(examples)
    content = model.chat.answer_content(ids, plen)
    words = [model.chat.tokenizer.decode(ids[i][content[i]]) for i in range(2)]  # no header newlines
    assert words == ["three", "noise, a short burst"]
    model.eval()
    with torch.no_grad():
        _, acc, answer_acc = model.sft_loss(torch.randn(2, 8000) * 0.1, None, ids, plen, splice, t=torch.ones(2))
    assert 0 <= answer_acc <= 1 and 0 <= acc <= 1


def test_aligned_answers_match_the_decoder_layout_and_left_padding_is_inert(model):
    chat = model.chat
    short, long = (
        chat.training_example("Is it high?", "high"),
        chat.training_example("Who speaks, a man or a woman?", "man"),
    )
    ids, plen, at = chat.collate_training([short, long])
    # Right padding: the short prompt's row has the longer EOS tail, so the tail names the prompt.
    tails = [int((ids[i, plen[i] :] == chat.eos_id).sum()) for i in range(2)]
    assert tails[0] > tails[1]
    aligned, aplen, aat, mask = chat.align_answers(ids, plen, at, answer_length=16)
    assert aplen.tolist() == [int(plen.max())] * 2
    words = [len(chat.tokenizer(w, add_special_tokens=False)["input_ids"]) for w in ("high", "man")]
    assert [int((aligned[i, aplen[i] :] == chat.eos_id).sum()) for i in range(2)] == [16 - n - 1 for n in words]
    assert aligned[0, mask[0].bool()].tolist() == short.ids + [chat.eos_id] * (16 - words[0] - 1)
    # The short row's logits do not depend on its left padding or on the other row.
    wavs = torch.randn(2, 16000) * 0.1
    alone_ids, alone_plen, alone_at, alone_mask = chat.align_answers(*chat.collate_training([short]), answer_length=16)
    with torch.no_grad():
        audio, lens = model.encode_audio(wavs, torch.ones(2))
        masked = aligned != aligned  # all False
        masked[:, int(aplen[0]) :] = True
        both = model.masked_logits(aligned, masked, audio, lens, aat, mask)
        alone_masked = torch.zeros_like(alone_ids, dtype=torch.bool)
        alone_masked[:, int(alone_plen[0]) :] = True
        single = model.masked_logits(alone_ids, alone_masked, audio[:1], lens[:1], alone_at, alone_mask)
    rows = masked.nonzero()[:, 0]
    torch.testing.assert_close(both[rows == 0], single, atol=1e-4, rtol=1e-4)


def _answer_logits(model, audio, audio_lens, questions, answer_length=4):
    """Logits at the masked answer positions after each question (the decoder's first pass)."""
    from speechbrain_diffa.model import AudioConditionedLM

    prompts = [model.chat.prompt(q, system_prompt=model.answer_system_prompt) for q in questions]
    ids, mask, splice_at = model.chat.collate_prompts(prompts)
    x = torch.cat([ids, torch.full((len(ids), answer_length), model.chat.mask_id)], 1)
    mask = torch.cat([mask, torch.ones(len(ids), answer_length, dtype=mask.dtype)], 1)
    return AudioConditionedLM(model, audio, audio_lens, splice_at)(x, mask).logits[:, -answer_length:]


@pytest.mark.parametrize("mask_padding", [False, True])
def test_decoding_sees_each_clip_as_if_alone(tiny_root, mask_padding):
    """A clip's audio block and answer logits in a batch are those of the clip alone (as the release decodes)."""
    model = make_tiny_diffa2(tiny_root, stage=2, mask_padding=mask_padding, seed=2).eval()
    generator = torch.Generator().manual_seed(0)
    clips = [torch.randn(11000, generator=generator) * 0.1, torch.randn(37000, generator=generator) * 0.1]
    questions = ["Is it high?", "Who speaks, a man or a woman?"]
    wavs, lens = batch_waveforms(clips)
    with torch.no_grad():
        audio, audio_lens = model.encode_audio_as_alone(wavs, lens)
        together = _answer_logits(model, audio, audio_lens, questions)
        for i, clip in enumerate(clips):
            alone, alone_lens = model.encode_audio(clip[None], torch.ones(1))
            n = int(audio_lens[i])
            assert n == alone.shape[1] and (audio[i, n:] == 0).all()
            assert torch.allclose(audio[i, :n], alone[0], atol=1e-5)
            assert torch.allclose(together[i], _answer_logits(model, alone, alone_lens, [questions[i]])[0], atol=1e-4)
        if not mask_padding:  # the training-time block attends to the batch's padding: answers would change
            padded, padded_lens = model.encode_audio(wavs, lens)
            shifted = _answer_logits(model, padded, padded_lens, questions)
            assert not torch.allclose(shifted[0], together[0], atol=1e-3)
