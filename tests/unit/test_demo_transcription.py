"""The demo's transcription scoring and decoder gate, through the benchmark runner on a generated test.

The answerer here is scripted (it answers each utterance in the runner's order), so the expected
WERs are known exactly; the corpus, the LibriSpeech reader, the runner and the WER report are real.
"""

import os
import time

import pytest

from speechbrain_diffa.demo import curriculum
from speechbrain_diffa.demo.synthetic.corpus import ASR_TEST_DIR, build_corpus
from speechbrain_diffa.evaluation.benchmarks import check_complete, prepare


@pytest.fixture(scope="module")
def transcription_test(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("corpus"))
    build_corpus(folder, seed=0, num_train=6, num_valid=3, num_test=6, num_asr_test=8, speech="formant")
    prepared = prepare("librispeech", os.path.join(folder, ASR_TEST_DIR))
    check_complete(prepared)
    return prepared


class Scripted:
    """Answers utterance ``i`` (in the runner's order) with ``script(item, decoding)``; counts its calls."""

    def __init__(self, prepared, script):
        self.items, self.script, self.cursor, self.calls = list(prepared.items), script, 0, []

    def answer_batch(self, wavs, wav_lens, questions, **decoding):
        batch = self.items[self.cursor : self.cursor + len(questions)]
        self.cursor = (self.cursor + len(questions)) % len(self.items)
        self.calls.append(decoding)
        return [self.script(item, decoding) for item in batch]


def test_both_kinds_are_in_the_test_and_an_empty_transcript_scores_100(transcription_test, tmp_path):
    kinds = {curriculum.transcript_kind(item.answer) for item in transcription_test.items}
    assert kinds == {"digits", "sentence"}
    empty = Scripted(transcription_test, lambda item, decoding: "")
    scores = curriculum.transcription_scores(empty, transcription_test, str(tmp_path / "empty"), batch_size=3)
    assert {kind: s["wer"] for kind, s in scores.items()} == {"all": 100.0, "digits": 100.0, "sentence": 100.0}
    assert scores["all"]["cer"] == 100.0
    assert scores["digits"]["utterances"] + scores["sentence"]["utterances"] == len(transcription_test.items)
    # The runner decoded with the demo's 16-token reference schedule.
    assert empty.calls[0]["gen_length"] == 16 and empty.calls[0]["cache"] is None


def test_digit_strings_and_sentences_are_scored_apart(transcription_test, tmp_path):
    def digits_right(item, decoding):
        return item.answer.lower() if curriculum.transcript_kind(item.answer) == "digits" else ""

    scores = curriculum.transcription_scores(
        Scripted(transcription_test, digits_right), transcription_test, str(tmp_path / "digits"), batch_size=4
    )
    assert scores["digits"]["wer"] == 0.0 and scores["sentence"]["wer"] == 100.0
    assert 0.0 < scores["all"]["wer"] < 100.0


def test_the_gate_picks_the_fastest_decoder_within_half_a_point(transcription_test, tmp_path):
    # Scripted quality: the threshold rule garbles every transcript; the factor rules drop the last word of the
    # first utterance; the rest transcribe perfectly. Scripted speed: each option's time per batch.
    first = transcription_test.items[0].id

    def script(item, decoding):
        words = item.answer.lower().split()
        if decoding.get("threshold"):
            return "garbled"
        if decoding.get("factor") and item.id == first:
            return " ".join(words[:-1])
        return " ".join(words)

    def delay(decoding):  # seconds per batch: what each option would save on a real model, scaled down
        if decoding.get("factor") or decoding.get("threshold"):
            return 0.05
        return 0.2 if decoding.get("cache") else 0.4 if decoding.get("eos_early_stop") else 0.6

    answerer = Scripted(transcription_test, script)
    answerer_batch = answerer.answer_batch
    answerer.answer_batch = lambda *a, **decoding: time.sleep(delay(decoding)) or answerer_batch(*a, **decoding)
    results = curriculum.compare_transcription_decoders(
        answerer, transcription_test, str(tmp_path / "gate"), batch_size=8
    )
    assert results["reference"]["wer"] == 0.0 and results["reference"]["same_transcript_as_reference"] == 100.0
    assert results["threshold 0.9 + dual cache + eos stop"]["wer"] == 100.0
    factor = results["factor 1.0 + dual cache + eos stop"]
    assert factor["wer"] > curriculum.TRANSCRIPTION_GATE_POINTS and factor["same_transcript_as_reference"] < 100.0
    assert curriculum.transcription_gate(results) == "dual cache + eos stop"
    assert "dual cache + eos stop (gate's choice)" in curriculum.format_transcription_gate(results)


def test_the_gate_is_skipped_while_stage_1_does_not_transcribe(transcription_test, tmp_path):
    never = Scripted(transcription_test, lambda item, decoding: "")
    scores = {"digits": {"wer": 87.5}}
    gate = curriculum.gate_transcription(never, transcription_test, scores, str(tmp_path), curriculum.QUICK)
    assert "87.5" in gate["skipped"] and not never.calls
