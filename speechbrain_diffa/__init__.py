"""speechbrain_diffa: DIFFA-2, a diffusion large audio-language model, as a SpeechBrain plugin.

Modules, one per concept: ``llada`` (backbone), ``whisper`` (encoder taps), ``adapters``,
``chat`` (prompt layout), ``model`` (the assembled DIFFA-2), ``diffusion`` (losses),
``sampling`` (decoder), ``checkpoints`` (release weights), ``dataio`` (audio input),
``tiny`` (offline tiny models).
"""

__version__ = "0.1.0"
