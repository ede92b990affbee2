"""The assembled DIFFA-2: Whisper -> [acoustic ; semantic] adapters -> audio block spliced into LLaDA.

::

    wav ─► WhisperEncoderTaps ─┬─ last layer ─► SemanticAdapter ─────────────┐
                               └─ taps ───────► AcousticAdapter (64 queries) ─┤ stage ≥ 2: [acoustic ; semantic]
                                                  20 learned prompts (stage 1) ┘ stage 1:   [prompts ; semantic]
    chat ids ─► LLaDA embeddings ─► audio block inserted at ``splice_at`` ─► LLaDA ─► logits at text positions

Authors
 * speechbrain_diffa contributors 2026
"""

import os
from dataclasses import dataclass
from typing import NamedTuple

import torch
from speechbrain.utils import checkpoints

from speechbrain_diffa.autoregressive import exact_log_likelihoods, next_token_predictors
from speechbrain_diffa.data.audio import check_audio_batch
from speechbrain_diffa.decoding_presets import preset
from speechbrain_diffa.diffusion import answer_mask, forward_process, masked_diffusion_loss, monte_carlo_elbos
from speechbrain_diffa.hub.weight_files import read_state_dict
from speechbrain_diffa.sampling import generate
from speechbrain_diffa.whisper import EncoderOutput

NUM_STAGE1_PROMPTS = 20  # DIFFA's trainable_prompts, used in stage 1 only


@dataclass
class SplicedBatch:
    """Text with the audio block inserted.

    Attributes
    ----------
    inputs_embeds : torch.Tensor
        ``(batch, time, d_model)``.
    attention_mask : torch.LongTensor
        ``(batch, time)``: 0 on padding (text padding and, with masked padding, audio padding).
    text_slots : torch.LongTensor
        ``(batch, text_len)``: where each text token sits in ``inputs_embeds``.
    """

    inputs_embeds: torch.Tensor
    attention_mask: torch.Tensor
    text_slots: torch.Tensor


