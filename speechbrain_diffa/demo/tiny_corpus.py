"""A tiny tone corpus and the overrides that run the full-scale stage YAMLs on the tiny models.

For recipe smoke tests: seconds to build, no downloads.

Authors
 * speechbrain_diffa contributors 2026
"""

import os

import torch

from speechbrain_diffa.demo.tiny_models import TINY_SIZES, make_tiny_llada, make_tiny_whisper


def make_tiny_corpus(folder, num_train=8, num_valid=4, seed=0, seconds=None):
    """High and low tones with SFT, ASR-style and preference manifests, for recipe smoke tests.

    Each clip is ``seconds`` (default: a random 0.5-1 s) of a 300 Hz ("low") or 2 kHz ("high")
    tone. Writes ``wav/*.wav`` and,
    with ``{data_root}`` audio paths: ``asr_train.json`` / ``asr_valid.json`` (stage 1),
    ``sft_train.json`` / ``sft_valid.json`` (stages 2-3) and ``pref_train.json`` /
    ``pref_valid.json`` (stage 4, the rejected answer names the other pitch).

    Returns
    -------
    str
        ``folder``.

    Example
    -------
    >>> import json, os
    >>> folder = make_tiny_corpus(str(getfixture("tmpdir") / "corpus"), num_train=2, num_valid=1)
    >>> sorted(f for f in os.listdir(folder) if f.endswith(".json"))[:2]
    ['asr_train.json', 'asr_valid.json']
    >>> json.load(open(os.path.join(folder, "pref_train.json")))[0]["rejected"] in ("high", "low")
    True
    """
    import soundfile

    from speechbrain_diffa.data.manifests import write_manifest

    os.makedirs(os.path.join(folder, "wav"), exist_ok=True)
    rng = torch.Generator().manual_seed(seed)
    splits = {"train": num_train, "valid": num_valid}
    for split, count in splits.items():
        sft, asr, pref = [], [], []
        for i in range(count):
            pitch = "high" if i % 2 == 0 else "low"
            draw = 0.5 + 0.5 * float(torch.rand(1, generator=rng))
            duration = draw if seconds is None else seconds
            time = torch.arange(int(16000 * duration)) / 16000
            wave = 0.3 * torch.sin(2 * torch.pi * (2000.0 if pitch == "high" else 300.0) * time)
            name = f"{split}_{i:03d}"
            soundfile.write(os.path.join(folder, "wav", name + ".wav"), wave.numpy(), 16000)
            base = {"id": name, "audio_filepath": "{data_root}/wav/" + name + ".wav", "duration": duration}
            question = "Is the tone high or low?"
            sft.append(dict(base, input=question, target=pitch))
            asr.append(dict(base, input="Please transcribe the audio to text.", target=f"a {pitch} tone"))
            other = "low" if pitch == "high" else "high"
            pref.append(dict(base, input=question, chosen=pitch, rejected=other))
        write_manifest(sft, os.path.join(folder, f"sft_{split}.json"))
        write_manifest(asr, os.path.join(folder, f"asr_{split}.json"))
        write_manifest(pref, os.path.join(folder, f"pref_{split}.json"))
    return folder


def tiny_recipe_overrides(root, data_folder, output_folder, previous_stage=""):
    """``--key=value`` overrides that run a full-scale stage YAML on the tiny models under ``root``.

    Arguments
    ---------
    root : str
        Folder with (or for) the tiny ``llada/`` and ``whisper/`` (made if missing).
    data_folder : str
        Corpus folder (e.g. from :func:`make_tiny_corpus`).
    output_folder : str
        The stage's output folder.
    previous_stage : str
        Output folder of the previous stage (leave empty for stage 1, which has none).

    Returns
    -------
    dict

    Example
    -------
    >>> overrides = tiny_recipe_overrides(str(getfixture("tmpdir")), "data", "out")
    >>> overrides["llm_dim"], overrides["precision"]
    (64, 'fp32')
    """
    llada_path, whisper_path = os.path.join(root, "llada"), os.path.join(root, "whisper")
    if not os.path.isfile(os.path.join(llada_path, "config.json")):
        make_tiny_llada(llada_path)
    if not os.path.isfile(os.path.join(whisper_path, "config.json")):
        make_tiny_whisper(whisper_path)
    overrides = {
        "llm_path": llada_path,
        "whisper_path": whisper_path,
        "data_folder": data_folder,
        "output_folder": output_folder,
        **TINY_SIZES,
        "precision": "fp32",
        "eval_precision": "fp32",
        "num_workers": 0,
        "use_tensorboard": False,
        "ckpt_interval_minutes": 0,
    }
    if previous_stage:
        overrides["previous_stage"] = previous_stage
    return overrides
