"""Stage 4: a trainable policy and a frozen reference scored on the same masks (VRPO).

The reference is the stage-3 model, frozen. Two forms give the same numbers:

- ``shared_base=True`` (default, the memory-saving form): one LLaDA base holds two LoRA adapters,
  the trainable policy's (``default``) and a frozen copy (``reference``), and the reference
  adds only a copy of the two small audio adapters. At 8B this saves a second 16 GB backbone.
- ``shared_base=False``: a full frozen copy of the stage-3 model, as the release does.

Authors
 * speechbrain_diffa contributors 2026
"""

import contextlib
import copy

import torch

from speechbrain_diffa.autoregressive import exact_log_likelihoods
from speechbrain_diffa.diffusion import answer_mask, monte_carlo_elbos

REFERENCE_ADAPTER = "reference"  # name of the frozen LoRA in the shared-base form
POLICY_ADAPTER = "default"  # PEFT's name for the first (trainable) LoRA


class PreferenceModel(torch.nn.Module):
    """Policy and frozen reference ELBOs of chosen and rejected answers, masks shared.

    Arguments
    ---------
    policy : speechbrain_diffa.model.DIFFA2Model
        The model being trained (stage 4, with LoRA).
    shared_base : bool
        Keep one LLaDA base with a second, frozen LoRA for the reference (see module docs).
    num_samples : int
        Monte-Carlo draws per ELBO (DIFFA-2: 4).

    Example
    -------
    >>> from speechbrain_diffa.demo.tiny_models import make_tiny_diffa2
    >>> model = PreferenceModel(make_tiny_diffa2(getfixture("tmpdir"), stage=4), num_samples=2)
    >>> model.freeze_reference()
    >>> _ = model.eval()  # no dropout: the policy equals its snapshot
    >>> chat = model.policy.chat
    >>> good, bad = chat.training_example("Beeps?", "two"), chat.training_example("Beeps?", "five")
    >>> ids, plen, at = chat.collate_training([good, bad])
    >>> elbos = model(torch.randn(1, 8000) * 0.1, torch.ones(1), ids[:1], ids[1:], plen[:1], at[:1])
    >>> bool(torch.allclose(elbos["policy_chosen"], elbos["reference_chosen"]))
    True
    """

    def __init__(self, policy, shared_base=True, num_samples=4):
        super().__init__()
        self.policy = policy
        self.shared_base = shared_base
        self.num_samples = num_samples
        self.reference = None
        self.reference_semantic = None
        self.reference_acoustic = None

    def freeze_reference(self):
        """Snapshot the policy as it is now (the loaded stage-3 model) as the frozen reference."""
        if self.shared_base:
            self.reference_semantic = _frozen_copy(self.policy.semantic_adapter)
            self.reference_acoustic = _frozen_copy(self.policy.acoustic_adapter)
            peft_model = self.policy.llm.llm
            if not hasattr(peft_model, "add_adapter") or POLICY_ADAPTER not in peft_model.peft_config:
                raise ValueError("The shared-base reference needs a policy LLM with PEFT LoRA (stage 4)")
            peft_model.add_adapter(REFERENCE_ADAPTER, peft_model.peft_config[POLICY_ADAPTER])
            params = dict(peft_model.named_parameters())
            tag, ref_tag = f".{POLICY_ADAPTER}.", f".{REFERENCE_ADAPTER}."
            with torch.no_grad():
                for name, param in params.items():
                    if "lora_" in name and tag in name:
                        params[name.replace(tag, ref_tag)].copy_(param)
            for name, param in params.items():
                if ref_tag in name:
                    param.requires_grad_(False)
        else:
            self.reference = _frozen_copy(self.policy)
        self.train(self.training)

    def train(self, mode=True):
        """Train the policy; the reference always runs in eval mode (no dropout)."""
        super().train(mode)
        for module in self._reference_modules():
            module.eval()
        return self

    def _reference_modules(self):
        if self.reference is not None:
            return [self.reference]
        modules = [m for m in (self.reference_semantic, self.reference_acoustic) if m is not None]
        suffix = f"lora_dropout.{REFERENCE_ADAPTER}"
        return modules + [m for n, m in self.policy.llm.named_modules() if n.endswith(suffix)]

    @contextlib.contextmanager
    def _reference_lora(self):
        peft_model = self.policy.llm.llm
        peft_model.set_adapter(REFERENCE_ADAPTER, inference_mode=True)
        try:
            yield
        finally:
            # set_adapter marks the active adapter trainable again: what stage 4 trains.
            peft_model.set_adapter(POLICY_ADAPTER)

    def _scorers(self, enc, splice_at):
        policy = self.policy
        audio, lens = policy.audio_block(enc)
        with torch.no_grad():
            if self.reference is not None:
                ref_audio, ref_lens = self.reference.audio_block(enc)
            else:
                ref_audio, ref_lens = policy.audio_block(enc, self.reference_semantic, self.reference_acoustic)

        def reference_scorer(noisy, masked):
            """Masked logits of the frozen reference (its own model, or the policy with the reference LoRA), no grad."""
            with torch.no_grad():
                if self.reference is not None:
                    return self.reference.masked_logits(noisy, masked, ref_audio, ref_lens, splice_at)
                with self._reference_lora():
                    return policy.masked_logits(noisy, masked, ref_audio, ref_lens, splice_at)

        return [policy.elbo_scorer(audio, lens, splice_at), reference_scorer]

    def forward(self, wavs, wav_lens, chosen_ids, rejected_ids, prompt_lengths, splice_at, generator=None):
        """ELBOs ``(batch,)`` of chosen and rejected answers under the policy and the reference.

        Arguments
        ---------
        wavs, wav_lens : torch.Tensor
            Audio batch.
        chosen_ids, rejected_ids : torch.LongTensor
            ``(batch, time)`` full chat sequences (EOS right-padded), same prompt.
        prompt_lengths, splice_at : torch.LongTensor
            ``(batch,)``, shared by both sequences.
        generator : torch.Generator or list of torch.Generator
            Randomness of the Monte-Carlo masks.

        Returns
        -------
        dict
            ``policy_chosen``, ``reference_chosen``, ``policy_rejected``, ``reference_rejected``.
        """
        if self.reference is None and self.reference_semantic is None:
            raise RuntimeError("Call freeze_reference() after loading the stage-3 model")
        with torch.no_grad():
            enc = self.policy.encoder(wavs, wav_lens)
        scorers = self._scorers(enc, splice_at)
        mask_id = self.policy.chat.mask_id
        out = {}
        for name, ids in (("chosen", chosen_ids), ("rejected", rejected_ids)):
            if self.policy.llm.is_causal:  # the autoregressive control: DPO on exact log-likelihoods
                scored = self.policy.scored_answer(ids, prompt_lengths)
                policy, reference = exact_log_likelihoods(scorers, ids, scored)
            else:
                answer = answer_mask(ids, prompt_lengths)
                policy, reference = monte_carlo_elbos(scorers, ids, answer, mask_id, self.num_samples, generator)
            out[f"policy_{name}"], out[f"reference_{name}"] = policy, reference
        return out


def _frozen_copy(module):
    clone = copy.deepcopy(module)
    clone.requires_grad_(False)
    return clone.eval()
