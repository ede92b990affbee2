"""A frozen Whisper encoder that also returns the intermediate layers DIFFA-2's acoustic adapter taps.

Loads only the encoder weights (``model.encoder.*``) of a local Hugging Face Whisper folder and the
folder's ``WhisperFeatureExtractor``. Features are padded to the extractor's chunk length (30 s for
the real models), as DIFFA does: the released adapters were trained on 30 s padded encoder states.

Authors
 * speechbrain_diffa contributors 2026
"""

import logging
import os
from dataclasses import dataclass

import torch
from transformers import WhisperConfig, WhisperFeatureExtractor
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from speechbrain_diffa.hub.weight_files import open_safetensors, read_state_dict, safetensors_files

logger = logging.getLogger(__name__)

# hidden_states indices tapped by DIFFA per Whisper size (0 = embeddings). [DIFFA code]
DIFFA_TAPS = {
    "whisper-tiny": (0, 1, 2, 3),
    "whisper-small": (2, 5, 8, 11),
    "whisper-medium": (5, 11, 17, 23),
    "whisper-large-v3": (3, 7, 11, 15, 19, 23, 27, 31),
}

MIN_FRAMES = 4  # shortest encoder output kept per clip (80 ms): one semantic-adapter position


@dataclass
class EncoderOutput:
    """What :class:`WhisperEncoderTaps` returns.

    Attributes
    ----------
    last : torch.Tensor
        ``(batch, frames, d_enc)``: the final (layer-normed) encoder output at 50 Hz, trimmed to
        the longest valid length in the batch; frames past an item's ``lengths`` are padding.
    lengths : torch.LongTensor
        ``(batch,)`` valid frames per item.
    taps : tuple of torch.Tensor
        The tapped ``hidden_states`` entries, each ``(batch, padded_frames, d_enc)`` (full 30 s).
    """

    last: torch.Tensor
    lengths: torch.Tensor
    taps: tuple[torch.Tensor, ...]


def _load_encoder_state(source):
    """Encoder weights of a Whisper folder (safetensors, sharded or not, or pytorch_model.bin)."""
    files = safetensors_files(source)
    state = {}
    for file in files:
        with open_safetensors(file) as f:
            for name in f.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
                if ".encoder." in f".{name}":
                    state[name] = f.get_tensor(name)
    if not files:
        binary = os.path.join(source, "pytorch_model.bin")
        if not os.path.isfile(binary):
            raise FileNotFoundError(
                f"No Whisper weights in {source}: expected model.safetensors(.index.json) or pytorch_model.bin"
            )
        state = read_state_dict(binary)
    prefix = next((p for p in ("model.encoder.", "encoder.") if any(k.startswith(p) for k in state)), None)
    if prefix is None:
        raise ValueError(f"No encoder weights (model.encoder.* or encoder.*) found in {source}")
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


