"""SpeechBrain ``Brain`` classes for the DIFFA-2 curriculum.

- :class:`DIFFA2Brain`: stages 1-3, masked-diffusion SFT (the stage decides what trains, see
  :meth:`speechbrain_diffa.model.DIFFA2Model.freeze_for_stage`).
- :class:`VRPOBrain`: stage 4, DPO on Monte-Carlo ELBOs with masks shared with the reference.

Both draw the diffusion noise of each item from a generator seeded by (seed, epoch, item id),
so a run split across DDP ranks, or killed and resumed, sees exactly the noise of an
uninterrupted single-process run; the global RNG state (dropout) is checkpointed too
(:mod:`speechbrain_diffa.training.checkpointing`).

Authors
 * speechbrain_diffa contributors 2026
"""

import json
import os
import re

import speechbrain as sb
import torch
from speechbrain.utils.distributed import if_main_process
from speechbrain.utils.logger import get_logger

from speechbrain_diffa.data.audio import AudioError
from speechbrain_diffa.diffusion import item_generators, vrpo_loss
from speechbrain_diffa.model import sft_objectives

logger = get_logger(__name__)


def _unwrap_ddp(module):
    return module.module if isinstance(module, torch.nn.parallel.DistributedDataParallel) else module


class NonFiniteTraining(RuntimeError):
    """Training produced NaN or Inf (names the items of the offending steps, or the tensors)."""


def normalize_answer(text):
    """Lower-case, punctuation-free, single-spaced text for a rough answer match.

    Example
    -------
    >>> normalize_answer("  Three Beeps. ")
    'three beeps'
    """
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


