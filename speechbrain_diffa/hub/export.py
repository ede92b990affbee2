"""Model folders for :class:`speechbrain_diffa.inference.DIFFA2`, from a recipe's output or the DIFFA-2 release.

A model folder (a local directory or the content of a hub repo)::

    hyperparams.yaml   the wiring (rendered from HUB_TEMPLATE), base model paths, default decoding
    diffa2.ckpt        only what training produced: adapters (+ 20 prompts in stage 1, + LoRA in 3-4)
    example.wav        a clip to try
    README.md          the model card: stage, training data, decoding settings, scores if known

::

    python -m speechbrain_diffa.cli export results/stage3_sft/42 models/diffa2-sft
    python -m speechbrain_diffa.cli convert-release DIFFA-2/pytorch_model.bin models/diffa2

Authors
 * speechbrain_diffa contributors 2026
"""

import datetime
import glob
import json
import os
import warnings

import torch
import yaml

from speechbrain_diffa.chat import DIFFA2_INFERENCE_SYSTEM_PROMPT
from speechbrain_diffa.decoding_presets import PRESETS, preset
from speechbrain_diffa.demo.tiny_models import TINY_SIZES
from speechbrain_diffa.inference import TRAINED_FILE

TRANSCRIBE_PROMPT = "Please transcribe the audio to text."
# The presets every entry point answers and transcribes with (speechbrain_diffa.decoding_presets).
ANSWER_DECODING = preset("answer")
TRANSCRIBE_DECODING = preset("transcribe")
LORA = {"r": 8, "alpha": 16, "dropout": 0.05, "targets": ["q_proj", "k_proj", "v_proj", "ff_proj", "up_proj"]}