class WhisperEncoderTaps(torch.nn.Module):
    """Whisper encoder from a local folder, returning its last layer and tapped layers.

    Arguments
    ---------
    source : str
        Local Hugging Face Whisper folder (``config.json``, weights, ``preprocessor_config.json``).
    taps : list of int
        Indices into the encoder's ``hidden_states`` (0 = embeddings, i = output of layer i,
        the last index = the final normed output). DIFFA-2: ``[3, 7, ..., 31]`` for large-v3.
    freeze : bool
        Keep the encoder frozen and in eval mode, and run it without gradients (DIFFA does).
    sample_rate : int
        Sample rate of the input waveforms (Whisper wants 16 kHz).

    Example
    -------
    >>> from speechbrain_diffa.demo.tiny_models import make_tiny_whisper
    >>> path = make_tiny_whisper(getfixture("tmpdir") + "/whisper")
    >>> enc = WhisperEncoderTaps(path, taps=[1, 2, 3])
    >>> out = enc(torch.randn(2, 16000), torch.tensor([1.0, 0.5]))
    >>> out.last.shape, out.lengths.tolist(), len(out.taps), out.taps[0].shape
    (torch.Size([2, 50, 64]), [50, 25], 3, torch.Size([2, 1500, 64]))
    """

    def __init__(self, source, taps, freeze=True, sample_rate=16000):
        super().__init__()
        if not os.path.isfile(os.path.join(source, "config.json")):
            raise FileNotFoundError(f"No Whisper config.json in {source}")
        config = WhisperConfig.from_pretrained(source, local_files_only=True)
        self.encoder = WhisperEncoder(config)
        missing, unexpected = self.encoder.load_state_dict(_load_encoder_state(source), strict=False)
        if missing or unexpected:
            raise ValueError(
                f"Whisper encoder weights in {source} do not match its config: missing "
                f"{missing[:5]}, unexpected {unexpected[:5]}"
            )
        self.feature_extractor = WhisperFeatureExtractor.from_pretrained(source, local_files_only=True)
        self.taps = list(taps)
        n_states = config.encoder_layers + 1
        bad = [t for t in self.taps if not 0 <= t < n_states]
        if bad:
            raise ValueError(f"Whisper taps {bad} out of range: {source} has {n_states} hidden states")
        self.sample_rate = sample_rate
        self.freeze = freeze
        if freeze:
            self.encoder.requires_grad_(False)
            self.encoder.eval()

    @property
    def output_size(self):
        """Encoder width ``d_enc``."""
        return self.encoder.config.d_model

    @property
    def num_heads(self):
        """Encoder attention heads (the acoustic adapter's Q-Former uses the same count)."""
        return self.encoder.config.encoder_attention_heads

    def train(self, mode=True):
        """Switch mode, but a frozen encoder always stays in eval mode."""
        super().train(mode)
        if self.freeze:
            self.encoder.eval()
        return self

    def features(self, wavs, wav_lens=None):
        """Log-mel features padded to the chunk length, and valid frames per item.

        Arguments
        ---------
        wavs : torch.Tensor
            ``(batch, samples)`` at ``sample_rate``.
        wav_lens : torch.Tensor
            ``(batch,)`` relative lengths in [0, 1] (SpeechBrain convention); default all 1.

        Returns
        -------
        features : torch.Tensor
            ``(batch, n_mels, 2 * max_source_positions)``.
        frames : torch.LongTensor
            ``(batch,)`` valid mel frames per item.
        """
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0])
        n_samples = (wav_lens.cpu().float() * wavs.shape[1]).round().long().clamp(min=1)
        limit = self.feature_extractor.n_samples
        if int(n_samples.max()) > limit:
            logger.warning("Audio longer than %.1f s is truncated (as DIFFA does)", limit / self.sample_rate)
            n_samples = n_samples.clamp(max=limit)
        arrays = [wavs[i, : n_samples[i]].detach().float().cpu().numpy() for i in range(len(wavs))]
        # The extractor computes on the CPU in torch; under CPU bf16 autocast (--precision bf16 on a
        # CPU) its mel matmul would come out in bf16, which it cannot hand to numpy. Whisper's
        # log-mel features are fp32 in any case.
        with torch.autocast("cpu", enabled=False):
            out = self.feature_extractor(
                arrays,
                sampling_rate=self.sample_rate,
                return_tensors="pt",
                return_attention_mask=True,
                padding="max_length",
            )
        return out.input_features, out.attention_mask.sum(-1)

    def compile_for_decoding(self):
        """Compile the Whisper encoder in place with CUDA graphs (``torch.compile``, "reduce-overhead").

        Its input is always 30 s of features, so each batch size is compiled once; the weights'
        names do not change (``nn.Module.compile``).
        """
        self.encoder.compile(mode="reduce-overhead")

    def forward(self, wavs, wav_lens=None):
        """Encode a batch of waveforms.

        Arguments
        ---------
        wavs : torch.Tensor
            ``(batch, samples)`` at ``sample_rate``, padded at the end.
        wav_lens : torch.Tensor
            ``(batch,)`` relative lengths (SpeechBrain convention).

        Returns
        -------
        EncoderOutput
        """
        features, frames = self.features(wavs, wav_lens)
        param = next(self.encoder.parameters())
        features = features.to(device=param.device, dtype=param.dtype)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            out = self.encoder(features, output_hidden_states=True)
        # Encoder frame rate is half the mel frame rate (the second conv has stride 2). A clip shorter
        # than MIN_FRAMES is read with Whisper's zero padding up to that many (the semantic adapter
        # downsamples 4 frames into one position and would have none).
        lengths = ((frames - 1) // 2 + 1).clamp(min=MIN_FRAMES).to(param.device)
        last = out.last_hidden_state[:, : int(lengths.max())]
        taps = tuple(out.hidden_states[i] for i in self.taps)
        return EncoderOutput(last=last, lengths=lengths, taps=taps)
