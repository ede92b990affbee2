"""speechbrain_diffa: DIFFA-2, a diffusion large audio-language model, as a SpeechBrain plugin.

The model, in the order data flows: ``whisper`` (encoder taps), ``adapters`` (semantic and
acoustic), ``llada`` (the diffusion backbone), ``chat`` (prompt layout and audio splice),
``prompts`` (instruction templates), ``model`` (the assembled DIFFA-2), ``diffusion`` (losses),
``preference`` (VRPO), ``sampling`` (the decoder) and ``decoding_presets`` (its named settings).
Around it: ``data`` (audio, manifests, datasets, preparation), ``training`` (Brains,
checkpointing), ``hub`` (weight files, release weights, model folders, export), ``inference``
(the ``DIFFA2`` interface), ``cli`` (``diffa2``), ``evaluation`` (benchmarks, decoding
benchmark) and ``demo`` (tiny models, stand-ins, generated corpus, the curriculum demo).
"""

__version__ = "0.1.0"
