"""Small pretrained stand-ins for Whisper and LLaDA, trained on a local corpus in minutes on a CPU.

A random frozen encoder is not Whisper and a random LLM is not LLaDA: the curriculum freezes both,
so a demo with random ones has nothing to align to. These functions make small *pretrained*
stand-ins and save them in the release layouts, so the recipe then loads and freezes them exactly
as it does the real models:

- :func:`pretrain_llada_standin`: a tiny LLaDA trained as a masked-diffusion LM on corpus text
  (its own byte-level BPE tokenizer with LLaDA's special tokens), saved like
  ``GSAI-ML/LLaDA-8B-Instruct`` (config + safetensors + tokenizer).
- :func:`pretrain_causal_standin`: the same, with causal attention and next-token cross-entropy
  (the autoregressive control), saved as a Hugging Face Llama folder.
- :func:`pretrain_whisper_standin`: a tiny Whisper encoder trained with a CTC head (characters or words) to
  transcribe (or caption) clips, and optionally to tag each clip (speaker gender, pitch, tempo...)
  the way Whisper identifies a clip's language, saved like ``openai/whisper-*``.

Authors
 * speechbrain_diffa contributors 2026
"""

import logging
import math
import os

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

from speechbrain_diffa.data.audio import batch_waveforms
from speechbrain_diffa.diffusion import answer_mask, forward_process, masked_diffusion_loss
from speechbrain_diffa.llada import LLaDA

logger = logging.getLogger(__name__)


# Copy chats: transcription chats whose audio slot holds the transcript's own tokens, laid out as stage 1's audio
# block is (NUM_STAGE1_PROMPTS learned prompts, FILLER here, then the semantic adapter's positions, a run per word).
# LLaDA reads text out of a soft prompt from its pretraining; a stand-in pretrained on corpus text alone never
# looked into the audio slot, so stage 1, which trains only what fills it, had nothing to write to. The slot's
# embeddings are written in the form the semantic adapter's output has (slot_embeddings).
FILLER = "~"
SLOT_POSITIONS_PER_SECOND = 12.5  # Whisper's 50 frames per second, downsampled 4x by the semantic adapter
ACOUSTIC_POSITIONS = 8  # the demo's acoustic adapter queries (its recipe override acoustic_queries)


def copy_chat(chat, instruction, transcript, seconds, filler_id):
    """A transcription chat whose audio slot holds ``transcript``'s tokens where a clip's audio block would.

    The slot has ``NUM_STAGE1_PROMPTS + ceil(seconds * 12.5)`` positions: the prompts' are ``filler_id``,
    and the clip's are split into one run per token of the transcript (each word in its mid-sentence
    spelling: :func:`_spoken_tokens`), in order, each token repeated over its run, as a spoken word
    spans several positions of the semantic adapter's output. (With each token at one
    place of its share among fillers, a 2-layer stand-in found the last digit of a digit string but not
    the first: docs/demo.md, "Stage 1 and transcription".)

    Arguments
    ---------
    chat : speechbrain_diffa.chat.ChatLayout
        The layout the recipe uses.
    instruction, transcript : str
        The transcription prompt and what the clip says.
    seconds : float
        The clip's duration.
    filler_id : int
        The token of the prompts' positions.

    Returns
    -------
    ids : list of int
        The whole chat, slot spliced in.
    prompt_length : int
        Where its answer side (the scored part) starts.
    slot : tuple of int
        ``(start, end)`` of the slot in ``ids`` (:func:`slot_embeddings` writes it at the adapters' scale).

    Example
    -------
    >>> from itertools import groupby
    >>> from speechbrain_diffa.chat import ChatLayout
    >>> from speechbrain_diffa.demo.tiny_models import make_tiny_tokenizer
    >>> chat = ChatLayout(make_tiny_tokenizer(texts=["seven two ~"]))
    >>> filler = chat.tokenizer.convert_tokens_to_ids(FILLER)
    >>> ids, prompt_length, (start, end) = copy_chat(chat, "Transcribe.", "seven two", 1.0, filler)
    >>> example = chat.training_example("Transcribe.", "seven two")
    >>> len(ids) - len(example.ids), prompt_length - example.prompt_length  # 20 prompts + 13 positions
    (33, 33)
    >>> (start, end) == (example.splice_at, example.splice_at + 33)
    True
    >>> slot = ids[start:end]
    >>> runs = [token for token, _ in groupby(slot[20:])]
    >>> slot[:20] == [filler] * 20, chat.tokenizer.decode(runs)  # "seven" as mid-sentence, as the answer is not
    (True, ' seven two')
    """
    from speechbrain_diffa.model import NUM_STAGE1_PROMPTS

    example = chat.training_example(instruction, transcript)
    content = _spoken_tokens(chat, transcript)
    return _with_slot(example, [filler_id] * NUM_STAGE1_PROMPTS + _runs(content, _clip_positions(seconds)))


