"""``diffa2 serve`` on loopback with the tiny model: OpenAI clients, concurrent load, bad requests, streaming."""

import base64
import io
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import soundfile
import torch

from speechbrain_diffa.hub.export import write_tiny_model_folder
from speechbrain_diffa.inference import DIFFA2
from speechbrain_diffa.serving import Batcher, Job, RequestError, ServeSettings, build_app

openai = pytest.importorskip("openai")  # installed by recipes/install.sh (the tested set)
uvicorn = pytest.importorskip("uvicorn")


def tone(seconds, hz, sr=16000):
    """A WAV file's bytes: a tone of ``hz`` lasting ``seconds``."""
    t = torch.arange(int(seconds * sr)) / sr
    buffer = io.BytesIO()
    soundfile.write(buffer, (0.3 * torch.sin(2 * torch.pi * hz * t)).numpy(), sr, format="WAV")
    return buffer.getvalue()


def audio_message(wav_bytes, question, fmt="wav"):
    data = base64.b64encode(wav_bytes).decode()
    return [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": data, "format": fmt}},
        {"type": "text", "text": question}]}]  # fmt: skip


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return DIFFA2.from_hparams(source=write_tiny_model_folder(str(tmp_path_factory.mktemp("serve"))))


@pytest.fixture(scope="module")
def server(model):
    """The app under uvicorn on a free loopback port, for the module's tests."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = ServeSettings(batch_window_ms=50, max_audio_seconds=4, max_question_chars=200)
    config = uvicorn.Config(build_app(model, settings), host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    for _ in range(200):
        if instance.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=30)
    assert not thread.is_alive()


def post(url, body):
    """POST ``body`` (dict or bytes); returns (status, parsed JSON)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url + "/v1/chat/completions", data=data,
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def alone(model, wav_bytes, question, tmp_path, **decoding):
    path = tmp_path / f"{abs(hash((wav_bytes, question)))}.wav"
    path.write_bytes(wav_bytes)
    return model.answer_file(str(path), question, **decoding)


def test_an_openai_client_gets_the_answer_answer_file_gives(server, model, tmp_path):
    client = openai.OpenAI(base_url=server + "/v1", api_key="none")
    clip = tone(1.0, 440)
    reply = client.chat.completions.create(model="diffa2", messages=audio_message(clip, "Is the tone high or low?"))
    assert reply.choices[0].message.content == alone(model, clip, "Is the tone high or low?", tmp_path)
    assert reply.usage.completion_tokens >= 0 and reply.usage.prompt_tokens > 0
    # per-request decoding: max_tokens and the reference sampler, as answer_file takes them
    reference = client.chat.completions.create(
        model="diffa2", messages=audio_message(clip, "Which?"), max_tokens=32, extra_body={"reference": True}
    )
    expected = alone(model, clip, "Which?", tmp_path, steps=32, gen_length=32, block_length=32, cache=None,
                     factor=None, eos_early_stop=False)  # fmt: skip
    assert reference.choices[0].message.content == expected
    assert [m.id for m in client.models.list().data] == ["diffa2"]


def test_streamed_text_adds_up_to_the_answer(server, model, tmp_path):
    client = openai.OpenAI(base_url=server + "/v1", api_key="none")
    clip = tone(0.7, 2000)
    options = {"block_length": 8, "reference": True}
    stream = client.chat.completions.create(
        model="diffa2", messages=audio_message(clip, "What is heard?"), max_tokens=32, stream=True, extra_body=options
    )
    chunks = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    expected = alone(model, clip, "What is heard?", tmp_path, steps=32, gen_length=32, block_length=8,
                     cache=None, factor=None, eos_early_stop=False)  # fmt: skip
    assert "".join(chunks) == expected


def test_64_concurrent_requests_from_8_clients_each_get_their_own_answer(server, model, tmp_path):
    """Dynamic batching: answers equal each clip decoded alone, no errors, and some requests shared a batch."""
    clips = [tone(0.5 + 0.05 * i, 200 + 150 * i) for i in range(8)]
    questions = ["Is it high?", "How long is it?", "Is it music?", "What do you hear?"]
    jobs = [(clips[i % 8], questions[i % 4]) for i in range(64)]
    before = _metric(server, "diffa2_batch_size_count")

    def ask(job):
        return post(server, {"model": "diffa2", "messages": audio_message(*job)})

    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(ask, jobs))
    assert all(status == 200 for status, _ in replies), [r for r in replies if r[0] != 200][:2]
    expected = {job: alone(model, *job, tmp_path) for job in set(jobs)}
    assert [reply["choices"][0]["message"]["content"] for _, reply in replies] == [expected[j] for j in jobs]
    batches = _metric(server, "diffa2_batch_size_count") - before
    assert batches < 64  # at least two requests were decoded together


