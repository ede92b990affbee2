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


def _record_masking(monkeypatch):
    """Spy on the stand-ins' forward process: the list it returns gets each batch's ``(ids, scored, masked)``."""
    from speechbrain_diffa.demo import standins

    rows = []
    real_forward = standins.forward_process

    def spy(ids, scored, mask_id, generator=None):
        """The real forward process, its batch recorded."""
        noisy, masked, p = real_forward(ids, scored, mask_id, generator=generator)
        rows.append((ids, scored, masked))
        return noisy, masked, p

    monkeypatch.setattr(standins, "forward_process", spy)
    return rows


def test_copy_chats_put_the_transcript_in_the_audio_slot_and_score_only_the_answer(tmp_path, monkeypatch):
    """The LLaDA stand-in's copy chats: the transcript's tokens fill the audio slot after its prompts (in order,
    a run each, as long as the clip's audio block), and pretraining masks and scores only their answer side."""
    from itertools import groupby

    import numpy as np

    from speechbrain_diffa.demo import standins
    from speechbrain_diffa.model import NUM_STAGE1_PROMPTS

    masked_rows = _record_masking(monkeypatch)
    written = []
    real_slot_embeddings = standins.slot_embeddings

    def slot_spy(llm, ids, slot):
        embeddings = real_slot_embeddings(llm, ids, slot)
        written.append((ids, slot, embeddings.detach()))
        return embeddings

    monkeypatch.setattr(standins, "slot_embeddings", slot_spy)
    transcripts = [("Please transcribe the audio to text.", "seven two", 1.0), ("Transcribe.", "the cat runs", 2.0),
                   ("Transcribe.", "two one three", 0.1)]  # fmt: skip
    # the last one: a clip shorter than its transcript, so every slot position holds a token
    path = str(tmp_path / "llada")
    standins.pretrain_llada_standin(path, ["two low beeps"] * 4, steps=4, batch_size=4, d_model=32, n_layers=1,
                                    vocab_size=300, transcripts=transcripts, copy_fraction=1.0)  # fmt: skip
    chat = ChatLayout(load_tokenizer(path))
    filler = chat.tokenizer.convert_tokens_to_ids(standins.FILLER)
    slot_tokens = {}
    for instruction, text, seconds in transcripts:
        ids, prompt_length, (start, end) = standins.copy_chat(chat, instruction, text, seconds, filler)
        example = chat.training_example(instruction, text)
        slot = ids[example.splice_at : example.splice_at + prompt_length - example.prompt_length]
        assert slot == ids[start:end]
        content = len(chat.tokenizer(" " + text, add_special_tokens=False)["input_ids"])
        positions = max(content, int(np.ceil(seconds * standins.SLOT_POSITIONS_PER_SECOND)))
        assert len(slot) == NUM_STAGE1_PROMPTS + positions
        assert slot[:NUM_STAGE1_PROMPTS] == [filler] * NUM_STAGE1_PROMPTS and filler not in slot[NUM_STAGE1_PROMPTS:]
        runs = [token for token, _ in groupby(slot[NUM_STAGE1_PROMPTS:])]  # one run per token, in order
        assert chat.tokenizer.decode(runs) == " " + text  # every word as mid-sentence, the first one too
        slot_tokens[text] = runs
    two = chat.tokenizer(" two", add_special_tokens=False)["input_ids"]
    assert slot_tokens["seven two"][-len(two) :] == slot_tokens["two one three"][: len(two)] == two  # one spelling
    for ids, scored, masked in masked_rows:  # every row a copy chat: the prompt (slot included) is never masked
        assert masked.any() and not (masked & ~scored).any()
        assert scored.sum(1).min() < ids.shape[1] // 2  # and the answer side is the short end of each row
    assert len(written) == 4
    for ids, slot, embeddings in written:  # each row's slot (prompts, then the runs) at the adapters' unit scale
        for row in range(ids.shape[0]):
            assert ids[row][slot[row]][:NUM_STAGE1_PROMPTS].tolist() == [filler] * NUM_STAGE1_PROMPTS
            assert int(slot[row].sum()) > NUM_STAGE1_PROMPTS
        written = embeddings[slot]
        scale = written.pow(2).mean(-1)  # unit, less LayerNorm's eps against the ReLU of tiny embeddings (0.82-0.97)
        assert float(scale.min()) > 0.7 and float(scale.max()) < 1.0 + 1e-4
        lowest = written.min(-1, keepdim=True).values  # the components the adapter's ReLU would close share it
        assert ((written - lowest).abs() < 1e-6).sum(-1).min() > written.shape[-1] // 4
        assert float(embeddings[~slot].pow(2).mean().sqrt()) < 0.2  # the text around it at the stand-in's own