@checkpoints.register_checkpoint_hooks
class DIFFA2Model(torch.nn.Module):
    """DIFFA-2: a frozen Whisper encoder, two adapters, and LLaDA.

    Construction freezes everything except what the curriculum trains at ``stage``
    (:meth:`freeze_for_stage`), and checkpoints hold only those trainable tensors.

    Arguments
    ---------
    encoder : speechbrain_diffa.whisper.WhisperEncoderTaps
        Frozen encoder with the taps the acoustic adapter reads.
    semantic_adapter : speechbrain_diffa.adapters.SemanticAdapter
    acoustic_adapter : speechbrain_diffa.adapters.AcousticAdapter
    llm : speechbrain_diffa.llada.LLaDA
        The backbone (add LoRA with ``llm.add_lora()``).
    chat : speechbrain_diffa.chat.ChatLayout
        Prompt layout and tokenizer.
    stage : int
        1 uses ``[20 prompts ; semantic]`` as the audio block; 2 and later ``[acoustic ; semantic]``.
        Stages 3 and 4 also train the LLM's LoRA (give ``llm`` LoRA before building the model).
    mask_padding : bool
        Exclude audio padding from LLaDA's attention (batches of mixed lengths). Off reproduces
        the release, which attends to padded audio positions too.
    answer_system_prompt : str
        System prompt for answering (None: the chat layout's). The release answers with
        "You are a helpful voice assistant." though it trained with a longer prompt.

    Example
    -------
    >>> from speechbrain_diffa.demo.tiny_models import make_tiny_diffa2
    >>> model = make_tiny_diffa2(getfixture("tmpdir")).eval()
    >>> wavs = torch.randn(2, 16000) * 0.1
    >>> answers = model.answer(wavs, torch.tensor([1.0, 0.6]), ["How many beeps?", "Which?"],
    ...                        steps=4, gen_length=4, block_length=4)
    >>> len(answers), all(isinstance(a, str) for a in answers)
    (2, True)
    """

    def __init__(
        self,
        encoder,
        semantic_adapter,
        acoustic_adapter,
        llm,
        chat,
        stage=2,
        mask_padding=False,
        answer_system_prompt=None,
    ):
        super().__init__()
        self.encoder = encoder
        self.semantic_adapter = semantic_adapter
        self.acoustic_adapter = acoustic_adapter
        self.llm = llm
        self.chat = chat
        self.stage = stage
        self.mask_padding = mask_padding
        self.answer_system_prompt = answer_system_prompt
        width = self.llm.config.hidden_size
        self.trainable_prompts = torch.nn.Embedding(NUM_STAGE1_PROMPTS, width)
        self.freeze_for_stage()

    def freeze_for_stage(self):
        """Leave trainable exactly what this stage trains (``docs/sources.md``, "Curriculum").

        Stage 1: semantic adapter + 20 prompts. Stage 2: both adapters. Stages 3-4: both
        adapters + the LLM's LoRA. Whisper and the LLaDA base weights never train.
        """
        if self.stage not in (1, 2, 3, 4):
            raise ValueError(f"stage must be 1, 2, 3 or 4, got {self.stage}")
        lora = [p for n, p in self.llm.named_parameters() if "lora_" in n]
        if self.stage >= 3 and not lora:
            raise ValueError(f"stage {self.stage} trains LoRA: build the LLM with LoRA (LLaDA.add_lora)")
        self.requires_grad_(False)
        self.semantic_adapter.requires_grad_(True)
        if self.stage == 1:
            self.trainable_prompts.requires_grad_(True)
        else:
            self.acoustic_adapter.requires_grad_(True)
        if self.stage >= 3:
            self.llm.requires_grad_(False)  # the base; then only the active LoRA
            for name, param in self.llm.named_parameters():
                if "lora_" in name and ".default." in name:
                    param.requires_grad_(True)

    def trainable_state_dict(self):
        """The tensors this stage trains, by parameter name (what checkpoints hold)."""
        return {n: p.detach() for n, p in self.named_parameters() if p.requires_grad}

    @checkpoints.mark_as_saver
    def save_trainable(self, path):
        """Save only the trainable tensors (never the frozen Whisper / LLaDA weights), atomically.

        The file appears complete or not at all: it is written beside ``path`` and renamed, so a
        run killed while saving never leaves a truncated ``diffa2_trained.ckpt``.
        """
        partial = f"{path}.partial"
        torch.save(self.trainable_state_dict(), partial)
        os.replace(partial, path)

    @checkpoints.mark_as_loader
    def load_trainable(self, path, end_of_epoch=False):
        """Resume: the file must hold exactly this stage's trainable tensors."""
        del end_of_epoch
        state = read_state_dict(path)
        expected = set(self.trainable_state_dict())
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        if missing or unexpected:
            raise ValueError(
                f"Checkpoint {path} does not match stage {self.stage}'s trainable parameters: "
                f"missing {missing[:5]} ({len(missing)}), unexpected {unexpected[:5]} ({len(unexpected)})"
            )
        self._copy_in(state, path)

    @checkpoints.mark_as_transfer
    def load_previous_stage(self, path):
        """Initialise from an earlier stage's checkpoint (SpeechBrain ``Pretrainer`` transfer).

        Every tensor in the file must name a parameter of this model; parameters the file lacks
        keep their initialisation (e.g. the acoustic adapter when stage 2 starts from stage 1,
        LoRA when stage 3 starts from stage 2).
        """
        self._copy_in(read_state_dict(path), path)

    def load_complete_state(self, state, source):
        """Load a model folder's trained tensors: all or nothing.

        ``state`` may hold only what some stage trains (adapters, the stage-1 prompts, LoRA), never
        the frozen Whisper or LLaDA weights; every tensor this stage trains must be there; each must
        be a real floating tensor of the parameter's shape whose values stay finite in the
        parameter's dtype. Otherwise nothing is loaded and the error names the tensors.

        Arguments
        ---------
        state : dict
            Parameter name to tensor.
        source : str
            Where ``state`` came from, for errors.

        Example
        -------
        >>> from speechbrain_diffa.demo.tiny_models import make_tiny_diffa2
        >>> model = make_tiny_diffa2(str(getfixture("tmpdir")), stage=2)
        >>> state = model.trainable_state_dict()
        >>> model.load_complete_state(state, "diffa2.ckpt")
        >>> model.load_complete_state(dict(state, **{"semantic_adapter.conv.0.bias": None}), "x.ckpt")
        Traceback (most recent call last):
        ...
        ValueError: x.ckpt: 'semantic_adapter.conv.0.bias' is not a tensor (got NoneType)
        """
        params = dict(self.named_parameters())
        for name, value in state.items():
            if not isinstance(value, torch.Tensor):
                raise ValueError(f"{source}: {name!r} is not a tensor (got {type(value).__name__})")
        frozen = sorted(n for n in state if n not in params or not self.is_trained_parameter(n))
        if frozen:
            raise ValueError(
                f"{source}: {len(frozen)} tensors are not trained parameters of this model (a model folder holds "
                f"only adapters, prompts and LoRA, never base weights): {frozen[:5]}"
            )
        missing = sorted(set(self.trainable_state_dict()) - set(state))
        if missing:
            raise ValueError(
                f"{source} lacks {len(missing)} tensors that a stage-{self.stage} model needs: {missing[:5]}"
            )
        converted = {}
        for name, value in state.items():
            if not value.is_floating_point():  # complex or integer: not what training saves
                raise ValueError(f"{source}: {name} is {value.dtype}, not a real floating-point tensor")
            converted[name] = value.to(params[name].dtype)  # e.g. float64 1e300 would become inf here
        broken = sorted(n for n, v in converted.items() if not torch.isfinite(v).all())
        if broken:
            raise ValueError(f"{source}: {len(broken)} tensors hold NaN or Inf values: {broken[:5]}")
        self._copy_in(converted, source)

    def is_trained_parameter(self, name):
        """Whether parameter ``name`` is trained by some stage (adapters, prompts, LoRA), not a frozen base weight.

        Example
        -------
        >>> from speechbrain_diffa.demo.tiny_models import make_tiny_diffa2
        >>> model = make_tiny_diffa2(str(getfixture("tmpdir")), stage=3)
        >>> sorted({model.is_trained_parameter(n) for n, _ in model.named_parameters() if n.startswith("encoder.")})
        [False]
        >>> model.is_trained_parameter("trainable_prompts.weight")
        True
        """
        if name.startswith(("semantic_adapter.", "acoustic_adapter.", "trainable_prompts.")):
            return True
        return name.startswith("llm.") and "lora_" in name

    def _copy_in(self, state, path):
        """Copy ``state`` into the parameters, after checking every name and shape (nothing is half-loaded)."""
        params = dict(self.named_parameters())
        unknown = sorted(set(state) - set(params))
        if unknown:
            raise ValueError(f"{path}: {len(unknown)} tensors name no parameter of this model: {unknown[:5]}")
        for name, value in state.items():
            if params[name].shape != value.shape:
                raise ValueError(
                    f"{path}: {name} has shape {tuple(value.shape)}, model expects {tuple(params[name].shape)}"
                )
        with torch.no_grad():
            for name, value in state.items():
                params[name].copy_(value)

    def forward(self, wavs, wav_lens, ids, prompt_lengths, splice_at, generator=None, t=None, text_mask=None):
        """The SFT predictions of a batch (:meth:`sft_predictions`); Brains call it through DDP."""
        return self.sft_predictions(
            wavs, wav_lens, ids, prompt_lengths, splice_at, generator=generator, t=t, text_mask=text_mask
        )

    def encode_audio(self, wavs, wav_lens=None):
        """Waveforms to the audio block.

        Arguments
        ---------
        wavs : torch.Tensor
            ``(batch, samples)`` at 16 kHz.
        wav_lens : torch.Tensor
            ``(batch,)`` relative lengths.

        Returns
        -------
        audio : torch.Tensor
            ``(batch, positions, d_model)``: 64 acoustic (or 20 prompt) + T/4 semantic positions.
        lengths : torch.LongTensor
            ``(batch,)`` valid positions (all of them unless ``mask_padding``).
        """
        return self.audio_block(self.encoder(wavs, wav_lens))

    def encode_audio_as_alone(self, wavs, wav_lens=None):
        """Each clip's audio block exactly as a batch of one gives it, padded and masked in place.

        The release decodes one clip at a time. In a batch, :meth:`encode_audio` gives shorter clips
        the encoder's padded frames up to the batch's longest clip, attended to unless
        ``mask_padding`` (as the release trained). For decoding that would make an answer depend on
        the other clips in its batch; here each clip's semantic positions come from its own frames
        only (the semantic adapter runs per clip, on what a batch of one would keep), and the
        lengths mark the rest as padding, so batched answers are the ones decoded alone.

        Arguments and returns are those of :meth:`encode_audio`, except that ``audio`` is zero
        after each clip's own positions and ``lengths`` counts those positions.
        """
        enc = self.encoder(wavs, wav_lens)
        blocks = []
        for i, frames in enumerate(enc.lengths.tolist()):
            # What a batch of one keeps: the clip's own final-layer frames (the taps are full length anyway).
            taps = tuple(t[i : i + 1] for t in enc.taps)
            alone = EncoderOutput(enc.last[i : i + 1, :frames], enc.lengths[i : i + 1], taps)
            blocks.append(self.audio_block(alone)[0][0])
        lengths = torch.tensor([len(b) for b in blocks], dtype=torch.long, device=enc.last.device)
        audio = torch.nn.utils.rnn.pad_sequence(blocks, batch_first=True)
        return audio, lengths

    def audio_block(self, enc, semantic_adapter=None, acoustic_adapter=None):
        """The audio block from encoder output (other adapters may stand in, e.g. a frozen reference).

        Arguments
        ---------
        enc : speechbrain_diffa.whisper.EncoderOutput
            Output of :attr:`encoder`.
        semantic_adapter, acoustic_adapter : torch.nn.Module
            Default: this model's.

        Returns
        -------
        audio, lengths : see :meth:`encode_audio`.
        """
        semantic_adapter = semantic_adapter or self.semantic_adapter
        acoustic_adapter = acoustic_adapter or self.acoustic_adapter
        semantic, semantic_lens = semantic_adapter(enc.last, enc.lengths)
        batch = semantic.shape[0]
        if self.stage == 1:
            front = self.trainable_prompts.weight.unsqueeze(0).expand(batch, -1, -1)
        else:
            front = acoustic_adapter(enc.taps, enc.lengths)
        audio = torch.cat([front.to(semantic.dtype), semantic], dim=1)
        if self.mask_padding:
            lengths = front.shape[1] + semantic_lens
        else:
            lengths = torch.full((batch,), audio.shape[1], dtype=torch.long, device=audio.device)
        return audio.to(self.llm.dtype), lengths

    def splice(self, ids, splice_at, audio, audio_lens, text_mask=None):
        """Insert each item's audio block before ``splice_at`` in its embedded text.

        Arguments
        ---------
        ids : torch.LongTensor
            ``(batch, text_len)``.
        splice_at : torch.LongTensor
            ``(batch,)``.
        audio : torch.Tensor
            ``(batch, positions, d_model)``.
        audio_lens : torch.LongTensor
            ``(batch,)`` valid audio positions. Shorter blocks are padded in place (masked out),
            so every row's text after the audio sits at the same offset, ``+ positions``: the
            answer region stays column-aligned, which the decoder's cache relies on.
        text_mask : torch.Tensor
            ``(batch, text_len)``, 0 on text padding (default: all real).

        Returns
        -------
        SplicedBatch
        """
        batch, text_len = ids.shape
        device = ids.device
        splice_at, audio_lens = splice_at.to(device), audio_lens.to(device)
        text = self.llm.embed(ids)
        col = torch.arange(text_len, device=device)[None, :]
        text_slots = col + (col >= splice_at[:, None]) * audio.shape[1]
        total = text_len + audio.shape[1]
        embeds = text.new_zeros(batch, total, text.shape[-1])
        rows = torch.arange(batch, device=device)[:, None]
        embeds = embeds.index_put((rows.expand_as(text_slots), text_slots), text)
        valid = torch.arange(audio.shape[1], device=device)[None, :] < audio_lens[:, None]
        audio_rows, audio_cols = valid.nonzero(as_tuple=True)
        embeds = embeds.index_put((audio_rows, splice_at[audio_rows] + audio_cols), audio[audio_rows, audio_cols])
        mask = torch.zeros(batch, total, dtype=torch.long, device=device)
        text_mask = torch.ones_like(ids) if text_mask is None else text_mask.long()
        mask.scatter_(1, text_slots, text_mask)
        mask[audio_rows, splice_at[audio_rows] + audio_cols] = 1
        return SplicedBatch(inputs_embeds=embeds, attention_mask=mask, text_slots=text_slots)

    def masked_logits(self, noisy, masked, audio, audio_lens, splice_at, text_mask=None):
        """Logits at the masked text positions only, ``(n_masked, vocab)`` in row-major order."""
        spliced = self.splice(noisy, splice_at, audio, audio_lens, text_mask)
        where = torch.zeros_like(spliced.attention_mask, dtype=torch.bool)
        where.scatter_(1, spliced.text_slots, masked)
        out = self.llm(
            inputs_embeds=spliced.inputs_embeds,
            attention_mask=spliced.attention_mask,
            logits_mask=where,
        )
        return out.logits

    def sft_predictions(self, wavs, wav_lens, ids, prompt_lengths, splice_at, generator=None, t=None, text_mask=None):
        """Mask the answer side of a batch (LLaDA's forward process) and predict the masked tokens.

        Arguments and randomness as :meth:`sft_loss`, which is :func:`sft_objectives` of this.

        Returns
        -------
        SFTPredictions
        """
        if self.llm.is_causal:
            return self._next_token_predictions(wavs, wav_lens, ids, prompt_lengths, splice_at, text_mask)
        answer = answer_mask(ids, prompt_lengths)
        noisy, masked, p = forward_process(ids, answer, self.chat.mask_id, t=t, generator=generator)
        audio, audio_lens = self.encode_audio(wavs, wav_lens)
        logits = self.masked_logits(noisy, masked, audio, audio_lens, splice_at, text_mask)
        rows = masked.nonzero()[:, 0]
        content = self.chat.answer_content(ids, prompt_lengths)[masked]
        return SFTPredictions(logits, ids[masked], p[rows], answer.sum(), content)

    def scored_answer(self, ids, prompt_lengths):
        """``(batch, time)`` True on the answer tokens an autoregressive backbone is scored on.

        The answer side up to and including its first EOS: the EOS padding after it is not text
        a left-to-right model has to write.
        """
        answer = answer_mask(ids, prompt_lengths)
        eos = (ids == self.chat.eos_id) & answer
        return answer & ((eos.long().cumsum(1) - eos.long()) == 0)

    def _next_token_predictions(self, wavs, wav_lens, ids, prompt_lengths, splice_at, text_mask=None):
        """SFT predictions of a causal backbone: each scored answer token from the positions before it.

        With ``p = 1`` for every token, :func:`sft_objectives` is then the mean next-token
        cross-entropy over the answer tokens: the counterpart of the masked-diffusion loss.
        """
        scored = self.scored_answer(ids, prompt_lengths)
        predictors = next_token_predictors(scored)
        audio, audio_lens = self.encode_audio(wavs, wav_lens)
        logits = self.masked_logits(ids, predictors, audio, audio_lens, splice_at, text_mask)
        content = self.chat.answer_content(ids, prompt_lengths)[scored]
        ones = torch.ones(int(scored.sum()), device=logits.device)
        return SFTPredictions(logits, ids[scored], ones, scored.sum(), content)

    def sft_loss(self, wavs, wav_lens, ids, prompt_lengths, splice_at, generator=None, t=None, text_mask=None):
        """Masked-diffusion SFT loss of a batch (only answer-side tokens are masked and scored).

        Arguments
        ---------
        wavs, wav_lens : torch.Tensor
            Audio batch.
        ids : torch.LongTensor
            ``(batch, time)`` from :meth:`ChatLayout.collate_training`.
        prompt_lengths, splice_at : torch.LongTensor
            ``(batch,)``.
        generator : torch.Generator
            Randomness of the forward process.
        t : torch.Tensor
            ``(batch,)`` fixed timesteps (default: t ~ U(0, 1)), e.g. for a steady validation loss.
        text_mask : torch.Tensor
            ``(batch, time)``, 0 on left padding (:meth:`ChatLayout.align_answers`); default all real.

        Returns
        -------
        loss : torch.Tensor
            Scalar.
        accuracy : torch.Tensor
            Masked-token accuracy (detached).
        answer_accuracy : torch.Tensor
            Accuracy on the masked tokens of the answers themselves (detached; NaN when none was
            masked). Most answer-side tokens are the assistant header, EOT and EOS padding, which
            are easy, so ``accuracy`` can be high while the answers are still wrong.
        """
        return sft_objectives(
            self.sft_predictions(wavs, wav_lens, ids, prompt_lengths, splice_at, generator, t, text_mask)
        )

    def elbo_scorer(self, audio, audio_lens, splice_at):
        """A ``scorer(noisy, masked) -> logits`` for :func:`~speechbrain_diffa.diffusion.monte_carlo_elbos`."""
        return lambda noisy, masked: self.masked_logits(noisy, masked, audio, audio_lens, splice_at)

    def elbo(self, wavs, wav_lens, ids, prompt_lengths, splice_at, num_samples=4, generator=None):
        """Monte-Carlo ELBO ``(batch,)`` of each answer given its audio and prompt (exact log-likelihood, causal)."""
        if self.llm.is_causal:
            return self.log_likelihood(wavs, wav_lens, ids, prompt_lengths, splice_at)
        answer = answer_mask(ids, prompt_lengths)
        audio, audio_lens = self.encode_audio(wavs, wav_lens)
        scorer = self.elbo_scorer(audio, audio_lens, splice_at)
        (elbo,) = monte_carlo_elbos([scorer], ids, answer, self.chat.mask_id, num_samples, generator)
        return elbo

    def log_likelihood(self, wavs, wav_lens, ids, prompt_lengths, splice_at):
        """``(batch,)`` log-probability of each answer (through its first EOS) under a causal backbone."""
        audio, audio_lens = self.encode_audio(wavs, wav_lens)
        scorer = self.elbo_scorer(audio, audio_lens, splice_at)
        (logp,) = exact_log_likelihoods([scorer], ids, self.scored_answer(ids, prompt_lengths))
        return logp

    @torch.no_grad()
    def answer(self, wavs, wav_lens, questions, **decoding):
        """Answer one question per clip, decoded with the ``"answer"`` preset unless told otherwise.

        Arguments
        ---------
        wavs, wav_lens : torch.Tensor
            Audio batch.
        questions : list of str
            One question per clip.
        **decoding
            :func:`~speechbrain_diffa.sampling.generate` options over the ``"answer"`` preset of
            :mod:`speechbrain_diffa.decoding_presets` (``**preset("answer-reference")``: the reference sampler).

        Returns
        -------
        list of str
        """
        check_audio_batch(wavs, wav_lens)
        if isinstance(questions, str) or not isinstance(questions, (list, tuple)):
            raise TypeError(f"questions must be a list of str (one per clip), got {type(questions).__name__}")
        if len(questions) != wavs.shape[0]:
            raise ValueError(f"{len(questions)} questions for {wavs.shape[0]} audio clips")
        decoding = preset("answer", **decoding)
        gen_length = decoding["gen_length"]
        prompts = [self.chat.prompt(q, system_prompt=self.answer_system_prompt) for q in questions]
        audio, audio_lens = self.encode_audio_as_alone(wavs, wav_lens)
        ids, mask, splice_at = self.chat.collate_prompts(prompts)
        positions, limit = ids.shape[1] + audio.shape[1] + gen_length, self.llm.config.max_position_embeddings
        if positions > limit:
            raise ValueError(
                f"The prompt ({ids.shape[1]} tokens), audio ({audio.shape[1]} positions) and answer ({gen_length} "
                f"tokens) make {positions} positions, over the model's {limit}: shorten the question"
            )
        device = audio.device
        ids, mask = ids.to(device), mask.to(device)
        if self.llm.is_causal:
            return self._answer_left_to_right(ids, mask, splice_at, audio, audio_lens, gen_length)
        lm = AudioConditionedLM(self, audio, audio_lens, splice_at)
        out = generate(
            lm,
            ids,
            mask_id=self.chat.mask_id,
            eos_id=self.chat.eos_id,
            eot_id=self.chat.eot_id,
            attention_mask=None if bool(mask.all()) else mask,
            **decoding,
        )
        return [self.chat.decode_answer(row.tolist()) for row in out[:, ids.shape[1] :]]

    def _answer_left_to_right(self, ids, mask, splice_at, audio, audio_lens, gen_length):
        """Greedy decoding with a KV cache (a causal backbone): up to ``gen_length`` tokens, stopping at EOS/EOT."""
        spliced = self.splice(ids, splice_at, audio, audio_lens, mask)
        attention = spliced.attention_mask
        last = torch.full((ids.shape[0], 1), attention.shape[1] - 1, device=ids.device)  # prompts are left-padded
        out = self.llm(inputs_embeds=spliced.inputs_embeds, attention_mask=attention, use_cache=True, logits_index=last)
        stops = torch.tensor([self.chat.eos_id, self.chat.eot_id], device=ids.device)
        tokens, done = [], torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
        for _ in range(gen_length):
            next_ids = out.logits[:, -1].argmax(-1)
            next_ids = torch.where(done, torch.full_like(next_ids, self.chat.eos_id), next_ids)
            tokens.append(next_ids)
            done |= torch.isin(next_ids, stops)
            if bool(done.all()):
                break
            attention = torch.cat([attention, torch.ones_like(attention[:, :1])], 1)
            out = self.llm(
                inputs_embeds=self.llm.embed(next_ids[:, None]),
                attention_mask=attention,
                cache=out.cache,
                use_cache=True,
            )
        return [self.chat.decode_answer(row.tolist()) for row in torch.stack(tokens, 1)]


