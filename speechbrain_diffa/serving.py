"""``diffa2 serve``: a DIFFA-2 model folder behind an OpenAI-style chat-completions endpoint.

Requests take the shape of the OpenAI API's ``POST /v1/chat/completions``, with the clip as an
``input_audio`` content part (base64 WAV, FLAC, MP3 or OGG, as vLLM takes audio) and the question
as text parts, so any OpenAI client (and evaluation tools that speak the API) can call it::

    diffa2 serve --model models/diffa2-sft --port 8000

    from openai import OpenAI
    client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="none")
    client.chat.completions.create(model="diffa2", messages=[{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": b64, "format": "wav"}},
        {"type": "text", "text": "What can you hear?"}]}])

Requests that arrive within ``batch_window_ms`` of each other and ask for the same decoding are
decoded as one batch; each answer equals the one decoded alone (the batched decoder guarantees it).
The queue is bounded (429 when full, 503 while shutting down); every field of a request is checked
against what is allowed, and a bad request gets a 4xx naming the field, without touching the others.
``stream: true`` sends the committed text as server-sent events after each decoded block.
``/health`` and ``/metrics`` (Prometheus text format) report on the server.

Authors
 * speechbrain_diffa contributors 2026
"""

import asyncio
import base64
import binascii
import concurrent.futures
import json
import logging
import os
import queue
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field

import torch

from speechbrain_diffa.data.audio import AudioError, batch_waveforms, load_audio
from speechbrain_diffa.decoding_presets import PRESETS, REFERENCE_DECODING

logger = logging.getLogger(__name__)

AUDIO_FORMATS = {"wav": ".wav", "flac": ".flac", "mp3": ".mp3", "ogg": ".ogg"}
# OpenAI fields a request may carry; anything else is refused by name. The last six are ours (decoding).
REQUEST_FIELDS = {
    "model", "messages", "max_tokens", "max_completion_tokens", "stream", "stream_options", "temperature", "n",
    "user", "preset", "reference", "steps", "block_length", "threshold", "factor", "cache", "eos_early_stop",
}  # fmt: skip


@dataclass
class ServeSettings:
    """Limits and batching of :func:`build_app` (every one is a ``diffa2 serve`` option).

    Example
    -------
    >>> ServeSettings().max_batch
    8
    """

    max_batch: int = 8  # requests decoded together
    batch_window_ms: float = 10.0  # how long the first request of a batch waits for others
    max_queue: int = 64  # requests waiting; more get 429
    max_body_bytes: int = 16 * 1024 * 1024
    max_audio_seconds: float = 30.0  # Whisper's window: longer clips are refused, not cut
    max_question_chars: int = 4000
    max_tokens: int = 512


class RequestError(ValueError):
    """A request that cannot be served as sent: its HTTP status and a message naming the field."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


@dataclass
class Job:
    """One request on its way through the batcher."""

    wav: torch.Tensor
    question: str
    decoding: dict
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)
    on_text: object = None  # streaming: called with the committed text after each block
    queued_at: float = field(default_factory=time.monotonic)

    @property
    def key(self):
        """Jobs with equal keys decode in one batch (same options; a streamed job decodes alone)."""
        return None if self.on_text is not None else json.dumps(self.decoding, sort_keys=True)


def _integer(body, name):
    """``body[name]`` if it is a positive integer (None when absent)."""
    value = body.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise RequestError(f"'{name}' must be a positive integer, got {value!r}")
    return value


def _real(body, name, ok, what):
    """``body[name]`` as a float if it is a number passing ``ok`` (None when absent)."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(float(value)):
        raise RequestError(f"'{name}' must be {what}, got {value!r}")
    return float(value)


