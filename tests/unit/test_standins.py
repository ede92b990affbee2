"""Pretrained stand-ins: they learn, and they load through the same code as the real releases."""

from speechbrain_diffa.chat import ChatLayout, load_tokenizer
from speechbrain_diffa.llada import LLaDA
from speechbrain_diffa.standins import pretrain_llada_standin


def test_llada_standin_learns_its_text_and_loads_as_a_release(tmp_path):
    texts = ["Is the tone high or low? high", "Is the tone high or low? low", "three beeps", "a falling melody"]
    path = str(tmp_path / "llada")
    losses = pretrain_llada_standin(path, texts * 8, steps=80, batch_size=8, d_model=64, n_layers=2, vocab_size=300)
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10
    llm = LLaDA.from_pretrained(path)
    chat = ChatLayout(load_tokenizer(path))
    assert chat.mask_id == llm.mask_token_id
    assert len(chat.tokenizer("three beeps")["input_ids"]) <= 3  # the BPE learned the corpus words
