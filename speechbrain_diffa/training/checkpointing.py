"""Resuming training exactly: checkpoints that survive a kill, and the RNG state.

A run killed while SpeechBrain writes a checkpoint leaves a folder with an empty ``CKPT.yaml``
or missing files, and ``recover_if_possible`` then crashes on it, so re-running the command
fails exactly when it is needed. :class:`CrashSafeCheckpointer` marks a checkpoint complete
only after every file is written and ignores (keeps, with a warning) those that are not.
:class:`RandomState` checkpoints the global RNG, so dropout continues as if never stopped.

Authors
 * speechbrain_diffa contributors 2026
"""

import torch
from speechbrain.utils import checkpoints
from speechbrain.utils.distributed import ddp_barrier, if_main_process
from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)

COMPLETE_MARKER = "COMPLETE"  # written into a checkpoint folder after all its files


class CrashSafeCheckpointer(checkpoints.Checkpointer):
    """A SpeechBrain ``Checkpointer`` that only recovers from completely written checkpoints.

    Arguments are those of ``speechbrain.utils.checkpoints.Checkpointer``.

    Example
    -------
    >>> import os
    >>> folder = getfixture("tmpdir")
    >>> layer = torch.nn.Linear(2, 2)
    >>> ckpt = CrashSafeCheckpointer(str(folder), recoverables={"layer": layer})
    >>> _ = ckpt.save_checkpoint()
    >>> os.makedirs(folder / "CKPT+half-written")
    >>> _ = (folder / "CKPT+half-written" / "CKPT.yaml").write_text("", "utf-8")
    >>> len(ckpt.list_checkpoints())
    1
    """

    def save_checkpoint(self, *args, **kwargs):
        """Save as SpeechBrain does, then mark the folder complete."""
        saved = super().save_checkpoint(*args, **kwargs)
        if saved is not None and if_main_process():
            (saved.path / COMPLETE_MARKER).touch()
        ddp_barrier()  # every rank must list the same checkpoints (SpeechBrain deletes in lockstep)
        return saved

    def recover_if_possible(self, importance_key=None, max_key=None, min_key=None, ckpt_predicate=None):
        """Recover from the chosen checkpoint; if its files cannot be read, from the next one, with a warning.

        A checkpoint whose files were damaged after it was written (a disk error, a copy cut short)
        would otherwise make every rerun crash; its folder is left on disk for inspection.
        """
        candidates = self.find_checkpoints(importance_key, max_key, min_key, ckpt_predicate)
        for ckpt in candidates:
            try:
                self.load_checkpoint(ckpt)
                return ckpt
            except Exception as e:  # torch's read errors have many types (pickle, zip, shape, key errors)
                problem = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                logger.warning(f"Cannot load checkpoint {ckpt.path} ({problem}); trying the one before it")
        if candidates:
            raise RuntimeError(f"None of the {len(candidates)} checkpoints in {self.checkpoints_dir} can be loaded")
        logger.info("Would load a checkpoint here, but none found yet.")
        return None

    def list_checkpoints(self):
        """Complete checkpoints only; incomplete folders are left on disk and reported."""
        complete = []
        for folder in self._list_checkpoint_dirs():
            if (folder / COMPLETE_MARKER).is_file():
                complete.append(folder)
            else:
                logger.warning(f"Ignoring incomplete checkpoint {folder} (the run stopped while writing it)")
        return self._construct_checkpoint_objects(complete)


@checkpoints.register_checkpoint_hooks
class RandomState:
    """Checkpoints the global torch RNG (dropout masks), so a resumed run continues exactly.

    Example
    -------
    >>> state = RandomState()
    >>> path = str(getfixture("tmpdir") / "rng.ckpt")
    >>> state.save(path); first = torch.rand(1)
    >>> state.load(path); bool(torch.rand(1) == first)
    True
    """

    @checkpoints.mark_as_saver
    def save(self, path):
        """Save the CPU (and CUDA) RNG states."""
        state = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        torch.save(state, path)

    @checkpoints.mark_as_loader
    def load(self, path, end_of_epoch=False):
        """Restore the RNG states."""
        del end_of_epoch
        state = torch.load(path, weights_only=True)
        torch.set_rng_state(state["cpu"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