# Architecture of the released DIFFA-2 (whisper-large-v3 + LLaDA-8B-Instruct, docs/sources.md).
FULL_VALUES = {
    "title": "DIFFA-2 (whisper-large-v3 + LLaDA-8B-Instruct), stage 4",
    "whisper_path": "hf://openai/whisper-large-v3",
    "llm_path": "hf://GSAI-ML/LLaDA-8B-Instruct",
    "stage": 4,
    "whisper_taps": [3, 7, 11, 15, 19, 23, 27, 31],
    "encoder_dim": 1280,
    "encoder_heads": 20,
    "llm_dim": 4096,
    "llm_dtype": "bfloat16",
    "acoustic_queries": 64,
    "acoustic_ffn": 3072,
    "mask_padding": False,
    "backbone": "diffusion",
    "lora": LORA,
    "answer_system_prompt": DIFFA2_INFERENCE_SYSTEM_PROMPT,
    "precision": "auto",
    "decoding": ANSWER_DECODING,
    "transcribe_prompt": TRANSCRIBE_PROMPT,
    "transcribe_decoding": TRANSCRIBE_DECODING,
}
# The tiny offline model of speechbrain_diffa.demo.tiny_models (its TINY_SIZES), stage 3.
TINY_VALUES = dict(
    FULL_VALUES,
    **TINY_SIZES,
    title="Tiny DIFFA-2 (random tiny Whisper + LLaDA from speechbrain_diffa.demo.tiny_models), stage 3",
    whisper_path="tiny/whisper",
    llm_path="tiny/llada",
    stage=3,
    answer_system_prompt=None,
    transcribe_decoding=preset("transcribe", steps=32, gen_length=32, block_length=32),
)
HUB_TEMPLATE = """\
# ############################################################################
# {title}
#
#   waveform -> Whisper encoder (frozen) -> semantic + acoustic adapters
#            -> audio block spliced into the chat prompt -> LLaDA (masked diffusion) -> answer
#
#   from speechbrain_diffa.inference import DIFFA2
#   model = DIFFA2.from_hparams(source="<this folder or hub repo>",
#                               overrides={{"whisper_path": "...", "llm_path": "..."}})
#   model.answer_file("example.wav", "What can you hear from the audio?")
#
#   diffa2.ckpt holds only what training produced ({trained}); the frozen
#   base models come from whisper_path and llm_path. Loading runs only the callables
#   named below (speechbrain_diffa.inference.ALLOWED_CALLABLES).
# ############################################################################

# ------- base models: a path relative to this folder, an absolute path, or hf://owner/name
whisper_path: {whisper_path}
llm_path: {llm_path}

# ---------------------------------------------------------------- model
backbone: {backbone}  # diffusion (LLaDA) or autoregressive (the matched causal-Llama control)
stage: {stage}  # 1: audio block [20 prompts ; semantic]; 2+: [acoustic ; semantic]; 3+: LoRA
whisper_taps: {whisper_taps}  # encoder hidden states the acoustic adapter reads
encoder_dim: {encoder_dim}
encoder_heads: {encoder_heads}
llm_dim: {llm_dim}
llm_dtype: {llm_dtype}  # dtype of the LLaDA weights
acoustic_queries: {acoustic_queries}  # per tap
acoustic_ffn: {acoustic_ffn}
mask_padding: {mask_padding}  # False as trained by the release: audio padding is attended to
lora: {lora}  # null before stage 3
answer_system_prompt: {answer_system_prompt}  # null: the training system prompt
precision: {precision}  # auto: bf16 autocast where the device supports it, else fp32

# ------------------------------------------- decoding defaults (each call may override)
# The "answer" and "transcribe" presets of speechbrain_diffa.decoding_presets (why these options, and
# what they cost in agreement and gain in time: docs/decoding.md); the "answer-reference" preset
# (CLI: --preset answer-reference, or --reference) is LLaDA's reference sampler.
decoding: {decoding}
transcribe_prompt: {transcribe_prompt}
transcribe_decoding: {transcribe_decoding}

# ---------------------------------------------------------------- wiring
encoder: !new:speechbrain_diffa.whisper.WhisperEncoderTaps
    source: !apply:speechbrain_diffa.inference.local_model_folder [!ref <whisper_path>]
    taps: !ref <whisper_taps>

llm_folder: !apply:speechbrain_diffa.inference.local_model_folder [!ref <llm_path>]

llm: !apply:speechbrain_diffa.autoregressive.load_backbone
    backbone: !ref <backbone>
    path: !ref <llm_folder>
    dtype: !ref <llm_dtype>
    lora: !ref <lora>

semantic_adapter: !new:speechbrain_diffa.adapters.SemanticAdapter
    input_size: !ref <encoder_dim>
    output_size: !ref <llm_dim>

acoustic_adapter: !new:speechbrain_diffa.adapters.AcousticAdapter
    input_size: !ref <encoder_dim>
    num_heads: !ref <encoder_heads>
    num_taps: !apply:len [!ref <whisper_taps>]
    output_size: !ref <llm_dim>
    num_queries: !ref <acoustic_queries>
    ffn_size: !ref <acoustic_ffn>
    mask_padding: !ref <mask_padding>

chat: !new:speechbrain_diffa.chat.ChatLayout
    tokenizer: !apply:speechbrain_diffa.chat.load_tokenizer [!ref <llm_folder>]

diffa: !new:speechbrain_diffa.model.DIFFA2Model
    encoder: !ref <encoder>
    semantic_adapter: !ref <semantic_adapter>
    acoustic_adapter: !ref <acoustic_adapter>
    llm: !ref <llm>
    chat: !ref <chat>
    stage: !ref <stage>
    mask_padding: !ref <mask_padding>
    answer_system_prompt: !ref <answer_system_prompt>

modules:
    diffa: !ref <diffa>

# Fetches diffa2.ckpt from the source and loads it into `diffa` (DIFFA2Model.load_previous_stage).
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        diffa2: !ref <diffa>
"""
OPTIONAL_KEYS = ("mask_padding", "backbone")  # recipe folders from before these keys existed lack them
ARCHITECTURE_KEYS = (
    "stage",
    "whisper_taps",
    "encoder_dim",
    "encoder_heads",
    "llm_dim",
    "llm_dtype",
    "acoustic_queries",
    "acoustic_ffn",
    "mask_padding",
    "lora",
    "backbone",
)


