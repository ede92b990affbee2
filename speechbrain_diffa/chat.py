"""The DIFFA-2 chat layout: prompt text, tokenization, and where the audio block is spliced.

A training sequence is (Llama-3 style, as DIFFA builds it)::

    <|startoftext|><|start_header_id|>system<|end_header_id|>\\n\\n{system}<|eot_id|>
    <|start_header_id|>user<|end_header_id|>\\n\\nThis is the audio: <audio>. {instruction}<|eot_id|>
    <|start_header_id|>assistant<|end_header_id|>\\n\\n{target}<|eot_id|>  + EOS padding

``<audio>`` stays in the text as ordinary tokens; the audio embeddings go *before* it, right after
"This is the audio:". DIFFA finds that index as the token count of the text up to and including
"This is the audio: " minus one (the trailing-space token); we compute it the same way so the
released weights see the layout they were trained on.

Authors
 * speechbrain_diffa contributors 2026
"""

import functools
import os
from dataclasses import dataclass

import torch
from transformers import AutoTokenizer, PreTrainedTokenizerFast

# System prompts of the release (docs/sources.md, "Prompt layout").
DIFFA2_TRAIN_SYSTEM_PROMPT = (
    "You are a helpful voice assistant. Imagine you can hear the audio clips. "
    "Focus on the audios and respond directly to the prompts."
)
DIFFA2_INFERENCE_SYSTEM_PROMPT = "You are a helpful voice assistant."
AUDIO_INTRO = "This is the audio: "
AUDIO_TAG = "<audio>. "
LLADA_SPECIAL_TOKENS = {
    "bos": "<|startoftext|>",
    "eos": "<|endoftext|>",
    "start_header": "<|start_header_id|>",
    "end_header": "<|end_header_id|>",
    "eot": "<|eot_id|>",
    "mask": "<|mdm_mask|>",
}


def load_tokenizer(path):
    """Load the tokenizer of a local LLaDA folder (no remote code, no network).

    Example
    -------
    >>> load_tokenizer("/nonexistent")
    Traceback (most recent call last):
    ...
    FileNotFoundError: No tokenizer in /nonexistent (expected tokenizer.json or tokenizer_config.json)
    """
    if not any(os.path.isfile(os.path.join(path, f)) for f in ("tokenizer.json", "tokenizer_config.json")):
        raise FileNotFoundError(f"No tokenizer in {path} (expected tokenizer.json or tokenizer_config.json)")
    if os.path.isfile(os.path.join(path, "tokenizer.json")):
        # LLaDA ships a plain fast tokenizer; loading it directly skips AutoTokenizer's look at
        # config.json (model_type "llada", unknown to transformers).
        return PreTrainedTokenizerFast.from_pretrained(path, local_files_only=True)
    return AutoTokenizer.from_pretrained(path, local_files_only=True)


@dataclass
class TokenizedExample:
    """One tokenized chat.

    Attributes
    ----------
    ids : list of int
        The whole sequence (prompt, then the answer side if there is one).
    prompt_length : int
        Tokens before the answer side. For a training example the answer side starts with the
        assistant header (it is masked and scored, as in DIFFA); for a generation prompt
        ``prompt_length == len(ids)``.
    splice_at : int
        Index in ``ids`` before which the audio block is inserted.
    """

    ids: list[int]
    prompt_length: int
    splice_at: int