class SFTPredictions(NamedTuple):
    """What :meth:`DIFFA2Model.sft_predictions` predicts: the masked tokens and what weighs them.

    A tuple, so DDP finds its tensors. ``logits`` ``(n_masked, vocab)`` and ``targets``
    ``(n_masked,)`` at the masked positions; ``p`` ``(n_masked,)`` the masking probability of each
    token's sequence; ``num_answer_tokens`` the answer-side tokens of the batch (the loss's
    denominator); ``content`` ``(n_masked,)`` True where the target is answer text (not the header,
    EOT or EOS padding).
    """

    logits: torch.Tensor
    targets: torch.Tensor
    p: torch.Tensor
    num_answer_tokens: torch.Tensor
    content: torch.Tensor


def sft_objectives(predictions):
    """The masked-diffusion SFT loss of :class:`SFTPredictions`, and two accuracies.

    Arguments
    ---------
    predictions : SFTPredictions

    Returns
    -------
    loss : torch.Tensor
        Scalar (:func:`~speechbrain_diffa.diffusion.masked_diffusion_loss`).
    accuracy : torch.Tensor
        Masked-token accuracy (detached).
    answer_accuracy : torch.Tensor
        Accuracy on the masked answer-text tokens (detached; NaN when none was masked).

    Example
    -------
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    >>> predictions = SFTPredictions(logits, torch.tensor([0, 0]), torch.ones(2), torch.tensor(2),
    ...                              torch.tensor([True, False]))
    >>> loss, accuracy, answer_accuracy = sft_objectives(predictions)
    >>> float(accuracy), float(answer_accuracy)
    (0.5, 1.0)
    """
    logits, targets, p, num_answer_tokens, content = predictions
    loss = masked_diffusion_loss(logits, targets, p, num_answer_tokens)
    hits = (logits.argmax(-1) == targets).float().detach()
    accuracy = hits.mean() if len(targets) else loss.new_zeros(())
    answer_accuracy = hits[content].mean() if bool(content.any()) else loss.new_tensor(float("nan"))
    return loss, accuracy, answer_accuracy


