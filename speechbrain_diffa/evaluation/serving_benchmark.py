"""Throughput and latency of ``diffa2 serve`` against concurrency, with dynamic batching on and off.

Run ``python -m speechbrain_diffa.evaluation.serving_benchmark --output results/serving.json``. It
starts the server in this process on a loopback port (the tiny offline model unless ``--model``
names a model folder), sends ``--requests`` chat completions from 1, 2, 4, ... concurrent clients,
and reports requests per second and p50 / p99 latency for each setting, once with batching (up to
``--max_batch`` requests per decode) and once without (one request per decode). Figures and the
machine they were measured on: ``docs/serving.md``.

Authors
 * speechbrain_diffa contributors 2026
"""

import argparse
import base64
import io
import json
import os
import platform
import socket
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import torch


def tone_wav(seconds, hz, sample_rate=16000):
    """A tone as WAV file bytes.

    Example
    -------
    >>> tone_wav(0.1, 440)[:4]
    b'RIFF'
    """
    import soundfile

    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    buffer = io.BytesIO()
    soundfile.write(buffer, (0.3 * torch.sin(2 * torch.pi * hz * t)).numpy(), sample_rate, format="WAV")
    return buffer.getvalue()


def chat_request(wav_bytes, question):
    """The body of an OpenAI-style chat completion asking ``question`` about a WAV clip.

    Example
    -------
    >>> chat_request(b"RIFF", "Hi?")["messages"][0]["content"][1]
    {'type': 'text', 'text': 'Hi?'}
    """
    audio = {"data": base64.b64encode(wav_bytes).decode(), "format": "wav"}
    content = [{"type": "input_audio", "input_audio": audio}, {"type": "text", "text": question}]
    return {"model": "diffa2", "messages": [{"role": "user", "content": content}]}


def percentile(values, q):
    """The ``q``-th percentile (nearest rank) of ``values``.

    Example
    -------
    >>> percentile([1, 2, 3, 4], 50), percentile([1, 2, 3, 4], 99)
    (2, 4)
    """
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, -(-q * len(ordered) // 100) - 1))]


class LoopbackServer:
    """``build_app(model, settings)`` under uvicorn on a free loopback port, as a context manager."""

    def __init__(self, model, settings):
        import uvicorn

        from speechbrain_diffa.serving import build_app

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(build_app(model, settings), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join()


def _post(url, body):
    data = json.dumps(body).encode()
    request = urllib.request.Request(url + "/v1/chat/completions", data, {"Content-Type": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        json.loads(response.read())
    return time.perf_counter() - start


def measure(url, bodies, clients):
    """Send ``bodies`` from ``clients`` threads; requests per second and latency percentiles."""
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        latencies = list(pool.map(lambda body: _post(url, body), bodies))
    wall = time.perf_counter() - start
    return {
        "clients": clients,
        "requests": len(bodies),
        "requests_per_second": round(len(bodies) / wall, 2),
        "p50_ms": round(1000 * percentile(latencies, 50), 1),
        "p99_ms": round(1000 * percentile(latencies, 99), 1),
    }


def run(model, requests, concurrency, max_batch, window_ms):
    """Rows for batching on (``max_batch``) and off (1) at each concurrency."""
    from speechbrain_diffa.serving import ServeSettings

    bodies = [chat_request(tone_wav(0.5 + 0.1 * (i % 5), 200 + 100 * (i % 7)), "What do you hear?")
              for i in range(requests)]  # fmt: skip
    rows = []
    for batch in (max_batch, 1):
        settings = ServeSettings(
            max_batch=batch, batch_window_ms=window_ms if batch > 1 else 0.0, max_queue=4 * requests
        )
        with LoopbackServer(model, settings) as url:
            _post(url, bodies[0])  # warm-up
            for clients in concurrency:
                rows.append({"max_batch": batch, **measure(url, bodies, clients)})
    return rows


def format_table(rows):
    """A Markdown table of :func:`run`'s rows.

    Example
    -------
    >>> print(format_table([{"max_batch": 8, "clients": 1, "requests": 4, "requests_per_second": 2.0,
    ...                      "p50_ms": 10.0, "p99_ms": 12.0}]).splitlines()[2])
    | 8 | 1 | 4 | 2.0 | 10.0 | 12.0 |
    """
    lines = ["| max_batch | clients | requests | requests/s | p50 ms | p99 ms |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['max_batch']} | {r['clients']} | {r['requests']} | {r['requests_per_second']} | "
                     f"{r['p50_ms']} | {r['p99_ms']} |")  # fmt: skip
    return "\n".join(lines)


def main(argv=None):
    """Command line: see the module docstring."""
    from speechbrain_diffa.decoding_presets import positive_int
    from speechbrain_diffa.inference import DIFFA2

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="model folder (default: the tiny offline model)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--requests", type=positive_int, default=64)
    p.add_argument("--concurrency", type=positive_int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--max_batch", type=positive_int, default=8)
    p.add_argument("--batch_window_ms", type=float, default=10.0)
    p.add_argument("--output", default="results/serving.json")
    args = p.parse_args(argv)
    folder = args.model
    if folder is None:
        from speechbrain_diffa.hub.export import write_tiny_model_folder

        folder = write_tiny_model_folder(tempfile.mkdtemp(prefix="diffa2_serving_"))
    model = DIFFA2.from_hparams(source=folder, run_opts={"device": args.device})
    rows = run(model, args.requests, args.concurrency, args.max_batch, args.batch_window_ms)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}"
    result = {"model": args.model or "tiny offline model", "device": args.device, "machine": machine, "rows": rows}
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    print(format_table(rows))
    return result


if __name__ == "__main__":
    main()
