"""Tiny offline stand-ins for the real models: tokenizer, LLaDA folder and Whisper folder.

Everything is built locally in seconds, in the same directory layouts as the releases
(``GSAI-ML/LLaDA-8B-Instruct``, ``openai/whisper-*``), so tests and the demo load them through
exactly the code paths the real models use, and never touch the network.

Authors
 * speechbrain_diffa contributors 2026
"""

import os

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    PreTrainedTokenizerFast,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
)

from speechbrain_diffa.llada import LLaDA

# LLaDA's special tokens, in the order of the release (BOS, EOS/pad, headers, eot, mask).
SPECIAL_TOKENS = {
    "bos": "<|startoftext|>",
    "eos": "<|endoftext|>",
    "start_header": "<|start_header_id|>",
    "end_header": "<|end_header_id|>",
    "eot": "<|eot_id|>",
    "mask": "<|mdm_mask|>",
}

# Text the tiny BPE is trained on: chat scaffolding and the words of the demo's audio questions.
_TRAINING_TEXT = """
system user assistant audio
You are a helpful voice assistant. Imagine you can hear the audio clips. Focus on the audios and
respond directly to the prompts. This is the audio: <audio>. Please transcribe the audio to text.
What can you hear from the audio? Choose the best answer based only on the speech content and style.
Question: Choices: Answer: A. B. C. D. E. (A) (B) (C) (D)
How many beeps are there? one two three four five six seven eight nine ten zero
Is the sound getting louder or quieter? louder quieter rising falling high low pitch
Is it a tone or noise? tone noise chirp melody music speech sound beep beeps
Is the melody rising or falling? Is the tempo fast or slow? major minor chord
Who is speaking, a man or a woman? male female man woman speaker voice fast slow speed
What happens first? first second then after before the a an of and or is it in on to
yes no the quick brown fox jumps over the lazy dog 0 1 2 3 4 5 6 7 8 9
"""


def make_tiny_tokenizer(path=None, vocab_size=512, texts=()):
    """A byte-level BPE tokenizer with LLaDA's special-token layout.

    Like the release, the special tokens sit after the ordinary vocabulary, the tokenizer does
    not add BOS by itself, and EOS doubles as padding.

    Arguments
    ---------
    path : str
        If given, save it there (``tokenizer.json`` + ``tokenizer_config.json``).
    vocab_size : int
        Size of the BPE vocabulary before the special tokens.
    texts : list of str
        More text to learn merges from, besides the chat scaffolding and demo questions.

    Returns
    -------
    transformers.PreTrainedTokenizerFast

    Example
    -------
    >>> tok = make_tiny_tokenizer()
    >>> ids = tok("This is the audio: <audio>.")["input_ids"]
    >>> tok.decode(ids)
    'This is the audio: <audio>.'
    >>> tok.convert_ids_to_tokens(tok.pad_token_id) == tok.eos_token
    True
    """
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_TRAINING_TEXT.split("\n") + list(texts), trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=SPECIAL_TOKENS["bos"],
        eos_token=SPECIAL_TOKENS["eos"],
        pad_token=SPECIAL_TOKENS["eos"],
        mask_token=SPECIAL_TOKENS["mask"],
        additional_special_tokens=[SPECIAL_TOKENS[k] for k in ("start_header", "end_header", "eot")],
    )
    if path is not None:
        tok.save_pretrained(path)
    return tok


def tiny_llada_config(tokenizer, d_model=64, n_layers=2, n_heads=4, mlp_ratio=3, init_std=0.2):
    """A LLaDA ``config.json`` (release keys) sized for tests, with ids from ``tokenizer``.

    Example
    -------
    >>> cfg = tiny_llada_config(make_tiny_tokenizer())
    >>> cfg["block_type"], cfg["d_model"], cfg["vocab_size"] == cfg["embedding_size"]
    ('llama', 64, True)
    """
    vocab = len(tokenizer)
    return {
        "architectures": ["LLaDAModelLM"],
        "model_type": "llada",
        "activation_type": "silu",
        "alibi": False,
        "attention_dropout": 0.0,
        "attention_layer_norm": False,
        "block_type": "llama",
        "d_model": d_model,
        "embedding_size": vocab,
        "include_bias": False,
        "init_std": init_std,  # default 0.2 > LLaDA's 0.02, so a frozen *random* head can still be confident
        "layer_norm_type": "rms",
        "max_sequence_length": 4096,
        "mlp_hidden_size": mlp_ratio * d_model,
        "mlp_ratio": mlp_ratio,
        "n_heads": n_heads,
        "n_kv_heads": n_heads,
        "n_layers": n_layers,
        "rms_norm_eps": 1e-5,
        "rope": True,
        "rope_theta": 500000.0,
        "scale_logits": False,
        "vocab_size": vocab,
        "weight_tying": False,
        "mask_token_id": tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS["mask"]),
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
    }


def make_tiny_llada(path, seed=0, max_shard_bytes=100_000, **size):
    """Write a random tiny LLaDA folder in the release layout (config, sharded safetensors, tokenizer).

    Arguments
    ---------
    path : str
        Output folder.
    seed : int
        Weight initialisation seed (the global RNG is left untouched).
    max_shard_bytes : int
        Shard size; the default gives several shards plus an index, as the release has.
    **size
        ``d_model``, ``n_layers``, ``n_heads``, ``mlp_ratio`` for :func:`tiny_llada_config`.

    Returns
    -------
    str
        ``path``.

    Example
    -------
    >>> path = make_tiny_llada(getfixture("tmpdir") + "/llada")
    >>> sorted(f for f in os.listdir(path) if f.endswith(".json"))[:2]
    ['config.json', 'model.safetensors.index.json']
    """
    tok = make_tiny_tokenizer(path)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        llm = LLaDA(tiny_llada_config(tok, **size))
    llm.save_pretrained(path, max_shard_bytes=max_shard_bytes)
    return path