class AudioConditionedLM:
    """``lm(ids, attention_mask=None).logits``: LLaDA on ``ids`` with a fixed audio block spliced in.

    This is how the one sampler in :mod:`speechbrain_diffa.sampling` decodes with audio: it sees a
    text-only model whose logits cover the text positions; the audio positions are added here and
    never reach the sampler. Batches of 2x the audio batch (classifier-free guidance) reuse the audio.

    Arguments
    ---------
    model : DIFFA2Model
    audio : torch.Tensor
        ``(batch, positions, d_model)`` from :meth:`DIFFA2Model.encode_audio`.
    audio_lens : torch.LongTensor
        ``(batch,)``.
    splice_at : torch.LongTensor
        ``(batch,)`` in the (padded) text rows.
    """

    def __init__(self, model, audio, audio_lens, splice_at):
        self.model = model
        self.audio = audio
        self.audio_lens = audio_lens
        self.splice_at = splice_at

    @property
    def llm(self):
        """The LLaDA backbone."""
        return self.model.llm

    def _splice(self, ids, attention_mask):
        repeat = ids.shape[0] // self.audio.shape[0]
        return self.model.splice(
            ids,
            self.splice_at.repeat(repeat),
            self.audio.repeat(repeat, 1, 1),
            self.audio_lens.repeat(repeat),
            attention_mask,
        )

    def prepare_inputs(self, ids, attention_mask=None):
        """Inputs for the decoder's block runner: embeddings, key mask, and the answer offset.

        Text after the audio block sits ``positions`` further in the sequence than in ``ids``.
        """
        spliced = self._splice(ids, attention_mask)
        return spliced.inputs_embeds, spliced.attention_mask, self.audio.shape[1]

    def __call__(self, ids, attention_mask=None):
        """Logits ``(batch, text_len, vocab)`` at the text positions."""
        spliced = self._splice(ids, attention_mask)
        mask = None if bool(spliced.attention_mask.all()) else spliced.attention_mask
        return self.model.llm(inputs_embeds=spliced.inputs_embeds, attention_mask=mask, logits_index=spliced.text_slots)
