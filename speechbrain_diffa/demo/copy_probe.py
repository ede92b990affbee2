"""Can a language stand-in read text out of the audio slot? A text-only probe of what stage 1 needs.

Stage 1 trains only what fills the audio slot, with the LLM frozen, so it can teach transcription only to an LLM
that already reads words written there. This probe pretrains a LLaDA stand-in on a demo corpus with copy chats
(:func:`~speechbrain_diffa.demo.standins.copy_chat`: the transcript's words in the slot) and decodes the
held-out copy chats of the corpus's validation clips, no audio involved::

    python -m speechbrain_diffa.demo.copy_probe --data results/demo/data --layers 2 --copy 1.0 --steps 1600

It prints the WER of digit strings and of sentences (16-token reference decoding). Figures: docs/demo.md,
"Stage 1 and transcription".

Authors
 * speechbrain_diffa contributors 2026
"""

import argparse
import json
import os
import tempfile
import time

import torch


def probe_copying(data, steps, layers, copy_fraction, seed=0, items=100, folder=None, lr=1e-3):
    """Pretrain a LLaDA stand-in with copy chats on ``data``'s training text; WER of its held-out copy chats.

    Arguments
    ---------
    data : str
        A demo corpus (:func:`~speechbrain_diffa.demo.synthetic.build_corpus`).
    steps, layers : int
        The stand-in's pretraining steps and depth.
    copy_fraction : float
        Share of batch rows that are copy chats (1.0: copy chats only, no corpus text).
    seed : int
        The stand-in's seed.
    items : int
        Held-out validation transcripts decoded.
    lr : float
        Peak learning rate of the pretraining.
    folder : str, optional
        Where the stand-in is saved (default: a temporary folder).

    Returns
    -------
    dict
        ``wer`` per kind (``digits``, ``sentence``), ``seconds`` of pretraining, and a few ``examples``.

    Example
    -------
    >>> from speechbrain_diffa.demo.synthetic import build_corpus
    >>> data = str(getfixture("tmpdir") / "corpus")
    >>> _ = build_corpus(data, num_train=12, num_valid=6, num_test=3, speech="formant")
    >>> result = probe_copying(data, steps=2, layers=1, copy_fraction=1.0, items=6)
    >>> set(result["wer"]) <= {"digits", "sentence"}, len(result["examples"]) > 0
    (True, True)
    """
    from speechbrain.utils.metric_stats import ErrorRateStats

    from speechbrain_diffa.chat import ChatLayout, load_tokenizer
    from speechbrain_diffa.demo.curriculum import copy_transcripts, standin_texts, transcript_kind
    from speechbrain_diffa.demo.standins import FILLER, copy_chat, pretrain_llada_standin, slot_embeddings
    from speechbrain_diffa.llada import LLaDA
    from speechbrain_diffa.sampling import generate

    folder = folder or tempfile.mkdtemp(prefix="copy_probe_")
    texts = standin_texts(data)
    start = time.time()
    pretrain_llada_standin(folder, texts, steps=steps, n_layers=layers, seed=seed, lr=lr,
                           transcripts=copy_transcripts(os.path.join(data, "stage1_asr_train.json")),
                           copy_fraction=copy_fraction)  # fmt: skip
    seconds = time.time() - start
    chat = ChatLayout(load_tokenizer(folder))
    llm = LLaDA.from_pretrained(folder).eval()
    filler = chat.tokenizer.convert_tokens_to_ids(FILLER)
    stats, examples = {}, []
    for number, (instruction, text, clip_seconds) in enumerate(
        copy_transcripts(os.path.join(data, "stage1_asr_valid.json"))[:items]
    ):
        ids, prompt_length, (start, end) = copy_chat(chat, instruction, text, clip_seconds, filler)
        prompt = torch.tensor([ids[: prompt_length + chat.answer_header_length]])

        def reads_slot(canvas, start=start, end=end):
            """The stand-in on ``canvas`` with the slot written as in pretraining (the reference sampler's model)."""
            slot = torch.zeros_like(canvas, dtype=torch.bool)
            slot[:, start:end] = True
            return llm(inputs_embeds=slot_embeddings(llm, canvas, slot))

        with torch.no_grad():
            out = generate(reads_slot, prompt, steps=16, gen_length=16, block_length=16, mask_id=chat.mask_id,
                           eos_id=chat.eos_id, eot_id=chat.eot_id)  # fmt: skip
        answer = chat.decode_answer(out[0, prompt.shape[1] :].tolist())
        kind = stats.setdefault(transcript_kind(text), ErrorRateStats())
        kind.append([str(number)], [answer.split()], [text.split()])
        if len(examples) < 6:
            examples.append((text, answer))
    return {"wer": {k: round(s.summarize()["WER"], 1) for k, s in stats.items()}, "seconds": round(seconds, 1),
            "examples": examples}  # fmt: skip


def main(argv=None):
    """``python -m speechbrain_diffa.demo.copy_probe --data DIR [--steps N --layers N --copy F --seed N]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a demo corpus folder (results/demo/data)")
    parser.add_argument("--steps", type=int, default=1600)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--copy", type=float, default=1.0, help="share of rows that are copy chats")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = probe_copying(args.data, args.steps, args.layers, args.copy, args.seed, lr=args.lr)
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