def test_drills_are_copy_chats_of_made_up_digit_strings_laid_as_the_training_clips(tmp_path, monkeypatch):
    """Digit-string drills: random digits (not the training strings) in a training clip's slot layout, pretrained
    as copy chats (slot filled, answer scored), and the tokenizer learns nothing from them."""
    from itertools import groupby

    from speechbrain_diffa.demo import standins
    from speechbrain_diffa.demo.curriculum import digit_drills
    from speechbrain_diffa.model import NUM_STAGE1_PROMPTS

    transcripts = [("Transcribe.", "seven two nine", 1.5), ("Transcribe.", "the cat runs", 2.0)]
    drills = digit_drills(transcripts, 300, seed=1)
    assert {(i, s, len(t.split())) for i, t, s in drills} == {("Transcribe.", 1.5, 3)}
    assert len({t for _, t, _ in drills}) > 200 and "seven two nine" not in {t for _, t, _ in drills[:50]}
    assert drills == digit_drills(transcripts, 300, seed=1) != digit_drills(transcripts, 300, seed=2)

    masked_rows = _record_masking(monkeypatch)
    texts = ["two low beeps", "zero one three four five six eight"] * 4
    plain, drilled = str(tmp_path / "plain"), str(tmp_path / "drilled")
    standins.pretrain_llada_standin(plain, texts, steps=1, d_model=32, n_layers=1, vocab_size=300,
                                    transcripts=transcripts[:1], copy_fraction=1.0)  # fmt: skip
    masked_rows.clear()
    standins.pretrain_llada_standin(drilled, texts, steps=3, batch_size=4, d_model=32, n_layers=1, vocab_size=300,
                                    transcripts=transcripts[:1], copy_fraction=1.0, drills=drills,
                                    drill_fraction=1.0)  # fmt: skip
    assert load_tokenizer(plain).get_vocab() == load_tokenizer(drilled).get_vocab()
    chat = ChatLayout(load_tokenizer(drilled))
    filler = chat.tokenizer.convert_tokens_to_ids(standins.FILLER)
    expected = {}
    for spec in drills:
        ids, prompt_length, (start, end) = standins.copy_chat(chat, *spec, filler)
        expected[tuple(ids)] = prompt_length
    assert len(masked_rows) == 3
    seen = set()
    for ids, scored, masked in masked_rows:  # every row one of the drills' copy chats, scored on its answer only
        for row in range(ids.shape[0]):
            row_ids = ids[row].tolist()
            length = next(n for n in range(len(row_ids), 0, -1) if tuple(row_ids[:n]) in expected)
            seen.add(tuple(row_ids[:length]))
            assert int(scored[row].nonzero()[0]) == expected[tuple(row_ids[:length])]
            assert not (masked[row] & ~scored[row]).any()
    assert len(seen) > 6  # drills of many strings, not the one training transcript
    ids, _, (start, end) = standins.copy_chat(chat, *drills[0], filler)
    runs = [token for token, _ in groupby(ids[start + NUM_STAGE1_PROMPTS : end])]
    assert chat.tokenizer.decode(runs) == " " + drills[0][1]


def test_the_causal_stand_in_scores_next_tokens_on_the_answer_side_only():
    import torch

    from speechbrain_diffa.demo.standins import _next_token_loss

    ids = torch.tensor([[5, 6, 7, 8, 9], [1, 2, 3, 4, 0]])

    class Knows:  # predicts every next token of the answer side (from position 2) and nothing of the prompt
        def embed(self, input_ids):
            return torch.zeros(*input_ids.shape, 4)

        def __call__(self, inputs_embeds):
            logits = torch.zeros(2, 4, 10)
            logits[:, :, 0] = 50.0  # a wrong guess everywhere ...
            for row in range(2):
                for t in range(2, 4):  # ... but the answer's tokens 3 and 4 (targets ids[:, 3:])
                    logits[row, t] = 0.0
                    logits[row, t, ids[row, t + 1]] = 50.0
            return type("Out", (), {"logits": logits})()

    no_slot = torch.zeros_like(ids, dtype=torch.bool)
    assert float(_next_token_loss(Knows(), ids, torch.tensor([3, 3]), no_slot, None)) < 1e-6
    assert float(_next_token_loss(Knows(), ids, torch.tensor([0, 0]), no_slot, None)) > 1.0  # scored everywhere: wrong


