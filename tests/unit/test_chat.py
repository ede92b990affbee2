"""Chat layout: DIFFA's prompt text, prompt length, splice position, errors."""

import pytest

from speechbrain_diffa.chat import DIFFA2_INFERENCE_SYSTEM_PROMPT, ChatLayout, load_tokenizer


@pytest.fixture(scope="module")
def chat(tiny_llada_path):
    return ChatLayout(load_tokenizer(tiny_llada_path))


def test_training_text_is_diffa_layout(chat):
    ex = chat.training_example("How many beeps?", "three")
    text = chat.tokenizer.decode(ex.ids)
    assert text == (
        "<|startoftext|><|start_header_id|>system<|end_header_id|>\n\n"
        + chat.system_prompt
        + "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nThis is the audio: <audio>. "
        "How many beeps?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nthree<|eot_id|>"
    )
    # The answer side starts with the assistant header, as in DIFFA (it is masked and scored).
    assert ex.ids[ex.prompt_length] == chat.ids["start_header"]


def test_audio_goes_after_the_colon(chat):
    for ex in (chat.prompt("q?"), chat.training_example("q?", "a")):
        before = chat.tokenizer.decode(ex.ids[: ex.splice_at])
        after = chat.tokenizer.decode(ex.ids[ex.splice_at :])
        assert before.endswith("This is the audio:")
        assert after.startswith(" <audio>. q?")


def test_prompt_ends_with_generation_header_and_system_override(chat):
    ex = chat.prompt("Which sound?", system_prompt=DIFFA2_INFERENCE_SYSTEM_PROMPT)
    text = chat.tokenizer.decode(ex.ids)
    assert text.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert DIFFA2_INFERENCE_SYSTEM_PROMPT + "<|eot_id|>" in text
    assert ex.prompt_length == len(ex.ids)


def test_collate_prompts_left_pads_and_shifts_splice(chat):
    a, b = chat.prompt("short?"), chat.prompt("a much longer question about the clip?")
    ids, mask, splice = chat.collate_prompts([a, b])
    pad = len(b.ids) - len(a.ids)
    assert mask[0, :pad].sum() == 0 and mask[0, pad:].all() and mask[1].all()
    assert splice.tolist() == [a.splice_at + pad, b.splice_at]
    assert ids[0, splice[0] - 1] == ids[1, splice[1] - 1]


def test_decode_answer_cuts_at_eos_and_eot(chat):
    ids = chat.tokenizer("three beeps")["input_ids"] + [chat.eot_id, chat.eos_id] + chat.tokenizer("junk")["input_ids"]
    assert chat.decode_answer(ids) == "three beeps"
    assert chat.decode_answer([chat.mask_id] + chat.tokenizer("two")["input_ids"]) == "two"


def test_errors(chat, tmp_path):
    with pytest.raises(ValueError, match="question .* is empty"):
        chat.prompt("   ")
    with pytest.raises(ValueError, match="Empty target"):
        chat.training_example("q", "")
    with pytest.raises(ValueError, match="no mask token"):
        ChatLayout(chat.tokenizer, special_tokens={"mask": "<|not_a_token|>"})
    with pytest.raises(FileNotFoundError, match="No tokenizer"):
        load_tokenizer(str(tmp_path))
