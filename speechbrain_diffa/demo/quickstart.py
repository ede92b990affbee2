"""Quick start: build a tiny DIFFA-2 offline, write a test clip, and answer a question about it.

Run ``bash recipes/quickstart.sh`` (or ``python -m speechbrain_diffa.demo.quickstart``). The tiny model
has random weights, so its answer is noise: this shows every part of the pipeline running on
your machine (Whisper taps, both adapters, the splice into LLaDA, diffusion decoding).

Authors
 * speechbrain_diffa contributors 2026
"""

import argparse
import math
import os
import time

import torch
from speechbrain.dataio import audio_io

from speechbrain_diffa.data.audio import batch_waveforms, load_audio
from speechbrain_diffa.demo.tiny_models import make_tiny_diffa2


def beeps(count=3, sample_rate=16000, tone_hz=880.0):
    """A clip of ``count`` short beeps separated by silence, ``(samples,)``.

    Example
    -------
    >>> beeps(2).shape
    torch.Size([16000])
    """
    t = torch.arange(int(0.25 * sample_rate)) / sample_rate
    beep = 0.5 * torch.sin(2 * math.pi * tone_hz * t)
    gap = torch.zeros(int(0.25 * sample_rate))
    return torch.cat([torch.cat([beep, gap]) for _ in range(count)])


def main(argv=None):
    """Build, write, answer; print what happened."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_folder", default="results/quickstart")
    parser.add_argument("--question", default="How many beeps are there?")
    args = parser.parse_args(argv)
    os.makedirs(args.output_folder, exist_ok=True)
    start = time.time()
    model = make_tiny_diffa2(os.path.join(args.output_folder, "tiny_models")).eval()
    print(f"[quickstart] tiny DIFFA-2 built from local folders in {time.time() - start:.1f} s")
    wav_path = os.path.join(args.output_folder, "three_beeps.wav")
    audio_io.save(wav_path, beeps(3).unsqueeze(0), 16000)
    wavs, lens = batch_waveforms([load_audio(wav_path)])
    start = time.time()
    answer = model.answer(wavs, lens, [args.question])[0]  # the "answer" decoding preset
    print(f"[quickstart] audio: {wav_path}")
    print(f"[quickstart] question: {args.question}")
    print(f"[quickstart] answer (random untrained weights, so noise): {answer!r}")
    print(f"[quickstart] decoded 16 tokens in {time.time() - start:.2f} s")


if __name__ == "__main__":
    main()