def question_chat(chat, question, answer, description, traits, seconds, filler_id, queries):
    """A question about a clip whose audio slot holds a description of it where stage 2's audio block would.

    The slot is laid out as the audio block of stage 2 and later: ``queries`` positions where the
    acoustic adapter writes (here one run per token of ``traits``, e.g. ``"woman"``; fillers if
    none), then the clip's positions, as in :func:`copy_chat`, holding ``description`` (the clip's
    caption or transcript). Pretrained on such chats, the stand-in answers a question about a clip
    from what fills its slot, as LLaDA answers about a soft prompt; a stand-in that never saw one
    ignored the slot in stage 2, whose frozen LLM then answered below chance (docs/demo.md,
    "Stage 2 answers from the audio").

    Arguments
    ---------
    chat : speechbrain_diffa.chat.ChatLayout
        The layout the recipe uses.
    question, answer : str
        A training question (as the recipe prompts it) and its answer.
    description : str
        What the clip says or is (its stage-1 target).
    traits : list of str
        The clip's traits (speaker gender, pitch, tempo...) as words.
    seconds : float
        The clip's duration.
    filler_id : int
        The token of positions that hold nothing.
    queries : int
        The acoustic adapter's output positions.

    Returns
    -------
    ids, prompt_length, slot
        As :func:`copy_chat` returns them.

    Example
    -------
    >>> from itertools import groupby
    >>> from speechbrain_diffa.chat import ChatLayout
    >>> from speechbrain_diffa.demo.tiny_models import make_tiny_tokenizer
    >>> chat = ChatLayout(make_tiny_tokenizer(texts=["is it a man or a woman seven two ~"]))
    >>> filler = chat.tokenizer.convert_tokens_to_ids(FILLER)
    >>> ids, prompt_length, (start, end) = question_chat(chat, "Is it a man or a woman?", "a woman", "seven two",
    ...                                                  ["woman"], 1.0, filler, queries=8)
    >>> example = chat.training_example("Is it a man or a woman?", "a woman")
    >>> end - start, prompt_length - example.prompt_length  # 8 queries + 13 positions
    (21, 21)
    >>> slot = ids[start:end]
    >>> runs = [chat.tokenizer.decode([t for t, _ in groupby(part)]) for part in (slot[:8], slot[8:])]
    >>> runs[0], runs[1]
    ('woman', ' seven two')
    >>> chat.tokenizer.decode(ids[end:]) == chat.tokenizer.decode(example.ids[example.splice_at :])
    True
    """

    # The acoustic adapter's queries are not tied to a moment of the clip: they hold the traits as an answer
    # spells them ("woman"); the clip's positions hold its description as it is spoken (:func:`_spoken_tokens`).
    if traits:
        front = _runs(_answer_tokens(chat, chat.training_example(question, " ".join(traits))), queries)
    else:
        front = [filler_id] * queries
    return _with_slot(
        chat.training_example(question, answer),
        front + _runs(_spoken_tokens(chat, description), _clip_positions(seconds)),
    )