def test_question_chats_hold_the_traits_then_the_description_and_the_answer_words_whole(tmp_path, monkeypatch):
    """The LLaDA stand-in's question chats: the slot is laid out as stage 2's audio block (the traits where the
    acoustic adapter writes, then the clip's description where the semantic adapter writes), only the answer side
    is scored, and the tokenizer holds each answer's first word whole where a chat's answer starts a line."""
    from itertools import groupby

    from speechbrain_diffa.demo import standins

    scored_rows = _record_masking(monkeypatch)
    # in the text, "woman" and "high" only ever follow a space, as in the corpus text
    texts = ["is it a man or a woman speaking", "a woman speaks", "is the tone high or low", "two high beeps"] * 4
    questions = [("Is it a man or a woman?", "woman", "seven two", ["woman"], 1.0),
                 ("Is the tone high or low?", "high", "two high beeps", ["high"], 0.6),
                 ("What do you hear?", "a beep", "one beep", [], 0.4)]  # fmt: skip
    path = str(tmp_path / "llada")
    standins.pretrain_llada_standin(path, texts, steps=3, batch_size=4, d_model=32, n_layers=1, vocab_size=300,
                                    questions=questions, question_fraction=1.0)  # fmt: skip
    chat = ChatLayout(load_tokenizer(path))
    filler = chat.tokenizer.convert_tokens_to_ids(standins.FILLER)
    queries = standins.ACOUSTIC_POSITIONS
    for question, answer, description, traits, seconds in questions:
        ids, prompt_length, (start, end) = standins.question_chat(chat, question, answer, description, traits,
                                                                  seconds, filler, queries)  # fmt: skip
        example = chat.training_example(question, answer)
        assert ids[:start] == example.ids[: example.splice_at] and ids[end:] == example.ids[example.splice_at :]
        assert prompt_length == example.prompt_length + end - start
        slot = ids[start:end]
        front = [token for token, _ in groupby(slot[:queries])]
        assert chat.tokenizer.decode(front) == (" ".join(traits) if traits else standins.FILLER)
        assert chat.tokenizer.decode([token for token, _ in groupby(slot[queries:])]) == " " + description
        first_word = chat.tokenizer(answer.split()[0], add_special_tokens=False)["input_ids"]
        assert len(first_word) == 1, chat.tokenizer.convert_ids_to_tokens(first_word)
    for _, scored, masked in scored_rows:  # every row a question chat: nothing before its answer side is masked
        assert masked.any() and not (masked & ~scored).any()


def test_the_llada_stand_in_learns_to_answer_from_what_its_slot_says(tmp_path):
    """Pretrained on question chats whose answer only the slot holds, the stand-in answers held-out ones from the
    slot (as stage 2 needs: its LLM is frozen), well above the 50 % the question alone gives."""
    import random

    import torch

    from speechbrain_diffa.demo import standins

    rng = random.Random(0)
    words = ["seven", "two", "the", "cat", "runs", "dog", "five"]

    def spec():
        answer = rng.choice(["man", "woman"])
        description = " ".join(rng.choice(words) for _ in range(rng.randint(1, 3)))
        return "Is it a man or a woman?", answer, description, [answer], rng.uniform(0.3, 1.2)

    train, held_out = [spec() for _ in range(64)], [spec() for _ in range(40)]
    path = str(tmp_path / "llada")
    standins.pretrain_llada_standin(path, ["a man speaks", "a woman speaks"] * 8, steps=300, batch_size=8, lr=1e-3,
                                    d_model=64, n_layers=2, vocab_size=300, questions=train,
                                    question_fraction=1.0)  # fmt: skip
    chat = ChatLayout(load_tokenizer(path))
    llm = LLaDA.from_pretrained(path).eval()
    filler, queries = chat.tokenizer.convert_tokens_to_ids(standins.FILLER), standins.ACOUSTIC_POSITIONS
    right = 0
    for question, answer, description, traits, seconds in held_out:
        ids, prompt_length, (start, end) = standins.question_chat(chat, question, answer, description, traits,
                                                                  seconds, filler, queries)  # fmt: skip
        canvas = torch.tensor([ids])
        first = prompt_length + chat.answer_header_length
        canvas[0, first:] = chat.mask_id  # the whole answer to write, as decoding starts
        slot = torch.zeros_like(canvas, dtype=torch.bool)
        slot[0, start:end] = True
        with torch.no_grad():
            logits = llm(inputs_embeds=standins.slot_embeddings(llm, canvas, slot)).logits
        right += chat.tokenizer.decode([int(logits[0, first].argmax())]) == answer
    assert right >= 34, f"{right} of {len(held_out)}"


def test_ctc_targets_repeat_each_label_and_refuse_a_repeat_count_below_one():
    import pytest
    import torch

    from speechbrain_diffa.demo.standins import ctc_targets

    count, targets = ctc_targets(["seven two", "two"], "words", repeats=3)
    assert count == 2 and [t.tolist() for t in targets] == [[1, 1, 1, 2, 2, 2], [2, 2, 2]]
    assert torch.equal(ctc_targets(["ab"], "characters", repeats=1)[1][0], torch.tensor([1, 2]))
    for bad in (0, -1, 1.5, "3"):
        with pytest.raises(ValueError, match="repeats must be a whole number"):
            ctc_targets(["seven"], "words", repeats=bad)