def decoding_of_request(body, defaults, settings):
    """The decoding options of a request: ``defaults`` (the model folder's), then its preset and fields.

    ``max_tokens`` (or ``max_completion_tokens``) is the answer length; without ``steps`` and
    ``block_length`` it sets all three, as DIFFA-2's scripts decode (one block, one token per step).

    Example
    -------
    >>> defaults = PRESETS["answer"]
    >>> decoding_of_request({"max_tokens": 32}, defaults, ServeSettings())["block_length"]
    32
    >>> decoding_of_request({"reference": True}, defaults, ServeSettings())["cache"] is None
    True
    >>> decoding_of_request({"steps": 0}, defaults, ServeSettings())
    Traceback (most recent call last):
    ...
    speechbrain_diffa.serving.RequestError: 'steps' must be a positive integer, got 0
    """
    options = dict(defaults)
    name = body.get("preset")
    if name is not None:
        if name not in PRESETS:
            raise RequestError(f"'preset' must be one of {', '.join(PRESETS)}, got {name!r}")
        options.update(PRESETS[name])
    for flag in ("reference", "eos_early_stop"):
        if flag in body and not isinstance(body[flag], bool):
            raise RequestError(f"'{flag}' must be true or false, got {body[flag]!r}")
    if body.get("reference"):
        options.update(REFERENCE_DECODING)
    if "eos_early_stop" in body:
        options["eos_early_stop"] = body["eos_early_stop"]
    length = _integer(body, "max_completion_tokens") or _integer(body, "max_tokens")
    if length is not None and length > settings.max_tokens:
        raise RequestError(f"'max_tokens' is {length}, over this server's limit of {settings.max_tokens}")
    steps, block = _integer(body, "steps"), _integer(body, "block_length")
    if length is not None:  # DIFFA-2's scripts: steps = gen_length = block_length unless told otherwise
        options.update(gen_length=length, block_length=block or length, steps=steps or length)
    else:
        options.update({k: v for k, v in (("steps", steps), ("block_length", block)) if v is not None})
    threshold = _real(body, "threshold", lambda v: 0 <= v <= 1, "a number in [0, 1]")
    factor = _real(body, "factor", lambda v: v > 0, "a positive number")
    temperature = _real(body, "temperature", lambda v: 0 <= v <= 2, "a number in [0, 2]")
    options.update({k: v for k, v in (("threshold", threshold), ("factor", factor)) if v is not None})
    if temperature:
        options["temperature"] = temperature
    if "cache" in body:
        if body["cache"] not in (None, "prefix", "dual"):
            raise RequestError(f'\'cache\' must be null, "prefix" or "dual", got {body["cache"]!r}')
        options["cache"] = body["cache"]
    gen, block, steps = options["gen_length"], options["block_length"], options["steps"]
    if gen % block or steps % (gen // block):
        raise RequestError(
            f"decoding {steps} steps of {gen} tokens in blocks of {block}: the answer length must be a multiple "
            "of block_length, and steps a multiple of the number of blocks"
        )
    return options


def _question_and_audio(body, settings):
    """The question text and the (base64, format) of the one audio part of the request's one user message."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty list")
    if len(messages) != 1 or not isinstance(messages[0], dict) or messages[0].get("role") != "user":
        raise RequestError("'messages' must hold exactly one message with role 'user' (DIFFA-2 answers one turn)")
    content = messages[0].get("content")
    if not isinstance(content, list):
        raise RequestError("the user message's 'content' must be a list of parts: one input_audio and text")
    texts, audio = [], []
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "input_audio" and isinstance(part.get("input_audio"), dict):
            audio.append(part["input_audio"])
        else:
            raise RequestError(f"content part {i} must be {{'type': 'text', 'text': ...}} or an input_audio part")
    if len(audio) != 1:
        raise RequestError(f"the message must hold exactly one input_audio part, got {len(audio)}")
    question = "\n".join(texts).strip()
    if not question:
        raise RequestError("the message has no question: add a text part")
    if len(question) > settings.max_question_chars:
        raise RequestError(f"the question has {len(question)} characters, over the limit of "
                           f"{settings.max_question_chars}", status=413)  # fmt: skip
    data, fmt = audio[0].get("data"), audio[0].get("format")
    if fmt not in AUDIO_FORMATS:
        raise RequestError(f"input_audio 'format' must be one of {', '.join(AUDIO_FORMATS)}, got {fmt!r}")
    if not isinstance(data, str) or not data:
        raise RequestError("input_audio 'data' must be base64 text")
    return question, data, fmt


def decode_audio(data, fmt, settings):
    """A base64 clip as the model's waveform; unreadable or too long clips raise :class:`RequestError`.

    Example
    -------
    >>> decode_audio("not base64!", "wav", ServeSettings())
    Traceback (most recent call last):
    ...
    speechbrain_diffa.serving.RequestError: input_audio 'data' is not valid base64
    """
    import soundfile

    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError("input_audio 'data' is not valid base64") from None
    handle, path = tempfile.mkstemp(suffix=AUDIO_FORMATS[fmt], prefix="diffa2_request_")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(raw)
        try:
            info = soundfile.info(path)
        except Exception:  # libsndfile's own message names the temporary file only
            raise RequestError(f"input_audio is not readable {fmt} audio") from None
        if info.duration > settings.max_audio_seconds:
            raise RequestError(f"the clip lasts {info.duration:.1f} s, over the limit of "
                               f"{settings.max_audio_seconds:g} s", status=413)  # fmt: skip
        try:
            return load_audio(path)
        except AudioError as error:
            raise RequestError(f"input_audio: {str(error).replace(path, 'the clip')}") from None
    finally:
        os.unlink(path)


class Batcher:
    """A worker thread that decodes queued :class:`Job` s in batches of equal decoding options.

    A batch that fails (one request the model refuses) is decoded again one job at a time, so only
    the bad request gets the error.

    Example
    -------
    >>> class Echo:
    ...     def answer_batch(self, wavs, lens, questions, **decoding):
    ...         return [q.upper() for q in questions]
    >>> batcher = Batcher(Echo(), ServeSettings())
    >>> job = batcher.submit(Job(torch.zeros(1600), "hello", {}))
    >>> job.future.result(timeout=5)
    'HELLO'
    >>> batcher.stop()
    """

    def __init__(self, model, settings, metrics=None):
        self.model, self.settings, self.metrics = model, settings, metrics
        self.jobs = queue.Queue(maxsize=settings.max_queue)
        self.closing = False
        self.thread = threading.Thread(target=self._run, name="diffa2-batcher", daemon=True)
        self.thread.start()

    def submit(self, job):
        """Queue ``job``; 429 when the queue is full, 503 when the server is shutting down."""
        if self.closing:
            raise RequestError("the server is shutting down", status=503)
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            raise RequestError(f"the server is busy ({self.settings.max_queue} requests queued); retry later",
                               status=429) from None  # fmt: skip
        return job

    def stop(self):
        """Finish every queued job, then end the worker."""
        self.closing = True
        self.jobs.put(None)
        self.thread.join()

    def _next_batch(self):
        first = self.jobs.get()
        if first is None:
            return None
        batch, deadline = [first], time.monotonic() + self.settings.batch_window_ms / 1000
        while len(batch) < self.settings.max_batch and first.key is not None:
            try:
                job = self.jobs.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                break
            if job is None:
                self.jobs.put(None)  # stop after this batch
                break
            batch.append(job)
        return batch

    def _run(self):
        while (batch := self._next_batch()) is not None:
            groups = {}
            for job in batch:
                groups.setdefault(job.key if job.key is not None else id(job), []).append(job)
            for jobs in groups.values():
                self._decode(jobs)

    def _decode(self, jobs):
        if self.metrics is not None:
            self.metrics.batch_size.observe(len(jobs))
        try:
            answers = self._answer(jobs)
        except Exception as error:
            if len(jobs) > 1:
                for job in jobs:
                    self._decode([job])
                return
            jobs[0].future.set_exception(error)
            return
        for job, answer in zip(jobs, answers):
            job.future.set_result(answer)

    def _answer(self, jobs):
        wavs, lens = batch_waveforms([job.wav for job in jobs])
        options = dict(jobs[0].decoding)
        if jobs[0].on_text is not None:
            options["on_block"] = jobs[0].on_text
        return self.model.answer_batch(wavs, lens, [job.question for job in jobs], **options)


class Metrics:
    """The server's Prometheus metrics, in a registry of their own."""

    def __init__(self, batcher_depth):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("diffa2_requests", "Chat-completion requests by status", ["status"],
                                registry=self.registry)  # fmt: skip
        seconds = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
        self.latency = Histogram("diffa2_request_latency_seconds", "Time from request to answer",
                                 buckets=seconds, registry=self.registry)  # fmt: skip
        self.batch_size = Histogram("diffa2_batch_size", "Requests decoded together",
                                    buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry)  # fmt: skip
        depth = Gauge("diffa2_queue_depth", "Requests waiting to be decoded", registry=self.registry)
        depth.set_function(batcher_depth)


def _completion(answer, model_name, prompt_tokens, completion_tokens):
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_name,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },  # fmt: skip
    }