def _answer_tokens(chat, example):
    """The tokens of ``example``'s answer side (between the assistant header and the end of turn)."""
    return example.ids[example.prompt_length + chat.answer_header_length : -1]


def _spoken_tokens(chat, text):
    """``text``'s tokens with every word in its mid-sentence form (its leading space), as the slot holds them.

    A word sounds the same wherever it falls, so the semantic adapter, which reads a few frames at
    a time, writes one vector for it; byte-level BPE spells a sentence's first word without its
    space ("two" against " two"). A slot that held the answer's own spelling asked the adapter for
    two vectors of one spoken digit, one of them for the first word only (docs/demo.md, "Stage 1
    and the digit strings").
    """
    return chat.tokenizer(" " + text, add_special_tokens=False)["input_ids"]


def _clip_positions(seconds):
    """Positions of a clip of ``seconds`` in the semantic adapter's output."""
    return math.ceil(seconds * SLOT_POSITIONS_PER_SECOND)


def _with_slot(example, slot):
    """``example``'s ids with ``slot`` spliced in, its answer side's new start, and the slot's ``(start, end)``."""
    ids = example.ids[: example.splice_at] + slot + example.ids[example.splice_at :]
    return ids, example.prompt_length + len(slot), (example.splice_at, example.splice_at + len(slot))


def _runs(tokens, positions):
    """``tokens`` laid over ``positions`` (at least one each): one run per token, in order."""
    positions = max(positions, len(tokens))
    bounds = [math.ceil(i * positions / len(tokens)) for i in range(len(tokens) + 1)]  # disjoint, none empty
    return [token for token, start, end in zip(tokens, bounds, bounds[1:]) for _ in range(end - start)]


def slot_embeddings(llm, ids, slot):
    """``llm``'s input embeddings of ``ids``, where ``slot`` is True written as the semantic adapter writes.

    The semantic adapter ends in ``Linear -> ReLU -> LayerNorm``, so whatever it writes into the
    audio slot is a layer-normalised vector of non-negative values: unit scale whatever the LLM's
    token embeddings are, every component the ReLU closed at one shared value. The copy chats write
    each token that way, ``LayerNorm(ReLU(embedding))``, a vector the adapter writes exactly when
    its last Linear outputs the token's embedding. Copy chats that held the stand-in's own
    embeddings (RMS 0.04) taught it to read vectors the adapter cannot write (docs/demo.md,
    "Stage 1 learns sentences, 2026-12-03 (morning)" and "Stage 1 learns sentences, not digit strings").

    Example
    -------
    >>> _ = torch.manual_seed(0)
    >>> llm = torch.nn.Module()
    >>> llm.embed = torch.nn.Embedding(10, 8)
    >>> ids, slot = torch.tensor([[1, 2, 3]]), torch.tensor([[False, True, False]])
    >>> e = slot_embeddings(llm, ids, slot)
    >>> torch.equal(e[0, 0], llm.embed(ids)[0, 0]), round(e[0, 1].pow(2).mean().item(), 3)
    (True, 1.0)
    >>> closed = llm.embed(ids)[0, 1] <= 0  # the components the ReLU closes share the slot's lowest value
    >>> bool(torch.allclose(e[0, 1][closed], e[0, 1].min()))
    True
    """
    embeddings = llm.embed(ids)
    written = F.layer_norm(F.relu(embeddings), embeddings.shape[-1:])
    return torch.where(slot.unsqueeze(-1), written, embeddings)


