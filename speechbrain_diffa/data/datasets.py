"""Training datasets for DIFFA-2: a manifest into SpeechBrain's ``DynamicItemDataset``, and its batches.

Authors
 * speechbrain_diffa contributors 2026
"""

import logging

import torch

from speechbrain_diffa.data.audio import WHISPER_SAMPLE_RATE, load_audio

logger = logging.getLogger(__name__)


def training_dataset(
    manifest,
    chat,
    data_root="",
    preference=False,
    skip_bad=False,
    report_path=None,
    sample_rate=WHISPER_SAMPLE_RATE,
    replay_manifest="",
    replay_fraction=0.0,
    seed=0,
    allow_outside=False,
):
    """A ``DynamicItemDataset`` of a training manifest, tokenized with DIFFA-2's chat layout.

    Arguments
    ---------
    manifest : str
        JSON / JSONL manifest (see :mod:`speechbrain_diffa.data.manifests`); validated up front.
    chat : speechbrain_diffa.chat.ChatLayout
        Tokenizer and prompt layout.
    data_root : str
        Replaces ``{data_root}`` in audio paths.
    preference : bool
        Stage-4 records (``chosen`` / ``rejected``) instead of SFT records (``target``).
    skip_bad, report_path :
        See :func:`speechbrain_diffa.data.manifests.validated_records`.
    sample_rate : int
        Audio is resampled to this rate.
    replay_manifest : str
        An SFT manifest to mix in (DIFFA-2 replays 5 % of stage-1 ASR data in stage 2).
    replay_fraction : float
        Replayed items = ``round(fraction x items of manifest)``, drawn once with ``seed``;
        their ids get a ``replay/`` prefix.
    seed : int
        Seed of the replay draw.
    allow_outside : bool
        Accept audio files outside ``data_root`` (by default they are refused up front).

    Returns
    -------
    speechbrain.dataio.dataset.DynamicItemDataset
        Items with ``id``, ``sig``, ``input``, ``prompt_length``, ``splice_at`` and either
        ``target``, ``ids`` or ``chosen_ids``, ``rejected_ids``. Collate with :func:`collate_fn`.

    Example
    -------
    >>> import json, soundfile
    >>> from speechbrain_diffa.chat import ChatLayout
    >>> from speechbrain_diffa.demo.tiny_models import make_tiny_tokenizer
    >>> tmp = getfixture("tmpdir")
    >>> soundfile.write(str(tmp / "a.wav"), torch.zeros(1600).numpy() + 0.1, 16000)
    >>> _ = (tmp / "m.json").write_text(json.dumps([{"id": "a", "audio_filepath": "{data_root}/a.wav",
    ...     "duration": 0.1, "input": "What?", "target": "a tone"}]), "utf-8")
    >>> chat = ChatLayout(make_tiny_tokenizer())
    >>> item = training_dataset(str(tmp / "m.json"), chat, data_root=str(tmp))[0]
    >>> item["sig"].shape, chat.tokenizer.decode(item["ids"][item["prompt_length"]:])[-14:]
    (torch.Size([1600]), 'tone<|eot_id|>')
    """
    from speechbrain.dataio.dataset import DynamicItemDataset
    from speechbrain.utils.data_pipeline import provides, takes

    from speechbrain_diffa.data.manifests import PREFERENCE_FIELDS, SFT_FIELDS, validated_records

    fields = PREFERENCE_FIELDS if preference else SFT_FIELDS
    records = validated_records(manifest, fields, data_root, skip_bad, report_path, allow_outside)
    if replay_manifest and replay_fraction > 0:
        replay = _replay_records(
            replay_manifest, len(records), replay_fraction, data_root, skip_bad, seed, allow_outside
        )
        records.update(replay)

    @takes("audio_filepath")
    @provides("sig")
    def audio_pipeline(path):
        """The record's waveform, checked and resampled."""
        return load_audio(path, sample_rate)

    if preference:

        @takes("input", "chosen", "rejected")
        @provides("chosen_ids", "rejected_ids", "prompt_length", "splice_at")
        def text_pipeline(instruction, chosen, rejected):
            """Token ids and answer starts of the chosen and the rejected chat."""
            good, bad = chat.training_example(instruction, chosen), chat.training_example(instruction, rejected)
            yield torch.tensor(good.ids)
            yield torch.tensor(bad.ids)
            yield good.prompt_length
            yield good.splice_at

        keys = ["chosen_ids", "rejected_ids", "chosen", "rejected"]
    else:

        @takes("input", "target")
        @provides("ids", "prompt_length", "splice_at")
        def text_pipeline(instruction, target):
            """Token ids, answer start and audio splice point of one training chat."""
            example = chat.training_example(instruction, target)
            yield torch.tensor(example.ids)
            yield example.prompt_length
            yield example.splice_at

        keys = ["ids", "target"]
    return DynamicItemDataset(
        records,
        dynamic_items=[audio_pipeline, text_pipeline],
        output_keys=["id", "sig", "input", "prompt_length", "splice_at"] + keys,
    )


def _replay_records(manifest, num_items, fraction, data_root, skip_bad, seed, allow_outside=False):
    from speechbrain_diffa.data.manifests import SFT_FIELDS, validated_records

    pool = validated_records(manifest, SFT_FIELDS, data_root, skip_bad, allow_outside=allow_outside)
    count = min(round(fraction * num_items), len(pool))
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:count]
    keys = list(pool)
    return {f"replay/{keys[i]}": pool[keys[i]] for i in order.tolist()}


def collate_fn(eos_id):
    """SpeechBrain ``PaddedBatch`` collation with token sequences right-padded by EOS.

    EOS padding is part of the answer in DIFFA's training (it is masked and scored), so the
    padding value matters; audio pads with zeros and gets relative lengths as usual.

    Example
    -------
    >>> collate = collate_fn(eos_id=7)
    >>> batch = collate([{"ids": torch.tensor([1, 2, 3])}, {"ids": torch.tensor([4])}])
    >>> batch.ids.data.tolist()
    [[1, 2, 3], [4, 7, 7]]
    """
    import functools

    from speechbrain.dataio.batch import PaddedBatch

    eos = {"value": eos_id}
    return functools.partial(PaddedBatch, per_key_padding_kwargs={"ids": eos, "chosen_ids": eos, "rejected_ids": eos})