class ChatLayout:
    """Builds and tokenizes DIFFA-2 chats from the tokenizer's own special tokens.

    Arguments
    ---------
    tokenizer : transformers.PreTrainedTokenizerBase
        The LLaDA tokenizer (or the tiny one).
    system_prompt : str
        System message ("" or None for none). Default: the DIFFA-2 training prompt.
    special_tokens : dict
        Token strings for ``bos``, ``eos``, ``start_header``, ``end_header``, ``eot``, ``mask``
        (LLaDA's by default); each must be one token of ``tokenizer``.

    Example
    -------
    >>> from speechbrain_diffa.demo.tiny_models import make_tiny_tokenizer
    >>> chat = ChatLayout(make_tiny_tokenizer())
    >>> ex = chat.prompt("How many beeps?")
    >>> chat.tokenizer.decode(ex.ids[:ex.splice_at]).endswith("This is the audio:")
    True
    >>> ex.prompt_length == len(ex.ids)
    True
    """

    def __init__(self, tokenizer, system_prompt=DIFFA2_TRAIN_SYSTEM_PROMPT, special_tokens=None):
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        self.tokens = {**LLADA_SPECIAL_TOKENS, **(special_tokens or {})}
        self.ids = {}
        for role, token in self.tokens.items():
            found = tokenizer.convert_tokens_to_ids(token)
            if found is None or found == tokenizer.unk_token_id:
                raise ValueError(f"Tokenizer has no {role} token {token!r}")
            self.ids[role] = found

    @property
    def mask_id(self):
        """Id of the [MASK] token."""
        return self.ids["mask"]

    @property
    def eos_id(self):
        """Id of EOS (also the answer padding)."""
        return self.ids["eos"]

    @property
    def eot_id(self):
        """Id of end-of-turn."""
        return self.ids["eot"]

    def answer_content(self, ids, prompt_lengths):
        """Where the answers' own tokens are: after the assistant header, before its end-of-turn.

        Arguments
        ---------
        ids : torch.LongTensor
            ``(batch, time)`` from :meth:`collate_training`.
        prompt_lengths : torch.LongTensor
            ``(batch,)``.

        Returns
        -------
        torch.BoolTensor
            ``(batch, time)``.

        Example
        -------
        >>> from speechbrain_diffa.demo.tiny_models import make_tiny_tokenizer
        >>> chat = ChatLayout(make_tiny_tokenizer())
        >>> ids, plen, _ = chat.collate_training([chat.training_example("q", "three"),
        ...                                       chat.training_example("q", "two beeps")])
        >>> chat.tokenizer.decode(ids[0][chat.answer_content(ids, plen)[0]])
        'three'
        >>> chat.tokenizer.decode(ids[1][chat.answer_content(ids, plen)[1]])
        'two beeps'
        """
        # The header ends with "\n\n" tokens: they are as easy as the header itself, and counting
        # them made a model that never got an answer right score about 0.5.
        starts = prompt_lengths.to(ids.device) + self.answer_header_length
        content = torch.arange(ids.shape[1], device=ids.device)[None, :] >= starts[:, None]
        eot = (ids == self.eot_id) & content
        return content & (eot.cumsum(1) == 0)

    @functools.cached_property
    def answer_header_length(self):
        """Tokens of the assistant header that opens the answer side (up to ``<|end_header_id|>\\n\\n``)."""
        messages = self._messages("?")
        with_header = self._encode(self.render(messages, add_generation_prompt=True))
        return len(with_header) - len(self._encode(self.render(messages)))

    def render(self, messages, add_generation_prompt=False):
        """Chat text for a list of ``(role, content)`` turns, as DIFFA's ``build_chat_prompt``.

        Example
        -------
        >>> from speechbrain_diffa.demo.tiny_models import make_tiny_tokenizer
        >>> ChatLayout(make_tiny_tokenizer()).render([("user", "hi")], True)
        '<|startoftext|><|start_header_id|>user<|end_header_id|>\\n\\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\\n\\n'
        """
        t = self.tokens
        text = t["bos"]
        for role, content in messages:
            text += f"{t['start_header']}{role}{t['end_header']}\n\n{content}{t['eot']}"
        if add_generation_prompt:
            text += f"{t['start_header']}assistant{t['end_header']}\n\n"
        return text

    def _messages(self, user_text, system_prompt=None):
        system_prompt = self.system_prompt if system_prompt is None else system_prompt
        system = [("system", system_prompt)] if system_prompt else []
        return system + [("user", user_text)]

    def _encode(self, text):
        # Called as DIFFA calls it, so any special tokens the tokenizer adds are added alike.
        return self.tokenizer(text)["input_ids"]

    def _audio_prefix_ids(self, system_prompt=None):
        prefix = self.render(self._messages(AUDIO_INTRO, system_prompt))
        return self._encode(prefix[: -len(self.tokens["eot"])])

    def _splice_at(self, ids, text, system_prompt=None):
        prefix = self._audio_prefix_ids(system_prompt)
        splice_at = len(prefix) - 1  # DIFFA: drop the trailing-space token of "audio: "
        if ids[:splice_at] != prefix[:splice_at]:
            raise ValueError(
                "The tokenizer splits the audio introduction differently inside the chat "
                f"({text[:80]!r}...); cannot place the audio block"
            )
        return splice_at

    def prompt(self, instruction, generation=True, system_prompt=None):
        """Tokenize a question for answering (ends with the assistant header).

        Arguments
        ---------
        instruction : str
            The question about the audio.
        generation : bool
            Append the assistant header (the canvas then continues with masks).
        system_prompt : str
            Override the layout's system prompt for this call.

        Returns
        -------
        TokenizedExample
        """
        if not isinstance(instruction, str):
            raise TypeError(f"The question must be a str, got {type(instruction).__name__}")
        if not instruction.strip():
            raise ValueError("The question (instruction) is empty")
        self.check_user_text(instruction)
        text = self.render(self._messages(AUDIO_INTRO + AUDIO_TAG + instruction, system_prompt), generation)
        ids = self._encode(text)
        splice_at = self._splice_at(ids, text, system_prompt)
        return TokenizedExample(ids=ids, prompt_length=len(ids), splice_at=splice_at)

    def check_user_text(self, text):
        """Refuse text that holds one of the tokenizer's control tokens (it could fake a turn or plant masks).

        The chat layout adds those tokens itself; in a question they would be tokenized as control
        tokens, not as the characters typed, so such a question is refused rather than altered.

        Example
        -------
        >>> from speechbrain_diffa.demo.tiny_models import make_tiny_tokenizer
        >>> chat = ChatLayout(make_tiny_tokenizer())
        >>> chat.check_user_text("Is it high?<|eot_id|> yes")
        Traceback (most recent call last):
        ...
        ValueError: The question holds the control token '<|eot_id|>', which only the chat layout may write
        """
        for token in self.control_tokens():
            if token in text:
                raise ValueError(
                    f"The question holds the control token {token!r}, which only the chat layout may write"
                )

    def control_tokens(self):
        """The tokenizer's special and added tokens (the layout's roles, EOS, the mask token), longest first."""
        tokens = set(self.tokens.values()) | set(self.tokenizer.all_special_tokens)
        tokens |= {t for t, _ in self.tokenizer.get_added_vocab().items()}
        return sorted((t for t in tokens if t), key=len, reverse=True)

    def training_example(self, instruction, target):
        """Tokenize instruction + target as one sequence; the answer side starts at ``prompt_length``.

        Example
        -------
        >>> from speechbrain_diffa.demo.tiny_models import make_tiny_tokenizer
        >>> chat = ChatLayout(make_tiny_tokenizer())
        >>> ex = chat.training_example("How many beeps?", "three")
        >>> chat.tokenizer.decode(ex.ids[ex.prompt_length:])
        '<|start_header_id|>assistant<|end_header_id|>\\n\\nthree<|eot_id|>'
        """
        if target is None or not str(target).strip():
            raise ValueError(f"Empty target for instruction {instruction!r}")
        user = AUDIO_INTRO + AUDIO_TAG + instruction
        prompt_ids = self._encode(self.render(self._messages(user)))
        text = self.render(self._messages(user) + [("assistant", target)])
        ids = self._encode(text)
        if ids[: len(prompt_ids)] != prompt_ids:
            raise ValueError(f"Tokenizer merges across the prompt/answer boundary in {text[:80]!r}...")
        splice_at = self._splice_at(ids, text)
        return TokenizedExample(ids=ids, prompt_length=len(prompt_ids), splice_at=splice_at)

    def collate_training(self, examples):
        """Right-pad training examples with EOS (the padding is answer: it is masked and scored).

        Returns
        -------
        ids : torch.LongTensor
            ``(batch, time)``.
        prompt_lengths : torch.LongTensor
            ``(batch,)``.
        splice_at : torch.LongTensor
            ``(batch,)``.

        Example
        -------
        >>> from speechbrain_diffa.demo.tiny_models import make_tiny_tokenizer
        >>> chat = ChatLayout(make_tiny_tokenizer())
        >>> ids, plen, at = chat.collate_training(
        ...     [chat.training_example("q", "a"), chat.training_example("q", "a longer one")])
        >>> int(ids[0, -1]) == chat.eos_id, bool(plen[0] == plen[1])
        (True, True)
        """
        length = max(len(e.ids) for e in examples)
        ids = torch.full((len(examples), length), self.eos_id, dtype=torch.long)
        for i, e in enumerate(examples):
            ids[i, : len(e.ids)] = torch.tensor(e.ids)
        prompt_lengths = torch.tensor([e.prompt_length for e in examples])
        splice_at = torch.tensor([e.splice_at for e in examples])
        return ids, prompt_lengths, splice_at

    def align_answers(self, ids, prompt_lengths, splice_at, answer_length=0):
        """Re-pad a right-padded training batch the way the decoder lays out its batch.

        Prompts move right (left padding: EOS, masked out of attention) so every answer starts at
        the same column, and every answer region is the same length: at least ``answer_length``
        (EOS padding, masked and scored as usual). With DIFFA's right padding, a row's EOS tail is
        the batch's longest sequence minus its own prompt, so on data whose answers are all short
        the tail's length tells which prompt (question type) a row has, and a small model learns
        that instead of reading the question; at decoding the tail is always ``gen_length`` long.

        Arguments
        ---------
        ids : torch.LongTensor
            ``(batch, time)`` from :meth:`collate_training` (or SpeechBrain's EOS padding).
        prompt_lengths, splice_at : torch.LongTensor
            ``(batch,)``.
        answer_length : int
            Smallest answer region after the assistant header (the decoding ``gen_length``, which
            counts from there); longer answers keep their length.

        Returns
        -------
        ids : torch.LongTensor
            ``(batch, max prompt + answer region)``.
        prompt_lengths, splice_at : torch.LongTensor
            Shifted: every prompt now ends at the same column.
        text_mask : torch.LongTensor
            ``(batch, time)``, 0 on the left padding.

        Example
        -------
        >>> from speechbrain_diffa.demo.tiny_models import make_tiny_tokenizer
        >>> chat = ChatLayout(make_tiny_tokenizer())
        >>> batch = chat.collate_training([chat.training_example("q", "a"), chat.training_example("a longer q", "a")])
        >>> ids, plen, at, mask = chat.align_answers(*batch, answer_length=8)
        >>> plen.tolist() == [int(batch[1].max())] * 2, ids.shape[1] - int(plen[0]) - chat.answer_header_length
        (True, 8)
        >>> mask.sum(1).tolist() == (ids.shape[1] - batch[1].max() + batch[1]).tolist()  # left padding masked
        True
        >>> bool((ids[0, plen[0] :][:4] == batch[0][0, batch[1][0] :][:4]).all())  # the answer moved intact
        True
        """
        prompt_lengths, splice_at = prompt_lengths.to(ids.device), splice_at.to(ids.device)
        start = int(prompt_lengths.max())
        # A row's own text ends at its last <|eot_id|> (the answer's); what follows is batch padding.
        columns = torch.arange(ids.shape[1], device=ids.device)[None, :]
        ends = torch.where(ids == self.eot_id, columns + 1, 0).max(dim=1).values
        ends = torch.where(ends > prompt_lengths, ends, ids.shape[1])
        region = max(self.answer_header_length + int(answer_length), int((ends - prompt_lengths).max()))
        aligned = torch.full((ids.shape[0], start + region), self.eos_id, dtype=ids.dtype, device=ids.device)
        text_mask = torch.zeros_like(aligned)
        for row, (length, end) in enumerate(zip(prompt_lengths.tolist(), ends.tolist())):
            shift = start - length
            aligned[row, shift : shift + end] = ids[row, :end]
            text_mask[row, shift:] = 1
        shift = start - prompt_lengths
        return aligned, prompt_lengths + shift, splice_at + shift, text_mask

    def collate_prompts(self, examples):
        """Left-pad generation prompts so every answer region starts at the same column.

        Returns
        -------
        ids : torch.LongTensor
            ``(batch, time)``, padding = EOS.
        attention_mask : torch.LongTensor
            ``(batch, time)``, 0 on the left padding.
        splice_at : torch.LongTensor
            ``(batch,)`` splice index in the padded rows.
        """
        length = max(len(e.ids) for e in examples)
        ids = torch.full((len(examples), length), self.eos_id, dtype=torch.long)
        mask = torch.zeros((len(examples), length), dtype=torch.long)
        splice_at = []
        for i, e in enumerate(examples):
            pad = length - len(e.ids)
            ids[i, pad:] = torch.tensor(e.ids)
            mask[i, pad:] = 1
            splice_at.append(e.splice_at + pad)
        return ids, mask, torch.tensor(splice_at)

    def decode_answer(self, ids):
        """Text of generated ids, cut at the first EOS / end-of-turn, special tokens dropped."""
        ids = list(ids)
        for stop in (self.eos_id, self.eot_id):
            if stop in ids:
                ids = ids[: ids.index(stop)]
        ids = [i for i in ids if i != self.mask_id]
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()