def _pretrain_lm(llm, tokenizer, texts, steps, batch_size, lr, seed, loss_of, name, pools=()):
    """The stand-ins' shared loop: the same batches (by ``seed``), schedule and clipping for either objective.

    Each row is a line of ``texts`` (scored everywhere), then, for each ``(chats, fraction)`` of
    ``pools`` in turn, replaced by one of ``chats`` with probability ``fraction``: a chat is
    ``(ids, prompt_length, slot)``, scored on its answer side, its slot written as the adapters
    write (:func:`slot_embeddings`).
    """
    generator = torch.Generator().manual_seed(seed)
    encoded = [
        (tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id], 0, (0, 0)) for t in texts
    ]
    optimizer = torch.optim.AdamW(llm.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps, eta_min=lr / 10)
    losses = []
    llm.train()
    for step in range(steps):
        pick = torch.randint(len(encoded), (batch_size,), generator=generator).tolist()
        rows = [encoded[i] for i in pick]
        for chats, fraction in pools:
            use = (torch.rand(batch_size, generator=generator) < fraction).tolist()
            picks = torch.randint(len(chats), (batch_size,), generator=generator).tolist()
            rows = [chats[c] if u else row for row, u, c in zip(rows, use, picks)]
        ids = pad_sequence(
            [torch.tensor(row) for row, _, _ in rows], batch_first=True, padding_value=tokenizer.eos_token_id
        )
        positions = torch.arange(ids.shape[1])
        spans = torch.tensor([span for _, _, span in rows])
        slot = (positions >= spans[:, :1]) & (positions < spans[:, 1:])
        loss = loss_of(llm, ids, torch.tensor([start for _, start, _ in rows]), slot, generator)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(llm.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if (step + 1) % 50 == 0:
            logger.info(f"{name} stand-in step {step + 1}/{steps}: loss {sum(losses[-50:]) / 50:.3f}")
    return losses


def _diffusion_loss(llm, ids, scored_from, slot, generator):
    scored = answer_mask(ids, scored_from)
    noisy, masked, p = forward_process(ids, scored, llm.mask_token_id, generator=generator)
    logits = llm(inputs_embeds=slot_embeddings(llm, noisy, slot), logits_mask=masked).logits
    return masked_diffusion_loss(logits, ids[masked], p[masked.nonzero()[:, 0]], int(scored.sum()))


def _next_token_loss(llm, ids, scored_from, slot, generator):
    logits = llm(inputs_embeds=slot_embeddings(llm, ids[:, :-1], slot[:, :-1])).logits
    scored = answer_mask(ids, scored_from)[:, 1:]
    return F.cross_entropy(logits[scored], ids[:, 1:][scored])


def pretrain_llada_standin(
    path,
    texts,
    steps=300,
    batch_size=16,
    lr=3e-3,
    d_model=128,
    n_layers=4,
    n_heads=4,
    vocab_size=768,
    seed=0,
    transcripts=None,
    copy_fraction=0.5,
    drills=None,
    drill_fraction=0.3,
    questions=None,
    question_fraction=0.25,
    causal=False,
):
    """Train a tiny LLaDA as a masked-diffusion LM on ``texts`` and save it in the release layout.

    Arguments
    ---------
    path : str
        Output folder (``config.json``, ``model.safetensors``, tokenizer files).
    texts : list of str
        Training text, one example per item (e.g. the corpus's questions, answers, transcripts,
        rendered as chat turns so the model knows the layout).
    steps, batch_size, lr : int, int, float
        AdamW schedule (cosine decay to 10 %).
    d_model, n_layers, n_heads : int
        Model size.
    vocab_size : int
        BPE vocabulary before the special tokens (trained on ``texts``).
    seed : int
        Initialisation and batch-order seed.
    transcripts : list of tuple, optional
        ``(instruction, transcript, seconds)`` of training clips: each becomes a copy chat
        (:func:`copy_chat`), so the stand-in reads text out of the audio slot as LLaDA reads a soft prompt.
    copy_fraction : float
        Share of each batch's rows that are copy chats (with ``transcripts``).
    drills : list of tuple, optional
        ``(instruction, transcript, seconds)`` made up for copying alone (e.g. random digit strings laid
        as the training clips' are), in words ``texts`` already has: copy chats too, so the stand-in learns
        to read any string out of the slot, not to recall the few it heard (a pretrained LLM has read
        every digit string). They do not shape the tokenizer.
    drill_fraction : float
        Probability that a row (text or copy chat) is replaced by a drill (with ``drills``).
    questions : list of tuple, optional
        ``(question, answer, description, traits, seconds)`` of training questions about clips:
        each becomes a question chat (:func:`question_chat`, :data:`ACOUSTIC_POSITIONS` queries),
        so the stand-in answers from what fills the audio slot.
    question_fraction : float
        Probability that a row (text or copy chat) is replaced by a question chat (with ``questions``).
    causal : bool
        Train the autoregressive control's stand-in instead (:func:`pretrain_causal_standin`).

    Returns
    -------
    list of float
        The training loss of every step.

    Example
    -------
    >>> path = str(getfixture("tmpdir") / "llada")
    >>> losses = pretrain_llada_standin(path, ["two beeps", "a high tone"] * 4, steps=3, d_model=32,
    ...                                 n_layers=1, vocab_size=300)
    >>> len(losses), LLaDA.from_pretrained(path).config.hidden_size
    (3, 32)
    >>> losses = pretrain_llada_standin(path, ["two beeps"] * 4, steps=2, d_model=32, n_layers=1, vocab_size=300,
    ...                                 transcripts=[("Transcribe.", "seven two", 1.0)])
    >>> len(losses)
    2
    >>> losses = pretrain_llada_standin(path, ["two beeps"] * 4, steps=2, d_model=32, n_layers=1, vocab_size=300,
    ...                                 questions=[("Is it high or low?", "high", "two high beeps", ["high"], 1.0)])
    >>> len(losses)
    2
    """
    from speechbrain_diffa.autoregressive import CausalLM, matched_causal_config
    from speechbrain_diffa.demo.tiny_models import tiny_llada_config

    if not texts:
        raise ValueError(f"pretrain_{'causal' if causal else 'llada'}_standin: no training text")
    tokenizer, copies, drilled, asked = _tokenizer_and_slot_chats(texts, transcripts, questions, vocab_size, drills)
    config = tiny_llada_config(tokenizer, d_model=d_model, n_layers=n_layers, n_heads=n_heads, init_std=0.02)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        llm = CausalLM(matched_causal_config(config)) if causal else LLaDA(config)
    loss_of, name = (_next_token_loss, "Causal LM") if causal else (_diffusion_loss, "LLaDA")
    pools = ((copies, copy_fraction), (drilled, drill_fraction), (asked, question_fraction))
    pools = [(chats, fraction) for chats, fraction in pools if chats]
    losses = _pretrain_lm(llm, tokenizer, texts, steps, batch_size, lr, seed, loss_of, name, pools)
    llm.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return losses


def pretrain_causal_standin(path, texts, **options):
    """The autoregressive control's stand-in: :func:`pretrain_llada_standin` with next-token cross-entropy.

    Takes the same options. Same tokenizer (trained on the same ``texts``), same size, same
    initialisation seed, same batches (copy chats included) in the same order, same schedule: only
    the attention (causal) and the objective (next-token cross-entropy on the scored side) differ.
    Saved as a Hugging Face Llama folder (:class:`~speechbrain_diffa.autoregressive.CausalLM`).

    Example
    -------
    >>> from speechbrain_diffa.autoregressive import CausalLM
    >>> path = str(getfixture("tmpdir") / "ar")
    >>> losses = pretrain_causal_standin(path, ["two beeps", "a high tone"] * 4, steps=3, d_model=32,
    ...                                  n_layers=1, vocab_size=300)
    >>> len(losses), CausalLM.from_pretrained(path).is_causal
    (3, True)
    """
    return pretrain_llada_standin(path, texts, causal=True, **options)


def _tokenizer_and_slot_chats(texts, transcripts, questions, vocab_size, drills=None):
    """The stand-in's tokenizer (BPE on ``texts``, plus the filler with slot chats), its copy chats, drills and
    question chats."""
    from speechbrain_diffa.chat import ChatLayout
    from speechbrain_diffa.demo.tiny_models import make_tiny_tokenizer

    if not transcripts and not questions and not drills:
        return make_tiny_tokenizer(vocab_size=vocab_size, texts=texts), [], [], []
    # A chat's answer starts a line, where byte-level BPE sees its first word without a leading space: learned
    # on the corpus text alone, the tokenizer split "woman" there into "wo" + "man" (docs/demo.md, "Stage 2
    # answers from the audio"), so it also learns from every answer side the chats hold.
    answers = [spec[1] for spec in transcripts or ()]
    answers += [text for spec in questions or () for text in (spec[1], spec[2], " ".join(spec[3]))]
    tokenizer = make_tiny_tokenizer(vocab_size=vocab_size, texts=list(texts) + [FILLER] + answers)
    filler = tokenizer(FILLER, add_special_tokens=False)["input_ids"]
    if len(filler) != 1:
        raise RuntimeError(f"The stand-in's tokenizer splits the filler {FILLER!r} into {len(filler)} tokens")
    chat = ChatLayout(tokenizer)
    copies = [copy_chat(chat, *spec, filler[0]) for spec in transcripts or ()]
    drilled = [copy_chat(chat, *spec, filler[0]) for spec in drills or ()]
    asked = [question_chat(chat, *spec, filler[0], ACOUSTIC_POSITIONS) for spec in questions or ()]
    return tokenizer, copies, drilled, asked


def pretrain_whisper_standin(
    path,
    waveforms,
    texts,
    steps=300,
    batch_size=8,
    lr=2e-3,
    d_model=64,
    layers=4,
    heads=4,
    window_seconds=30,
    seed=0,
    tags=None,
    tag_weight=1.0,
    units="characters",
    repeats=1,
):
    """Train a tiny Whisper encoder (CTC, optional clip tags) and save it in the HF layout.

    Whisper's features carry who speaks and how things sound prominently, not only the words:
    it was trained on hundreds of thousands of hours, and also to name each clip's language from
    the whole clip. A stand-in trained on transcripts alone keeps such traits only faintly: on the
    demo corpus, pitch and speaker gender were linearly decodable from its features (92-100 %), but
    their between-class spread was 0.05-0.5 of the within-class spread (clip length: 44), and the
    tiny LLM learned to answer from them only after many hundred steps, one trait after another.
    ``tags`` adds a clip-level task like Whisper's language identification: every frame of the
    last layer names the clip's tags (:class:`ClipTagger`), so the traits run through the whole
    clip, as speaker traits do in Whisper's features (on the demo corpus, after a random semantic
    adapter: ratios 9-13 with ``tag_weight`` 10, 2-10 with 1, varying between runs).

    Arguments
    ---------
    path : str
        Output folder (weights + ``preprocessor_config.json``), loadable by
        :class:`~speechbrain_diffa.whisper.WhisperEncoderTaps`.
    waveforms : list of torch.Tensor
        16 kHz clips ``(samples,)``, at most 30 s.
    texts : list of str
        What each clip says or is (transcript or caption); the encoder learns to spell it.
    steps, batch_size, lr : int, int, float
        AdamW schedule (cosine decay to 10 %).
    d_model, layers, heads : int
        Encoder size.
    window_seconds : int
        Input window (Whisper: 30 s, i.e. 1500 frames). Attention cost grows with its square, so a
        stand-in for short clips can use a few seconds; the clips must fit in it.
    seed : int
        Initialisation and batch-order seed.
    tags : list of dict, optional
        Per clip, ``{tag name: value}`` (e.g. ``{"speaker_gender": "woman"}``); a clip may lack
        some tags or have none. Each tag name gets a classifier over the values seen.
    tag_weight : float
        Weight of the tag cross-entropy (per clip: summed over its tags, averaged over its
        frames; then averaged over the batch) added to the CTC loss.
    units : str
        What the CTC head spells: ``"characters"`` or ``"words"`` (one label per distinct
        word, :func:`ctc_targets`; Whisper's own targets are byte-pair tokens, most of them
        whole words, so word labels are the nearer stand-in).
    repeats : int
        Times each label stands in the CTC target (``"seven two"`` with 3: seven seven seven two
        two two). CTC marks each label on about one frame and blanks the rest, while Whisper's
        encoder, read by a decoder's attention, describes a word over the frames it spans; with
        each word's label repeated, the stand-in marks it over several frames of its span, which
        is what the semantic adapter's few-frame window reads (docs/demo.md, "Stage 1 reads
        sentences from a word-spreading Whisper stand-in").

    Returns
    -------
    list of float
        The loss (CTC + weighted tags) of every step.

    Example
    -------
    >>> path = str(getfixture("tmpdir") / "whisper")
    >>> clips = [torch.randn(8000) * 0.1, torch.randn(4000) * 0.1]
    >>> losses = pretrain_whisper_standin(path, clips, ["hi", "low"], steps=2, batch_size=2, d_model=32, layers=2,
    ...                                   window_seconds=2)
    >>> from speechbrain_diffa.whisper import WhisperEncoderTaps
    >>> WhisperEncoderTaps(path, taps=[1, 2]).output_size
    32
    >>> losses = pretrain_whisper_standin(path, clips, ["hi", "low"], steps=2, batch_size=2, d_model=32, layers=2,
    ...                                   window_seconds=2, tags=[{"pitch": "high"}, {}])
    >>> len(losses)
    2
    """
    from speechbrain_diffa.demo.tiny_models import make_tiny_whisper
    from speechbrain_diffa.whisper import WhisperEncoderTaps

    if len(waveforms) != len(texts) or not texts:
        raise ValueError(f"pretrain_whisper_standin: {len(waveforms)} clips for {len(texts)} texts")
    longest = max(len(w) for w in waveforms) / 16000
    if longest > window_seconds:
        raise ValueError(f"pretrain_whisper_standin: a {longest:.1f} s clip does not fit a {window_seconds} s window")
    positions = window_seconds * 50  # encoder frames: 100 mel frames per second, halved by the stride-2 conv
    make_tiny_whisper(path, seed=seed, d_model=d_model, layers=layers, heads=heads, max_source_positions=positions)
    encoder = WhisperEncoderTaps(path, taps=[layers], freeze=False)
    labels_count, targets = ctc_targets(texts, units, repeats)
    head = torch.nn.Linear(d_model, labels_count + 1)  # + CTC blank (index 0)
    tagger = ClipTagger(d_model, tags or [{} for _ in texts])
    if len(tagger.labels) != len(texts):
        raise ValueError(f"pretrain_whisper_standin: {len(tagger.labels)} tag dicts for {len(texts)} clips")
    params = list(encoder.parameters()) + list(head.parameters()) + list(tagger.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps, eta_min=lr / 10)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    encoder.train()
    for step in range(steps):
        pick = torch.randint(len(texts), (batch_size,), generator=generator).tolist()
        wavs, wav_lens = batch_waveforms([waveforms[i] for i in pick])
        out = encoder(wavs, wav_lens)
        log_probs = F.log_softmax(head(out.last), dim=-1).transpose(0, 1)
        labels = [targets[i] for i in pick]
        loss = F.ctc_loss(
            log_probs,
            torch.cat(labels),
            out.lengths,
            torch.tensor([len(t) for t in labels]),
            zero_infinity=True,
        )
        if tagger.names:
            loss = loss + tag_weight * tagger.loss(out.last, out.lengths, pick)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if (step + 1) % 50 == 0:
            logger.info(f"Whisper stand-in step {step + 1}/{steps}: loss {sum(losses[-50:]) / 50:.3f}")
    _save_whisper_encoder(encoder, path, seed)
    return losses


def ctc_targets(texts, units, repeats=1):
    """CTC label sequences of ``texts`` (labels from 1; 0 is the blank), each label ``repeats`` times, and how many
    labels there are.

    Example
    -------
    >>> ctc_targets(["one two", "two"], "words")
    (2, [tensor([1, 2]), tensor([2])])
    >>> ctc_targets(["one two"], "words", repeats=2)[1]
    [tensor([1, 1, 2, 2])]
    >>> ctc_targets(["ab", "b"], "characters")[0]
    2
    """
    if units == "characters":
        pieces = [list(t.lower()) for t in texts]
    elif units == "words":
        pieces = [t.lower().split() for t in texts]
    else:
        raise ValueError(f"pretrain_whisper_standin: units must be 'characters' or 'words', not {units!r}")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"pretrain_whisper_standin: repeats must be a whole number of at least 1, not {repeats!r}")
    vocabulary = {p: i + 1 for i, p in enumerate(sorted({p for seq in pieces for p in seq}))}
    return len(vocabulary), [torch.tensor([vocabulary[p] for p in seq]).repeat_interleave(repeats) for seq in pieces]


