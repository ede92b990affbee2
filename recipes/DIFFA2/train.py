#!/usr/bin/env python3
"""Recipe for training DIFFA-2, a diffusion audio-language model, one curriculum stage per YAML.

The input sequence LLaDA sees (audio block spliced into the chat prompt)::

    <|start_header_id|>system ... user: "...This is the audio: " [acoustic 64/tap ; semantic T/4]
    <instruction> <|eot_id|> <|start_header_id|>assistant ... [answer, masked at rate t] <|eot_id|> EOS...

Stages (each YAML is self-contained; stage N starts from stage N-1's output folder):

    python train.py hparams/stage1_semantic.yaml --data_folder=D --whisper_path=W --llm_path=L
    python train.py hparams/stage2_acoustic.yaml --data_folder=D --whisper_path=W --llm_path=L \\
        --previous_stage=results/stage1_semantic/42
    python train.py hparams/stage3_sft.yaml ... --previous_stage=results/stage2_acoustic/42
    python train.py hparams/stage4_vrpo.yaml ... --previous_stage=results/stage3_sft/42

Multi-GPU: ``torchrun --nproc_per_node=8 train.py hparams/stage3_sft.yaml ...``. Re-running a
command resumes from its last checkpoint. The Brain classes live in ``speechbrain_diffa.training.brains``.

Authors
 * speechbrain_diffa contributors 2026
"""

import os
import sys

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.distributed import run_on_main
from speechbrain.utils.logger import get_logger

from speechbrain_diffa.data.audio import AudioError
from speechbrain_diffa.data.datasets import collate_fn, training_dataset
from speechbrain_diffa.data.manifests import ManifestError
from speechbrain_diffa.training.brains import DIFFA2Brain, NonFiniteTraining, VRPOBrain

logger = get_logger(__name__)


def dataio_prepare(hparams):
    """Validated train (and optional valid) datasets and their loader options."""
    chat, preference = hparams["chat"], hparams["stage"] == 4
    loaders = {}
    datasets = {}
    for split in ("train", "valid"):
        manifest = hparams.get(f"{split}_manifest")
        if not manifest:
            datasets[split] = None
            continue
        report = os.path.join(hparams["output_folder"], f"skipped_{split}.json")
        replay = hparams.get("replay_manifest", "") if split == "train" else ""
        datasets[split] = training_dataset(
            manifest,
            chat,
            hparams["data_folder"],
            preference,
            hparams["skip_bad"],
            report,
            replay_manifest=replay,
            replay_fraction=hparams.get("replay_fraction", 0.0),
            seed=hparams["seed"],
            allow_outside=hparams.get("audio_outside_data_folder", False),
        )
        loaders[split] = dict(hparams[f"{split}_dataloader_opts"], collate_fn=collate_fn(chat.eos_id))
    if hparams.get("dynamic_batching"):
        sampler = sb.dataio.sampler.DynamicBatchSampler(
            datasets["train"], length_func=lambda x: x["duration"], **hparams["dynamic_batch_sampler"]
        )
        loaders["train"] = {
            "batch_sampler": sampler,
            "num_workers": hparams["num_workers"],
            "collate_fn": collate_fn(chat.eos_id),
        }
    return datasets, loaders


if __name__ == "__main__":
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)

    sb.utils.distributed.ddp_init_group(run_opts)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    if hparams.get("use_tensorboard"):
        from speechbrain.utils.train_logger import TensorboardLogger

        hparams["tensorboard_train_logger"] = TensorboardLogger(hparams["tensorboard_logs_folder"])

    try:
        datasets, loaders = dataio_prepare(hparams)  # refuses broken manifests before any training
    except ManifestError as e:
        sys.exit(f"train.py: error: {e}")

    if "pretrainer" in hparams:  # the previous stage's trained tensors
        if hparams["previous_stage"]:
            run_on_main(hparams["pretrainer"].collect_files)
            hparams["pretrainer"].load_collected()
        else:
            logger.warning(f"previous_stage is empty: stage {hparams['stage']} starts from fresh adapters")
    if hparams["stage"] == 4:
        hparams["preference"].freeze_reference()  # the reference is the loaded stage-3 model

    brain_class = VRPOBrain if hparams["stage"] == 4 else DIFFA2Brain
    brain = brain_class(
        modules=hparams["modules"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    try:
        brain.fit(
            hparams["epoch_counter"],
            datasets["train"],
            datasets["valid"],
            train_loader_kwargs=loaders["train"],
            valid_loader_kwargs=loaders.get("valid", {}),
        )
        brain.save_trained(hparams["trained_file"])
    except (NonFiniteTraining, AudioError) as e:  # a message and a non-zero exit, never broken weights with status 0
        # A DataLoader worker re-raises with its traceback in the message; the last line is the error itself.
        sys.exit(f"train.py: error: {str(e).strip().splitlines()[-1]}")
