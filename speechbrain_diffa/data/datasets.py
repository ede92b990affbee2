"""Training datasets for DIFFA-2: a manifest into SpeechBrain's ``DynamicItemDataset``, and its batches.

Authors
 * speechbrain_diffa contributors 2026
"""

import json
import logging
import os

import torch

from speechbrain_diffa.data.audio import WHISPER_SAMPLE_RATE, AudioError, load_audio

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
        See :func:`speechbrain_diffa.data.manifests.validated_records`, which checks each record
        and its audio header up front. With ``skip_bad``, a record whose samples fail when read
        (:func:`~speechbrain_diffa.data.audio.load_audio`) is left out of its batch too
        (:func:`skip_unreadable`); without it, the error names the manifest and the record.
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

    @takes("id", "audio_filepath")
    @provides("sig")
    def audio_pipeline(item_id, path):
        """The record's waveform, checked and resampled (None when unreadable and ``skip_bad``)."""
        try:
            return load_audio(path, sample_rate)
        except AudioError as e:
            if not skip_bad:
                raise AudioError(f"{manifest}: record {item_id!r}: {e}") from e
            skip_unreadable(manifest, item_id, e, report_path)
            return None

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


def skip_unreadable(manifest, item_id, error, report_path=None):
    """Log a record whose audio failed when read (``skip_bad``), and append it to the report.

    The header checks of :func:`~speechbrain_diffa.data.manifests.validated_records` run up
    front; what only reading the samples shows (a clip far too loud, data cut off) is found here,
    in the loader. The record is left out of its batch (:class:`SkippingCollate`); every epoch
    that meets it logs it again. ``report_path`` gains one JSON line per skip, beside the JSON
    report of the up-front checks.

    Example
    -------
    >>> from speechbrain_diffa.data.audio import AudioError
    >>> path = str(getfixture("tmpdir") / "skipped_train.json")
    >>> skip_unreadable("m.json", "u1", AudioError("a.wav: peak 1e+30"), path)
    >>> open(unreadable_report(path)).read().strip()
    '{"manifest": "m.json", "id": "u1", "problem": "a.wav: peak 1e+30"}'
    """
    logger.warning(f"{manifest}: skipping record {item_id!r} (skip_bad): {error}")
    if report_path:
        line = json.dumps({"manifest": manifest, "id": item_id, "problem": str(error)}, ensure_ascii=False)
        with open(unreadable_report(report_path), "a", encoding="utf-8") as f:
            f.write(line + "\n")  # one short append per record: safe from several loader workers


def unreadable_report(report_path):
    """Where :func:`skip_unreadable` appends: ``skipped_train.json`` -> ``skipped_train_at_read.jsonl``.

    Example
    -------
    >>> unreadable_report("out/skipped_train.json")
    'out/skipped_train_at_read.jsonl'
    """
    return os.path.splitext(report_path)[0] + "_at_read.jsonl"


class SkippingCollate:
    """SpeechBrain ``PaddedBatch`` collation with token sequences right-padded by EOS.

    EOS padding is part of the answer in DIFFA's training (it is masked and scored), so the
    padding value matters; audio pads with zeros and gets relative lengths as usual. Items whose
    audio was skipped at read time (``sig`` None, see :func:`skip_unreadable`) are left out; a
    batch with none left is None, which the Brains skip.

    Arguments
    ---------
    eos_id : int
        Padding of ``ids``, ``chosen_ids`` and ``rejected_ids``.

    Example
    -------
    >>> import torch
    >>> collate = SkippingCollate(eos_id=7)
    >>> batch = collate([{"ids": torch.tensor([1, 2, 3]), "sig": torch.ones(2)},
    ...                  {"ids": torch.tensor([4]), "sig": torch.ones(1)},
    ...                  {"ids": torch.tensor([5]), "sig": None}])
    >>> batch.ids.data.tolist()
    [[1, 2, 3], [4, 7, 7]]
    >>> collate([{"ids": torch.tensor([5]), "sig": None}]) is None
    True
    """

    def __init__(self, eos_id):
        eos = {"value": eos_id}
        self.padding = {"ids": eos, "chosen_ids": eos, "rejected_ids": eos}

    def __call__(self, examples):
        """A ``PaddedBatch`` of the readable examples, or None."""
        from speechbrain.dataio.batch import PaddedBatch

        kept = [e for e in examples if "sig" not in e or e["sig"] is not None]
        return PaddedBatch(kept, per_key_padding_kwargs=self.padding) if kept else None


def collate_fn(eos_id):
    """The loaders' collation: :class:`SkippingCollate` (EOS-padded tokens, unreadable items left out).

    Example
    -------
    >>> collate = collate_fn(eos_id=7)
    >>> batch = collate([{"ids": torch.tensor([1, 2, 3])}, {"ids": torch.tensor([4])}])
    >>> batch.ids.data.tolist()
    [[1, 2, 3], [4, 7, 7]]
    """
    return SkippingCollate(eos_id)