class ClipTagger(torch.nn.Module):
    """One linear classifier per tag, scoring every valid frame of an encoder's output.

    The labels are clip-level; scoring each frame with its clip's tags spreads a trait over the
    whole clip (scoring only the clip's mean frame lets a few frames carry it).

    Arguments
    ---------
    width : int
        Encoder width.
    tags : list of dict
        Per clip, ``{tag name: value}``; missing tags are not scored for that clip.

    Example
    -------
    >>> tagger = ClipTagger(8, [{"gender": "man"}, {"gender": "woman", "pitch": "low"}, {}])
    >>> tagger.names, tagger.values["gender"]
    (['gender', 'pitch'], ['man', 'woman'])
    >>> loss = tagger.loss(torch.randn(2, 5, 8), torch.tensor([5, 3]), [0, 1])
    >>> loss.shape
    torch.Size([])
    """

    def __init__(self, width, tags):
        super().__init__()
        self.names = sorted({name for clip in tags for name in clip})
        self.values = {name: sorted({clip[name] for clip in tags if name in clip}) for name in self.names}
        self.heads = torch.nn.ModuleDict({name: torch.nn.Linear(width, len(self.values[name])) for name in self.names})
        self.labels = [{name: self.values[name].index(value) for name, value in clip.items()} for clip in tags]

    def loss(self, frames, lengths, clips):
        """Tag cross-entropy of a batch: per clip, summed over its tags and averaged over its frames.

        Arguments
        ---------
        frames : torch.Tensor
            ``(batch, time, width)`` encoder output.
        lengths : torch.Tensor
            ``(batch,)`` valid frames of each row.
        clips : list of int
            Which clip (index into ``tags``) each row is.

        Returns
        -------
        torch.Tensor
            Scalar: the sum over the batch's clips divided by the batch size.
        """
        terms = []
        for row, clip in enumerate(clips):
            clip_frames = frames[row, : int(lengths[row])]
            for name, label in self.labels[clip].items():
                target = torch.full((len(clip_frames),), label, device=frames.device)
                terms.append(F.cross_entropy(self.heads[name](clip_frames), target))
        return torch.stack(terms).sum() / len(clips) if terms else frames.new_zeros(())


def _save_whisper_encoder(encoder, path, seed):
    """Write the trained encoder into a full HF Whisper folder (the decoder stays random)."""
    from transformers import WhisperForConditionalGeneration

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = WhisperForConditionalGeneration(encoder.encoder.config)
    model.model.encoder.load_state_dict(encoder.encoder.state_dict())
    model.save_pretrained(path)
    encoder.feature_extractor.save_pretrained(path)
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise RuntimeError(f"Saving the Whisper stand-in to {path} failed")
