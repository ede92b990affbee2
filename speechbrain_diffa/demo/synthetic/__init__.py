"""A generated listening corpus for the DIFFA-2 curriculum (stages 1-4) and an MMAU-style test.

Short clips (0.5-3 s) whose answers are easily audible: beeps to count, high vs low, tone vs
noise, louder vs quieter, which event comes first (sound); rising vs falling, fast vs slow, major
vs minor (music); digits and short sentences in several espeak-ng voices, rates and pitches
(speech: transcripts, content, speaker gender, speaking rate). Build it with
``python -m speechbrain_diffa.demo.synthetic --folder DIR --seed 0`` or :func:`build_corpus`.

Authors
 * speechbrain_diffa contributors 2026
"""

from speechbrain_diffa.demo.synthetic.corpus import build_corpus
from speechbrain_diffa.demo.synthetic.tasks import QUESTION_TYPES, corpus_text, format_mcq

__all__ = ["QUESTION_TYPES", "build_corpus", "corpus_text", "format_mcq"]