def _metric(server, name):
    with urllib.request.urlopen(server + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ") or
               line.startswith(name + "{"))  # fmt: skip


TEXT = {"type": "text", "text": "Hi?"}
NOT_BASE64 = {"type": "input_audio", "input_audio": {"data": "@@@", "format": "wav"}}


@pytest.mark.parametrize(
    "body, status, message",
    [
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi?"}]}]},
            400,
            "exactly one input_audio",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_audio", "input_audio": {"data": "@@@", "format": "wav"}},
                            {"type": "text", "text": "Hi?"},
                        ],
                    }
                ]
            },
            400,
            "not valid base64",
        ),  # fmt: skip
        ({"messages": audio_message(b"RIFF....garbage", "Hi?")}, 400, "not readable wav audio"),
        ({"messages": audio_message(tone(0.5, 300), "Hi?", fmt="aac")}, 400, "'format' must be one of"),
        ({"messages": audio_message(tone(5.0, 300), "Hi?")}, 413, "over the limit of 4 s"),
        ({"messages": audio_message(tone(0.5, 300), "x" * 300)}, 413, "over the limit of 200"),
        ({"messages": audio_message(tone(0.5, 300), "Hi?"), "top_k": 3}, 400, "unsupported field(s) ['top_k']"),
        ({"messages": audio_message(tone(0.5, 300), "Hi?"), "steps": 0}, 400, "'steps' must be a positive integer"),
        ({"messages": audio_message(tone(0.5, 300), "Hi?"), "max_tokens": 10_000}, 400, "over this server's limit"),
        ({"messages": audio_message(tone(0.5, 300), "<|mdm_mask|> Hi?")}, 400, "control token"),
        ({"messages": audio_message(tone(0.5, 300), "Hi?") * 2}, 400, "exactly one message"),
        (b"{not json", 400, "not JSON"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_problem_and_the_server_keeps_serving(server, body, status, message):
    got, reply = post(server, body)
    assert got == status and message in reply["error"]["message"], reply
    ok, _ = post(server, {"messages": audio_message(tone(0.5, 300), "Is it high?")})
    assert ok == 200


def test_health_and_metrics(server):
    with urllib.request.urlopen(server + "/health", timeout=10) as response:
        assert json.loads(response.read())["status"] == "ok"
    assert _metric(server, "diffa2_requests_total") > 0
    assert _metric(server, "diffa2_queue_depth") == 0


class Gate:
    """A stand-in model whose answers wait for ``release`` (to fill the queue on purpose)."""

    def __init__(self):
        self.release, self.started = threading.Event(), threading.Event()

    def answer_batch(self, wavs, lens, questions, **decoding):
        self.started.set()
        self.release.wait(10)
        if "bad" in questions:
            raise ValueError("refused")
        return [q + "!" for q in questions]


def test_a_full_queue_answers_429_and_stopping_finishes_queued_work():
    gate = Gate()
    batcher = Batcher(gate, ServeSettings(max_queue=2, batch_window_ms=0))
    first = batcher.submit(Job(torch.zeros(800), "a", {}))
    assert gate.started.wait(5)  # the worker holds the first job
    queued = [batcher.submit(Job(torch.zeros(800), q, {})) for q in ("b", "bad")]
    with pytest.raises(RequestError, match="busy") as busy:
        batcher.submit(Job(torch.zeros(800), "c", {}))
    assert busy.value.status == 429
    stopper = threading.Thread(target=batcher.stop)
    stopper.start()
    with pytest.raises(RequestError, match="shutting down"):
        batcher.submit(Job(torch.zeros(800), "d", {}))
    gate.release.set()
    stopper.join(10)
    # every queued job finished; the refused one failed alone, its batch-mate still got its answer
    assert first.future.result() == "a!" and queued[0].future.result() == "b!"
    with pytest.raises(ValueError, match="refused"):
        queued[1].future.result()