def render_hub_yaml(values):
    """The ``hyperparams.yaml`` of a model folder (:data:`HUB_TEMPLATE` filled with ``values``).

    Arguments
    ---------
    values : dict
        Every key of :data:`FULL_VALUES`.

    Returns
    -------
    str

    Example
    -------
    >>> text = render_hub_yaml(TINY_VALUES)
    >>> yaml.load(text, Loader=_TagTolerantLoader)["whisper_taps"]
    [1, 2, 3]
    """
    missing = sorted(set(FULL_VALUES) - set(values))
    if missing:
        raise KeyError(f"Model folder values lack {missing}")
    fields = {k: json.dumps(v) for k, v in values.items() if k != "title"}
    stage, lora = values["stage"], values["lora"]
    if stage >= 3 and not lora:
        raise ValueError(f"stage {stage} needs LoRA settings (lora: {{r, alpha, dropout, targets}})")
    trained = "semantic adapter + 20 prompts" if stage == 1 else "both adapters"
    fields["trained"] = trained + (" + LoRA" if stage >= 3 else "")
    return HUB_TEMPLATE.format(title=values["title"], **fields)


class _TagTolerantLoader(yaml.SafeLoader):
    """Reads a HyperPyYAML file's plain values; tagged nodes (``!new:``, ``!ref`` ...) become None."""


_TagTolerantLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def read_hub_values(path):
    """The values of a model folder's ``hyperparams.yaml`` (e.g. ``hparams/diffa2_tiny.yaml``), no object built.

    Example
    -------
    >>> path = getfixture("tmpdir") + "/hyperparams.yaml"
    >>> _ = open(path, "w").write(render_hub_yaml(TINY_VALUES))
    >>> read_hub_values(path)["llm_dim"]
    64
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Model YAML not found: {path}")
    with open(path, encoding="utf-8") as f:
        values = yaml.load(f, Loader=_TagTolerantLoader)
    missing = sorted(set(FULL_VALUES) - {"title"} - set(values))
    if missing:
        raise KeyError(f"{path} lacks {missing}: not a DIFFA2 model-folder YAML")
    with open(path, encoding="utf-8") as f:
        titles = [line[2:].strip() for line in f if line.startswith("# ") and not line.startswith("# #")]
    title = titles[0] if titles else "DIFFA-2"
    return dict({k: values[k] for k in FULL_VALUES if k != "title"}, title=title)


def read_recipe_values(recipe_folder):
    """The plain values of a recipe output folder's ``hyperparams.yaml`` (no object is built).

    SpeechBrain writes that file with every ``!ref`` and command-line override resolved, so the
    dims, taps, stage and LoRA settings are literals there.

    Example
    -------
    >>> read_recipe_values("/no/such/run")
    Traceback (most recent call last):
    ...
    FileNotFoundError: Recipe output folder not found: /no/such/run
    """
    if not os.path.isdir(recipe_folder):
        raise FileNotFoundError(f"Recipe output folder not found: {recipe_folder}")
    path = os.path.join(recipe_folder, "hyperparams.yaml")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{recipe_folder} has no hyperparams.yaml: is it a recipe's output_folder?")
    with open(path, encoding="utf-8") as f:
        values = yaml.load(f, Loader=_TagTolerantLoader)
    required = [k for k in ARCHITECTURE_KEYS + ("whisper_path", "llm_path") if k not in OPTIONAL_KEYS]
    missing = [k for k in required if k not in values]
    if missing:
        raise KeyError(f"{path} lacks {missing}: not a DIFFA-2 stage YAML")
    return values


def written_base_model(value):
    """How a base model is written into a model folder's YAML (see :mod:`speechbrain_diffa.hub.model_folder`).

    A local folder becomes its absolute path (a relative one would be read inside the model
    folder); ``owner/name`` that is not a local path becomes ``hf://owner/name``.

    Example
    -------
    >>> written_base_model("GSAI-ML/LLaDA-8B-Instruct"), written_base_model("hf://openai/whisper-large-v3")
    ('hf://GSAI-ML/LLaDA-8B-Instruct', 'hf://openai/whisper-large-v3')
    >>> written_base_model(".") == os.path.abspath(".")
    True
    """
    from speechbrain_diffa.hub.model_folder import HUB_PREFIX, hub_repo_id

    value = os.fspath(value)
    if os.path.isdir(value):
        return os.path.abspath(value)
    repo = hub_repo_id(value, bare=not os.path.exists(value))
    return HUB_PREFIX + repo if repo else value


def hub_values_from_recipe(recipe_values, whisper_path=None, llm_path=None, title=None):
    """Model-folder values (for :func:`render_hub_yaml`) from a recipe's values.

    Example
    -------
    >>> values = hub_values_from_recipe(dict(TINY_VALUES, stage=2, lora=None), whisper_path="w")
    >>> values["stage"], values["whisper_path"], values["decoding"]["steps"]
    (2, 'w', 16)
    """
    values = dict(FULL_VALUES, answer_system_prompt=None)
    values.update({k: recipe_values[k] for k in ARCHITECTURE_KEYS if k in recipe_values})
    values["mask_padding"] = bool(recipe_values.get("mask_padding", False))
    values["backbone"] = recipe_values.get("backbone", "diffusion")  # recipes before the switch are diffusion
    values["whisper_path"] = written_base_model(whisper_path or recipe_values["whisper_path"])
    values["llm_path"] = written_base_model(llm_path or recipe_values["llm_path"])
    if values["stage"] < 3:
        values["lora"] = None
    values["title"] = title or f"DIFFA-2, stage {values['stage']} (exported from a speechbrain_diffa recipe)"
    return values


def export_recipe(recipe_folder, out_folder, whisper_path=None, llm_path=None, example=None, scores=(), title=None):
    """Turn a recipe's output folder (any stage) into a model folder for ``DIFFA2.from_hparams``.

    Arguments
    ---------
    recipe_folder : str
        A stage's ``output_folder`` (``hyperparams.yaml`` + ``diffa2_trained.ckpt``).
    out_folder : str
        The model folder to write (created; existing files of the same names are replaced).
    whisper_path, llm_path : str
        Base models for the model folder (default: the recipe's; a repo id for publishing).
    example : str
        An audio file to ship as ``example.wav`` (default: the first validation clip).
    scores : list of str
        ``report.json`` files of :mod:`speechbrain_diffa.evaluation` runs (default: any in
        ``recipe_folder``) summarised in the model card.
    title : str
        First line of the YAML and the card.

    Returns
    -------
    str
        ``out_folder``.
    """
    recipe = read_recipe_values(recipe_folder)
    trained = os.path.join(recipe_folder, "diffa2_trained.ckpt")
    if not os.path.isfile(trained):
        raise FileNotFoundError(f"{trained} not found: the stage has not finished training")
    state = _read_checked(trained)
    values = hub_values_from_recipe(recipe, whisper_path, llm_path, title)
    os.makedirs(out_folder, exist_ok=True)
    torch.save(state, os.path.join(out_folder, TRAINED_FILE))
    _write(os.path.join(out_folder, "hyperparams.yaml"), render_hub_yaml(values))
    question = _write_example(out_folder, example, recipe)
    scores = list(scores) or sorted(glob.glob(os.path.join(recipe_folder, "**", "report.json"), recursive=True))
    card = model_card(values, state, _training_summary(recipe_folder, recipe), scores, question)
    _write(os.path.join(out_folder, "README.md"), card)
    return out_folder


def _read_checked(path):
    from speechbrain_diffa.hub.weight_files import read_state_dict

    state = read_state_dict(path)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} is not a tensor state dict")
    return state


def _write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _manifest_records(recipe, key):
    path = recipe.get(key)
    if not path or not os.path.isfile(path):
        return []
    from speechbrain_diffa.data.manifests import read_manifest

    try:
        return read_manifest(path)
    except Exception:  # a card is still useful without the data; the manifest is only described
        return []


def _write_example(out_folder, example, recipe):
    """Write ``example.wav`` (16 kHz mono); return the question to try with it."""
    import soundfile

    from speechbrain_diffa.data.audio import load_audio

    question = "What can you hear from the audio?"
    if example is None:
        for key in ("valid_manifest", "train_manifest"):
            records = _manifest_records(recipe, key)
            if records:
                example = records[0]["audio_filepath"].replace("{data_root}", str(recipe.get("data_folder", "")))
                question = records[0].get("input", question)
                break
    if example is None:  # no data left: a 1 s 440 Hz tone
        wav = 0.3 * torch.sin(2 * torch.pi * 440.0 * torch.arange(16000) / 16000)
    else:
        wav = load_audio(example)
    soundfile.write(os.path.join(out_folder, "example.wav"), wav.numpy(), 16000)
    return question


def _training_summary(recipe_folder, recipe):
    """Lines describing the training data and run, for the model card."""
    lines = []
    for key in ("train_manifest", "replay_manifest", "valid_manifest"):
        if recipe.get(key):
            count = len(_manifest_records(recipe, key))
            lines.append(f"- {key}: `{recipe[key]}` ({count} records)" if count else f"- {key}: `{recipe[key]}`")
    for key in ("number_of_epochs", "batch_size", "grad_accumulation_factor", "lr", "seed"):
        if key in recipe:
            lines.append(f"- {key}: {recipe[key]}")
    log = os.path.join(recipe_folder, "train_log.txt")
    if os.path.isfile(log):
        with open(log, encoding="utf-8") as f:
            last = [line.strip() for line in f if line.strip()]
        if last:
            lines.append(f"- last epoch: {last[-1]}")
    return lines


def model_card(values, state, training_lines, scores, question):
    """The model folder's README.md.

    Example
    -------
    >>> card = model_card(FULL_VALUES, {"semantic_adapter.w": torch.zeros(2)}, ["- lr: 0.1"], [], "Which?")
    >>> "steps=16" in card and "- lr: 0.1" in card
    True
    >>> print("\\n".join(card.splitlines()[:9]))
    ---
    library_name: speechbrain
    pipeline_tag: audio-text-to-text
    license: apache-2.0
    base_model:
    - openai/whisper-large-v3
    - GSAI-ML/LLaDA-8B-Instruct
    tags: [speechbrain_diffa, diffa-2, audio-language-model, diffusion]
    ---
    """
    count = sum(v.numel() for v in state.values())
    decoding = _decoding_line(values["decoding"])
    transcribe = _decoding_line(values["transcribe_decoding"])
    lines = [
        *_front_matter(values),
        f"# {values['title']}",
        "",
        "DIFFA-2: a Whisper encoder, semantic and acoustic adapters, and LLaDA (a masked-diffusion LLM).",
        f"Made with speechbrain_diffa on {datetime.date.today().isoformat()}.",
        "",
        "## Use",
        "",
        "Install speechbrain_diffa (`pip install -e .` in a checkout of the project), then:",
        "",
        "```python",
        "from speechbrain_diffa.inference import DIFFA2",
        'model = DIFFA2.from_hparams(source="THIS_FOLDER_OR_REPO",',
        f'                            overrides={{"whisper_path": "{values["whisper_path"]}", '
        f'"llm_path": "{values["llm_path"]}"}})',
        f'print(model.answer_file("example.wav", {question!r}))',
        "```",
        "",
        f"or `diffa2 answer --model THIS_FOLDER example.wav --question {json.dumps(question)}`.",
        "",
        "## Contents",
        "",
        f"- `diffa2.ckpt`: {len(state)} tensors, {count:,} parameters (stage {values['stage']}: what it trained).",
        f"- Base models (not included): Whisper `{values['whisper_path']}`, LLaDA `{values['llm_path']}`.",
        f"- Encoder taps {values['whisper_taps']}, LoRA {json.dumps(values['lora'])}.",
        "",
        "## Decoding defaults",
        "",
        f"- answers: {decoding}",
        f"- transcripts (`transcribe_file`, prompt {values['transcribe_prompt']!r}): {transcribe}",
        "- Change them in `hyperparams.yaml` (`decoding`, `transcribe_decoding`) or per call.",
        "",
        "## Training",
        "",
        *(training_lines or ["- Not recorded (converted from released weights)."]),
        "",
        "## Scores",
        "",
    ]
    lines += _score_lines(scores) or ["No benchmark reports were given."]
    return "\n".join(lines) + "\n"


def _decoding_line(options):
    """Decoding options as a model card writes them: the preset's name when they are one, the options that are on."""
    on = ", ".join(f"{k}={v}" for k, v in options.items() if v is not None and v is not False)
    names = [name for name, settings in PRESETS.items() if settings == options]
    return f"the `{names[0]}` preset ({on})" if names else on


def _front_matter(values):
    """The Hugging Face model-card metadata: library, task, licence, and the base models when they are hub repos."""
    from speechbrain_diffa.hub.model_folder import hub_repo_id

    bases = [hub_repo_id(values[k]) for k in ("whisper_path", "llm_path")]
    lines = ["---", "library_name: speechbrain", "pipeline_tag: audio-text-to-text", "license: apache-2.0"]
    if all(bases):
        lines += ["base_model:"] + [f"- {repo}" for repo in bases]
    return lines + ["tags: [speechbrain_diffa, diffa-2, audio-language-model, diffusion]", "---", ""]


def _score_lines(scores):
    out = []
    for path in scores:
        md = os.path.join(os.path.dirname(path), "report.md")
        if os.path.isfile(md):
            with open(md, encoding="utf-8") as f:
                out += [f"From `{path}`:", "", f.read().strip(), ""]
        elif os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                report = json.load(f)
            top = {k: v for k, v in report.items() if isinstance(v, (int, float, str))}
            out += [f"- `{path}`: {json.dumps(top)}"]
    return out


def export_release(
    release,
    out_folder,
    like=None,
    stage=None,
    lora_alpha=16,
    lora_dropout=0.05,
    whisper_path=None,
    llm_path=None,
    example=None,
    title=None,
):
    """Convert the DIFFA-2 release (``pytorch_model.bin`` / ``*.safetensors``) into a model folder.

    Every release key is either mapped (adapters, prompts, LoRA) or recognised as a frozen base
    weight (Whisper, LLaDA) and skipped; any other key, or missing LoRA, is an error. The report
    (also written as ``conversion_report.json``) lists what went where.

    Arguments
    ---------
    release : str
        The release checkpoint file.
    out_folder : str
        The model folder to write.
    like : dict
        Architecture values (as :data:`FULL_VALUES`, the default); the tensors must fit them.
    stage : int
        The stage the weights come from (default: 3 with LoRA, else 2).
    lora_alpha, lora_dropout : float
        Not stored in the release; its scripts use 16 and 0.05 (alpha matters for the result).
    whisper_path, llm_path : str
        Base models (default: ``like``'s).
    example : str
        An audio file to ship (default: a tone).
    title : str
        Model card title.

    Returns
    -------
    dict
        The conversion report.
    """
    from speechbrain_diffa.hub.release_weights import convert_released_state
    from speechbrain_diffa.hub.weight_files import read_state_dict

    values = dict(like or FULL_VALUES)
    release_state = read_state_dict(release)
    adapter_counts = check_released_adapters(release_state, values)
    state, report = convert_released_state(release_state)
    report["adapters_checked_against"] = adapter_counts
    has_lora = report["lora"]["rank"] is not None
    values["stage"] = stage or (3 if has_lora else 2)
    if values["stage"] >= 3:
        if not has_lora:
            raise KeyError(f"{release}: stage {values['stage']} needs LoRA, but the release has no lora_A/lora_B keys")
        values["lora"] = {
            "r": report["lora"]["rank"],
            "alpha": lora_alpha,
            "dropout": lora_dropout,
            "targets": report["lora"]["targets"],
        }
    elif has_lora:
        raise ValueError(f"{release} has LoRA weights, which a stage-{values['stage']} model does not use")
    else:
        values["lora"] = None
    values["whisper_path"] = written_base_model(whisper_path or values["whisper_path"])
    values["llm_path"] = written_base_model(llm_path or values["llm_path"])
    values["title"] = title or f"DIFFA-2 release weights, stage {values['stage']} (converted)"
    os.makedirs(out_folder, exist_ok=True)
    torch.save(state, os.path.join(out_folder, TRAINED_FILE))
    _write(os.path.join(out_folder, "hyperparams.yaml"), render_hub_yaml(values))
    question = _write_example(out_folder, example, {})
    report["source"] = os.path.abspath(release)
    _write(os.path.join(out_folder, "conversion_report.json"), json.dumps(report, indent=2) + "\n")
    _write(os.path.join(out_folder, "README.md"), model_card(values, state, [], [], question))
    return report


def check_released_adapters(release_state, values):
    """Load the release adapters into adapters of ``values``' sizes: every key and shape must fit.

    Example
    -------
    >>> from speechbrain_diffa.adapters import AcousticAdapter, SemanticAdapter
    >>> from speechbrain_diffa.hub.release_weights import released_adapter_state
    >>> v = TINY_VALUES
    >>> sem = SemanticAdapter(v["encoder_dim"], v["llm_dim"])
    >>> aco = AcousticAdapter(v["encoder_dim"], v["encoder_heads"], 3, v["llm_dim"], num_queries=8, ffn_size=256)
    >>> check_released_adapters(released_adapter_state(sem, aco), v)["left_to_other_loaders"]
    0
    """
    from speechbrain_diffa.adapters import AcousticAdapter, SemanticAdapter
    from speechbrain_diffa.hub.release_weights import load_released_adapters

    with torch.device("meta"):  # shapes only: nothing is allocated or copied
        semantic = SemanticAdapter(values["encoder_dim"], values["llm_dim"])
        acoustic = AcousticAdapter(
            values["encoder_dim"],
            values["encoder_heads"],
            len(values["whisper_taps"]),
            values["llm_dim"],
            num_queries=values["acoustic_queries"],
            ffn_size=values["acoustic_ffn"],
        )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*meta parameter.*")
        return load_released_adapters(semantic, acoustic, release_state)


def write_tiny_model_folder(root, stage=3, seed=0, tiny_root=None, backbone="diffusion"):
    """A model folder of the tiny offline model under ``root`` (demo and tests; no training).

    Writes ``root/model`` and returns it; the tiny base models are ``tiny_root/{llada,whisper}``
    (default ``root/tiny``; made if missing). ``seed`` seeds the adapters as in
    :func:`speechbrain_diffa.demo.tiny_models.make_tiny_diffa2`, so that function rebuilds the same model;
    ``backbone="autoregressive"`` uses the tiny causal Llama (``tiny_root/ar``) instead of LLaDA.

    Example
    -------
    >>> folder = write_tiny_model_folder(str(getfixture("tmpdir")))
    >>> sorted(os.listdir(folder))
    ['README.md', 'diffa2.ckpt', 'example.wav', 'hyperparams.yaml']
    """
    from speechbrain_diffa.demo.tiny_models import make_tiny_diffa2

    tiny = tiny_root or os.path.join(root, "tiny")
    model = make_tiny_diffa2(tiny, stage=stage, seed=seed, backbone=backbone)
    state = model.trainable_state_dict()
    values = dict(
        TINY_VALUES,
        stage=stage,
        lora=LORA if stage >= 3 else None,  # make_tiny_diffa2 adds LLaDA.add_lora()'s defaults = LORA
        whisper_path=os.path.join(tiny, "whisper"),
        llm_path=os.path.join(tiny, "llada" if backbone == "diffusion" else "ar"),
        backbone=backbone,
    )
    folder = os.path.join(root, "model" if backbone == "diffusion" else "model_ar")
    os.makedirs(folder, exist_ok=True)
    torch.save(state, os.path.join(folder, TRAINED_FILE))
    _write(os.path.join(folder, "hyperparams.yaml"), render_hub_yaml(values))
    _write_example(folder, None, {})
    _write(os.path.join(folder, "README.md"), model_card(values, state, [], [], "Is the tone high or low?"))
    return folder