def make_tiny_causal_lm(path, seed=0, **size):
    """Write a random tiny causal Llama folder (Hugging Face layout) the size of :func:`make_tiny_llada`'s.

    Same tokenizer and chat template as the tiny LLaDA, so the two backbones see identical prompts
    (the autoregressive control of :mod:`speechbrain_diffa.autoregressive`).

    Example
    -------
    >>> path = make_tiny_causal_lm(getfixture("tmpdir") + "/ar")
    >>> import json
    >>> json.load(open(os.path.join(path, "config.json")))["model_type"]
    'llama'
    """
    from speechbrain_diffa.autoregressive import CausalLM, matched_causal_config

    tok = make_tiny_tokenizer(path)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        llm = CausalLM(matched_causal_config(tiny_llada_config(tok, **size)))
    llm.save_pretrained(path)
    return path


def make_tiny_whisper(path, seed=0, d_model=64, layers=4, heads=4, n_mels=80, max_source_positions=1500):
    """Write a random tiny Whisper folder (weights + feature extractor) in the HF layout.

    ``max_source_positions=1500`` keeps Whisper's 30 s input window, as DIFFA uses it.

    Example
    -------
    >>> path = make_tiny_whisper(getfixture("tmpdir") + "/whisper")
    >>> os.path.isfile(os.path.join(path, "preprocessor_config.json"))
    True
    """
    config = WhisperConfig(
        d_model=d_model,
        encoder_layers=layers,
        decoder_layers=1,
        encoder_attention_heads=heads,
        decoder_attention_heads=heads,
        encoder_ffn_dim=4 * d_model,
        decoder_ffn_dim=4 * d_model,
        num_mel_bins=n_mels,
        max_source_positions=max_source_positions,
        vocab_size=64,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=3,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = WhisperForConditionalGeneration(config)
    model.save_pretrained(path)
    chunk_seconds = max_source_positions * 2 * 160 // 16000
    WhisperFeatureExtractor(feature_size=n_mels, chunk_length=chunk_seconds).save_pretrained(path)
    return path


TINY_TAPS = (1, 2, 3)  # hidden_states of the 4-layer tiny Whisper that the acoustic adapter reads
# The tiny model's sizes, once: make_tiny_diffa2 builds them, tiny_recipe_overrides runs the stage YAMLs with
# them and the exporter's TINY_VALUES writes them into hparams/diffa2_tiny.yaml.
TINY_SIZES = {
    "whisper_taps": list(TINY_TAPS),
    "encoder_dim": 64,
    "encoder_heads": 4,
    "llm_dim": 64,
    "llm_dtype": "float32",
    "acoustic_queries": 8,
    "acoustic_ffn": 256,
}


def make_tiny_diffa2(root, stage=2, mask_padding=False, seed=0, backbone="diffusion"):
    """A tiny DIFFA-2 built from tiny local LLaDA and Whisper folders under ``root``.

    Arguments
    ---------
    root : str
        Folder for ``llada/`` and ``whisper/`` (made if missing, reused if present).
    stage : int
        Curriculum stage (1: prompts + semantic; 2+: acoustic + semantic; 3+: LoRA on the LLM).
    mask_padding : bool
        Mask audio padding (see :class:`speechbrain_diffa.model.DIFFA2Model`).
    seed : int
        Adapter initialisation seed.
    backbone : str
        ``"diffusion"`` (the tiny LLaDA in ``root/llada``) or ``"autoregressive"`` (the tiny causal
        Llama of :func:`make_tiny_causal_lm` in ``root/ar``).

    Returns
    -------
    speechbrain_diffa.model.DIFFA2Model

    Example
    -------
    >>> model = make_tiny_diffa2(getfixture("tmpdir"))
    >>> model.stage, model.llm.config.hidden_size
    (2, 64)
    """
    from speechbrain_diffa.adapters import AcousticAdapter, SemanticAdapter
    from speechbrain_diffa.autoregressive import load_backbone
    from speechbrain_diffa.chat import ChatLayout, load_tokenizer
    from speechbrain_diffa.model import DIFFA2Model
    from speechbrain_diffa.whisper import WhisperEncoderTaps

    llada_path = os.path.join(root, "llada" if backbone == "diffusion" else "ar")
    whisper_path = os.path.join(root, "whisper")
    if not os.path.isfile(os.path.join(llada_path, "config.json")):
        (make_tiny_llada if backbone == "diffusion" else make_tiny_causal_lm)(llada_path)
    if not os.path.isfile(os.path.join(whisper_path, "config.json")):
        make_tiny_whisper(whisper_path)
    encoder = WhisperEncoderTaps(whisper_path, taps=TINY_TAPS)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # adapters and LoRA initialise the same for the same seed
        llm = load_backbone(backbone, llada_path, lora={} if stage >= 3 else None)
        width = llm.config.hidden_size
        semantic = SemanticAdapter(encoder.output_size, width)
        acoustic = AcousticAdapter(
            encoder.output_size,
            num_heads=encoder.num_heads,
            num_taps=len(TINY_TAPS),
            output_size=width,
            num_queries=TINY_SIZES["acoustic_queries"],
            ffn_size=TINY_SIZES["acoustic_ffn"],
            mask_padding=mask_padding,
        )
        model = DIFFA2Model(
            encoder,
            semantic,
            acoustic,
            llm,
            ChatLayout(load_tokenizer(llada_path)),
            stage=stage,
            mask_padding=mask_padding,
        )
    return model