def _chunk(ident, model_name, delta, finish=None):
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    body = {"id": ident, "object": "chat.completion.chunk", "created": int(time.time()), "model": model_name}
    return f"data: {json.dumps({**body, 'choices': [choice]})}\n\n"


def build_app(model, settings=None, model_name="diffa2"):
    """The FastAPI application serving ``model`` (a :class:`~speechbrain_diffa.inference.DIFFA2`).

    Arguments
    ---------
    model : speechbrain_diffa.inference.DIFFA2
        Anything with ``answer_batch`` and ``hparams.decoding`` (and ``model.chat`` for token counts).
    settings : ServeSettings
        Limits and batching.
    model_name : str
        The model id clients name and responses carry.

    Returns
    -------
    fastapi.FastAPI

    Example
    -------
    >>> from speechbrain_diffa.hub.export import write_tiny_model_folder
    >>> from speechbrain_diffa.inference import DIFFA2
    >>> app = build_app(DIFFA2.from_hparams(source=write_tiny_model_folder(str(getfixture("tmpdir")))))
    >>> sorted(route.path for route in app.routes if route.path.startswith(("/v1", "/h", "/m")))
    ['/health', '/metrics', '/v1/chat/completions', '/v1/models']
    """
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

    settings = settings or ServeSettings()
    state = {}

    @asynccontextmanager
    async def lifespan(app):
        state["batcher"] = Batcher(model, settings)
        state["metrics"] = Metrics(lambda: state["batcher"].jobs.qsize())
        state["batcher"].metrics = state["metrics"]
        yield
        await asyncio.get_running_loop().run_in_executor(None, state["batcher"].stop)  # finish in-flight work

    app = FastAPI(title="DIFFA-2", lifespan=lifespan)

    def error(status, message):
        """An OpenAI-shaped error response, counted by status."""
        state["metrics"].requests.labels(status=str(status)).inc()
        kind = "invalid_request_error" if status < 500 else "server_error"
        return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)

    async def read_body(request):
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > settings.max_body_bytes:
            raise RequestError(f"the request has {size} bytes, over the limit of {settings.max_body_bytes}", 413)
        raw = b""
        async for piece in request.stream():
            raw += piece
            if len(raw) > settings.max_body_bytes:
                raise RequestError(f"the request is over the limit of {settings.max_body_bytes} bytes", 413)
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RequestError(f"the request body is not JSON: {e}") from None
        if not isinstance(body, dict):
            raise RequestError("the request body must be a JSON object")
        unknown = sorted(set(body) - REQUEST_FIELDS)
        if unknown:
            raise RequestError(f"unsupported field(s) {unknown}; the fields served are {sorted(REQUEST_FIELDS)}")
        if body.get("n", 1) != 1:
            raise RequestError(f"'n' must be 1, got {body['n']!r}")
        if "stream" in body and not isinstance(body["stream"], bool):
            raise RequestError(f"'stream' must be true or false, got {body['stream']!r}")
        return body

    def count_tokens(question, answer):
        """(prompt tokens without the audio block, answer tokens) for the response's usage."""
        chat = model.model.chat
        return len(chat.prompt(question).ids), len(chat.tokenizer.encode(answer, add_special_tokens=False))

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        started = time.monotonic()
        try:
            body = await read_body(request)
            question, data, fmt = _question_and_audio(body, settings)
            decoding = decoding_of_request(body, model.hparams.decoding, settings)
            model.model.chat.prompt(question)  # control tokens and empty questions are refused here
            loop = asyncio.get_running_loop()
            wav = await loop.run_in_executor(None, decode_audio, data, fmt, settings)
        except RequestError as e:
            return error(e.status, str(e))
        except (ValueError, TypeError) as e:
            return error(400, str(e))
        if body.get("stream"):
            return StreamingResponse(stream(question, wav, decoding, started), media_type="text/event-stream")
        try:
            job = state["batcher"].submit(Job(wav, question, decoding))
            answer = await asyncio.wrap_future(job.future)
        except RequestError as e:
            return error(e.status, str(e))
        except (ValueError, TypeError, AudioError) as e:
            return error(400, str(e))
        state["metrics"].requests.labels(status="200").inc()
        state["metrics"].latency.observe(time.monotonic() - started)
        return _completion(answer, model_name, *count_tokens(question, answer))

    async def stream(question, wav, decoding, started):
        loop, texts = asyncio.get_running_loop(), asyncio.Queue()
        chat = model.model.chat

        def on_block(tokens):
            """In the worker thread, after each block: hand the committed text so far to the event loop."""
            loop.call_soon_threadsafe(texts.put_nowait, chat.decode_answer(tokens[0].tolist()))

        ident, sent = f"chatcmpl-{uuid.uuid4().hex}", ""
        try:
            job = state["batcher"].submit(Job(wav, question, decoding, on_text=on_block))
        except RequestError as e:
            yield f"data: {json.dumps({'error': {'message': str(e), 'code': e.status}})}\n\n"
            return
        yield _chunk(ident, model_name, {"role": "assistant", "content": ""})
        done = asyncio.wrap_future(job.future)
        while True:
            getter = asyncio.ensure_future(texts.get())
            finished, _ = await asyncio.wait({getter, done}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in finished:
                getter.cancel()
                break
            text = getter.result()
            if text.startswith(sent) and len(text) > len(sent):
                yield _chunk(ident, model_name, {"content": text[len(sent) :]})
                sent = text
        try:
            answer = done.result()
        except Exception as e:  # the model refused the request after it was accepted
            yield f"data: {json.dumps({'error': {'message': str(e), 'code': 400}})}\n\n"
            return
        if answer.startswith(sent) and len(answer) > len(sent):
            yield _chunk(ident, model_name, {"content": answer[len(sent) :]})
        yield _chunk(ident, model_name, {}, finish="stop")
        yield "data: [DONE]\n\n"
        state["metrics"].requests.labels(status="200").inc()
        state["metrics"].latency.observe(time.monotonic() - started)

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "speechbrain_diffa"}]}

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": model_name, "queue_depth": state["batcher"].jobs.qsize()}

    @app.get("/metrics")
    async def metrics():
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return PlainTextResponse(generate_latest(state["metrics"].registry), media_type=CONTENT_TYPE_LATEST)

    return app


def serve(model, host="127.0.0.1", port=8000, settings=None, model_name="diffa2"):
    """Run :func:`build_app` with uvicorn until interrupted (SIGINT/SIGTERM finish in-flight requests)."""
    import uvicorn

    uvicorn.run(build_app(model, settings, model_name), host=host, port=port, log_level="info")