class DIFFA2Brain(sb.Brain):
    """Stages 1-3: masked-diffusion SFT of a :class:`~speechbrain_diffa.model.DIFFA2Model`.

    Expects ``modules["diffa"]`` and these hparams: ``seed``, ``lr_annealing`` (a
    ``LinearWarmupScheduler``, stepped per optimizer step; a ``num_training_steps`` of 0 is
    filled in from the data), ``epoch_counter``, ``train_logger``; optional
    ``tensorboard_train_logger``, ``log_interval`` (steps), ``valid_decode_examples`` and
    ``valid_decoding`` (options of :meth:`~speechbrain_diffa.model.DIFFA2Model.answer`).
    Batches come from :func:`speechbrain_diffa.data.datasets.training_dataset` and
    :func:`~speechbrain_diffa.data.datasets.collate_fn`.
    """

    target_key = "target"

    @property
    def diffa_model(self):
        """The DIFFA-2 model (unwrapped from DDP)."""
        return _unwrap_ddp(self.modules["diffa"])

    def noise(self, ids, stage):
        """Per-item noise generators: keyed by epoch in training, fixed for validation and test."""
        if stage == sb.Stage.TRAIN:
            keys = [f"train/{self.hparams.epoch_counter.current}/{i}" for i in ids]
        else:
            keys = [f"{stage.name.lower()}/{i}" for i in ids]
        return item_generators(self.hparams.seed, keys)

    def compute_forward(self, batch, stage):
        """The model's predictions of the masked answer tokens (:class:`~speechbrain_diffa.model.SFTPredictions`)."""
        batch = batch.to(self.device)
        wavs, wav_lens = batch.sig
        ids, _ = batch.ids
        prompt_lengths, splice_at, text_mask = batch.prompt_length, batch.splice_at, None
        answer_length = getattr(self.hparams, "train_gen_length", None)
        if answer_length is not None:  # lay the batch out as the decoder does (ChatLayout.align_answers)
            ids, prompt_lengths, splice_at, text_mask = self.diffa_model.chat.align_answers(
                ids, prompt_lengths, splice_at, answer_length
            )
        return self.modules.diffa(
            wavs, wav_lens, ids, prompt_lengths, splice_at, generator=self.noise(batch.id, stage), text_mask=text_mask
        )

    def compute_objectives(self, predictions, batch, stage):
        """The masked-diffusion SFT loss; records the accuracies and decodes a few validation items."""
        loss, accuracy, answer_accuracy = sft_objectives(predictions)
        self.metrics.setdefault("accuracy", []).append(float(accuracy))
        if not torch.isnan(answer_accuracy):  # NaN: no answer token was masked in this batch
            self.metrics.setdefault("answer_accuracy", []).append(float(answer_accuracy))
        if stage != sb.Stage.TRAIN:
            self.decode_examples(batch)
        return loss

    def decode_examples(self, batch):
        """Answer the first ``valid_decode_examples`` items of the stage and keep them for the log."""
        wanted = getattr(self.hparams, "valid_decode_examples", 0) - len(self.examples)
        if wanted <= 0:
            return
        wavs, wav_lens = batch.sig
        questions = batch.input[:wanted]
        options = dict(getattr(self.hparams, "valid_decoding", {}) or {})
        with torch.no_grad():
            answers = self.diffa_model.answer(wavs[:wanted], wav_lens[:wanted], questions, **options)
        targets = getattr(batch, self.target_key)
        for item_id, question, target, answer in zip(batch.id, questions, targets, answers):
            self.examples.append({"id": item_id, "question": question, "target": target, "answer": answer})

    def on_stage_start(self, stage, epoch=None):
        """Fresh metrics for the stage."""
        self.metrics, self.examples, self.pending_losses = {}, [], []

    def stage_stats(self, stage_loss):
        """Loss and averaged metrics of the finished stage."""
        stats = {"loss": stage_loss}
        for name, values in self.metrics.items():
            stats[name] = sum(values) / max(len(values), 1)
        if self.examples:
            matches = [normalize_answer(e["answer"]) == normalize_answer(e["target"]) for e in self.examples]
            stats["decoded_match"] = sum(matches) / len(matches)
        return stats

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Log, checkpoint (after validation, or after training when there is no validation set)."""
        stats = self.stage_stats(stage_loss)
        if stage == sb.Stage.TRAIN:
            self.train_stats = stats
            if not self.has_valid:
                # SpeechBrain resets these just after this hook; the end-of-epoch checkpoint saved here must
                # hold the reset values, or a run resumed from it starts the next epoch at step N with this
                # epoch's average loss blended in (and a shifted gradient-accumulation phase).
                self.step, self.avg_train_loss = 0, 0.0
                self._log_and_save(epoch, stats, None)
        elif stage == sb.Stage.VALID:
            self._log_examples(epoch)
            self._log_and_save(epoch, self.train_stats, stats)
        else:
            self._log_examples("test")
            self.hparams.train_logger.log_stats(
                stats_meta={"Epoch loaded": self.hparams.epoch_counter.current}, test_stats=stats
            )

    def _log_and_save(self, epoch, train_stats, valid_stats):
        meta = {"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"], "steps": self.optimizer_step}
        self.hparams.train_logger.log_stats(stats_meta=meta, train_stats=train_stats, valid_stats=valid_stats)
        tensorboard = getattr(self.hparams, "tensorboard_train_logger", None)
        if tensorboard is not None:
            tensorboard.log_stats(stats_meta={"epoch": epoch}, train_stats=train_stats, valid_stats=valid_stats)
        if self.checkpointer is not None:
            loss = (valid_stats or train_stats)["loss"]
            self.checkpointer.save_and_keep_only(meta={"loss": loss, "epoch": epoch}, min_keys=["loss"])

    def _log_examples(self, epoch):
        for e in self.examples:
            logger.info(f"[{epoch}] {e['id']}: Q {e['question']!r} | target {e['target']!r} | answer {e['answer']!r}")

    def fit(self, epoch_counter, train_set, valid_set=None, progressbar=None, train_loader_kwargs=None, **kwargs):
        """``Brain.fit``; also sizes the learning-rate schedule from the number of batches."""
        if not isinstance(train_set, torch.utils.data.DataLoader):
            train_set = self.make_dataloader(train_set, stage=sb.Stage.TRAIN, **(train_loader_kwargs or {}))
        self.has_valid = valid_set is not None
        self.steps_per_epoch = max(len(train_set) // self.grad_accumulation_factor, 1)
        super().fit(epoch_counter, train_set, valid_set, progressbar, **kwargs)

    def make_dataloader(self, dataset, stage, ckpt_prefix="dataloader-", **loader_kwargs):
        """SpeechBrain's loader with its own seed generator.

        A DataLoader without one draws its seed from the global RNG whenever an iterator
        starts; that would shift dropout after a resume. Shuffling is unaffected (SpeechBrain's
        samplers seed themselves from the epoch).
        """
        loader_kwargs.setdefault("generator", torch.Generator().manual_seed(self.hparams.seed))
        return super().make_dataloader(dataset, stage, ckpt_prefix, **loader_kwargs)

    def init_optimizers(self):
        """One optimizer over the trainable parameters only (the frozen 8B base has none)."""
        params = [p for p in self.modules.parameters() if p.requires_grad]
        if not params:
            raise ValueError("Nothing to train: every parameter is frozen")
        self.optimizer = self.hparams.opt_class(params)
        self.optimizers_dict = {"optimizer": self.optimizer}
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable("optimizer", self.optimizer)

    def on_fit_start(self):
        """Size the schedule, recover, and set the learning rate of the (resumed) step."""
        schedule = self.hparams.lr_annealing
        if not schedule.num_training_steps:
            schedule.num_training_steps = self.steps_per_epoch * self.hparams.epoch_counter.limit
        super().on_fit_start()
        self._set_lr(schedule.calculate_lr(schedule.current_step))

    def fit_batch(self, batch):
        """``Brain.fit_batch``; a batch whose every item was unreadable (None, ``skip_bad``) is skipped.

        With several processes a rank cannot skip alone (the others would wait for its gradients),
        so there it stops the run naming the report that lists the records to fix or remove.
        """
        if batch is None and torch.distributed.is_available() and torch.distributed.is_initialized():
            raise AudioError(
                f"every item of a batch on rank {torch.distributed.get_rank()} had unreadable audio; with several "
                "processes such a batch cannot be skipped: remove the records listed in "
                "<output_folder>/skipped_*_at_read.jsonl, or train them on one process"
            )
        return None if batch is None else super().fit_batch(batch)

    def evaluate_batch(self, batch, stage):
        """``Brain.evaluate_batch``; a batch whose every item was unreadable (None) is skipped."""
        return None if batch is None else super().evaluate_batch(batch, stage)

    def update_average(self, loss, avg_loss):
        """``Brain.update_average``; a skipped batch (None) leaves the average and the step count as they were."""
        if loss is None:
            self.step -= 1
            return avg_loss
        return super().update_average(loss, avg_loss)

    def on_fit_batch_start(self, batch, should_step):
        """Remember the items of the optimizer step being accumulated (a step that goes wrong names them)."""
        self.step_items = getattr(self, "step_items", []) + list(batch.id)

    def check_loss_isfinite(self, loss):
        """Count non-finite losses only; :meth:`optimizers_step` keeps their gradients from the weights."""
        if not torch.isfinite(loss):
            self.nonfinite_count += 1

    def optimizers_step(self):
        """Step, unless a gradient is NaN or Inf: then skip the step and name its items.

        A single bad item (a clip Whisper cannot encode, say) would otherwise turn every trained
        tensor into NaN for the rest of the run. After more than ``nonfinite_patience`` skipped steps
        (a run option, default 3) training stops with :class:`NonFiniteTraining`.
        """
        params = [p for p in self.modules.parameters() if p.requires_grad and p.grad is not None]
        bad = any(not torch.isfinite(p.grad).all() for p in params)
        if self._global_mean(1.0 if bad else 0.0) > 0:  # every rank skips when any rank has a bad gradient
            self.optimizer.zero_grad(set_to_none=True)
            self.skipped_steps = getattr(self, "skipped_steps", 0) + 1
            logger.warning(
                f"Non-finite gradients at step {self.optimizer_step + 1} (items {self.step_items}): step skipped "
                f"({self.skipped_steps} so far)"
            )
            if self.skipped_steps > self.nonfinite_patience:
                raise NonFiniteTraining(
                    f"{self.skipped_steps} optimizer steps had NaN or Inf gradients (more than nonfinite_patience="
                    f"{self.nonfinite_patience}); the last from items {self.step_items}. Check those records' audio."
                )
        else:
            super().optimizers_step()
        self.step_items = []

    def _set_lr(self, lr):
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        """Step the learning rate; log the step's loss (mean over batches and ranks).

        Every optimizer step is appended to ``step_log`` (JSON lines: step, loss, lr) when the
        hparams name one, and every ``log_interval`` steps goes to TensorBoard.
        """
        self.pending_losses.append(float(loss.detach()))
        if not should_step:
            return
        self.hparams.lr_annealing(self.optimizer)
        step_loss = self._global_mean(sum(self.pending_losses) / len(self.pending_losses))
        self.pending_losses = []
        step_log = getattr(self.hparams, "step_log", None)
        if step_log and if_main_process():
            record = {"step": self.optimizer_step, "loss": step_loss, "lr": self.optimizer.param_groups[0]["lr"]}
            with open(step_log, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        tensorboard = getattr(self.hparams, "tensorboard_train_logger", None)
        interval = getattr(self.hparams, "log_interval", 0)
        if tensorboard is not None and interval and self.optimizer_step % interval == 0 and if_main_process():
            writer = tensorboard.writer
            writer.add_scalar("step/loss", step_loss, self.optimizer_step)
            writer.add_scalar("step/lr", self.optimizer.param_groups[0]["lr"], self.optimizer_step)
            for name, values in self.metrics.items():
                writer.add_scalar(f"step/{name}", values[-1], self.optimizer_step)

    def _global_mean(self, value):
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(tensor)
        return float(tensor) / torch.distributed.get_world_size()

    def save_trained(self, path):
        """Write the trained tensors (the next stage's and the exporter's input) to ``path``; never NaN or Inf ones."""
        state = self.diffa_model.trainable_state_dict()
        broken = sorted(name for name, value in state.items() if not torch.isfinite(value).all())
        if broken:
            raise NonFiniteTraining(
                f"{len(broken)} of {len(state)} trained tensors hold NaN or Inf ({broken[:5]}); {path} not written"
            )
        if if_main_process():
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self.diffa_model.save_trainable(path)


class VRPOBrain(DIFFA2Brain):
    """Stage 4: VRPO on a :class:`~speechbrain_diffa.preference.PreferenceModel`.

    Expects ``modules["preference"]`` (whose ``policy`` is the DIFFA-2 model) and ``beta``.
    Logs the reward margin and the reward accuracy (share of pairs with a positive margin).
    """

    target_key = "chosen"

    @property
    def diffa_model(self):
        """The policy DIFFA-2 model (unwrapped from DDP)."""
        return _unwrap_ddp(self.modules["preference"]).policy

    def compute_forward(self, batch, stage):
        """Policy and reference ELBOs of the chosen and rejected answers."""
        batch = batch.to(self.device)
        wavs, wav_lens = batch.sig
        return self.modules.preference(
            wavs,
            wav_lens,
            batch.chosen_ids.data,
            batch.rejected_ids.data,
            batch.prompt_length,
            batch.splice_at,
            generator=self.noise(batch.id, stage),
        )

    def compute_objectives(self, predictions, batch, stage):
        """The VRPO loss; records margin and reward accuracy."""
        loss, margin = vrpo_loss(
            predictions["policy_chosen"],
            predictions["reference_chosen"],
            predictions["policy_rejected"],
            predictions["reference_rejected"],
            beta=self.hparams.beta,
        )
        self.metrics.setdefault("margin", []).append(float(margin.mean()))
        self.metrics.setdefault("reward_accuracy", []).append(float((margin > 0).float().mean()))
        if stage != sb.Stage.TRAIN:
            self.decode_examples(batch)
        return loss
