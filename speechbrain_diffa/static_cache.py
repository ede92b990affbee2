"""A static block cache for diffusion decoding, and the block step captured once as a CUDA graph.

The block cache of :class:`~speechbrain_diffa.sampling.BlockRunner` is transformers' ``DynamicCache``: every
pass concatenates the block's keys onto the cached ones and crops them off again, so each pass allocates, its
shapes change from block to block, and Python does bookkeeping between kernels. On a GPU at batch 1 that is what
a pass costs: launching its kernels, not reading the weights (docs/decoding.md, "Where the GPU's time goes").

Here the keys and values of every canvas position are preallocated once per request (``(batch, kv_heads,
canvas, head_dim)`` per layer) and a pass writes the positions it encodes *in place*, then attends over the whole
buffer. Attention is bidirectional and RoPE is applied before keys are stored, so attending over
``[prefix ; block ; suffix]`` in place is the dynamic cache's ``[prefix ; suffix ; block]`` in another order: the
same softmax over the same keys. Every block pass of the dual cache then has one shape, ``(batch, block)``
queries against ``(batch, canvas)`` keys, whichever block it is, and reads its inputs from fixed buffers; so on
CUDA it is captured once as a graph and replayed (``cuda_graphs=True``), the first pass of each block too.

Options of :func:`~speechbrain_diffa.sampling.generate`: ``static_cache=True`` (with ``cache="prefix"``,
``"dual"`` or none: then every pass encodes the whole canvas, from the same fixed buffers) and ``cuda_graphs=True``
(with the static cache, on a CUDA model). With the same options the answers are token for token those of the
dynamic path at temperature 0, ties included (both commit with the reference's per-row ``topk``). A pass reads
two small results back to the host: the commit counts and whether the block is done.

Authors
 * speechbrain_diffa contributors 2026
"""

from collections import OrderedDict

import torch

from speechbrain_diffa.sampling import BlockRunner

# Captured graphs (and the buffers they read) kept per model: a request whose shapes match one of them
# replays it instead of capturing again. Each holds a canvas-sized cache, so few are kept.
MAX_CAPTURED_SHAPES = 4


class StaticBlockCache:
    """Keys and values of every canvas position, per layer, written in place by each pass.

    It is handed to transformers' attention layers as their cache: ``update`` stores the pass's
    keys/values at ``write_index`` (a device tensor, so a replayed graph writes where the current
    block is) and returns the whole buffer to attend over.

    Arguments
    ---------
    n_layers, batch, kv_heads, length, head_dim : int
        Buffer shapes (``length``: the canvas, audio and prompt included).
    dtype, device
        Those of the model's keys.

    Example
    -------
    >>> cache = StaticBlockCache(1, 2, 1, 5, 4, torch.float32, "cpu")
    >>> cache.write_index = torch.tensor([1, 2])
    >>> keys, values = cache.update(torch.ones(2, 1, 2, 4), torch.ones(2, 1, 2, 4), 0)
    >>> keys.shape, keys[0, 0, :, 0].tolist()
    (torch.Size([2, 1, 5, 4]), [0.0, 1.0, 1.0, 0.0, 0.0])
    """

    def __init__(self, n_layers, batch, kv_heads, length, head_dim, dtype, device):
        shape = (batch, kv_heads, length, head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.write_index = torch.arange(length, device=device)

    def update(self, key_states, value_states, layer_idx, *args, **kwargs):
        """Store the pass's keys/values at ``write_index``; all of the layer's keys/values."""
        self.keys[layer_idx].index_copy_(2, self.write_index, key_states.to(self.keys[layer_idx].dtype))
        self.values[layer_idx].index_copy_(2, self.write_index, value_states.to(self.values[layer_idx].dtype))
        return self.keys[layer_idx], self.values[layer_idx]


class _Buffers:
    """What the passes of one shape read and write: canvas inputs, the static cache, block inputs."""

    def __init__(self, llm, embeds, block_length, mode):
        transformer = llm.transformer
        config = transformer.config
        batch, length, width = embeds.shape
        device, dtype = embeds.device, embeds.dtype
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.cache = None  # without a block cache every pass encodes the whole canvas
        if mode is not None:
            self.cache = StaticBlockCache(
                config.num_hidden_layers, batch, config.num_key_value_heads, length, head_dim, dtype, device
            )
        self.embeds = torch.zeros_like(embeds)
        self.positions = torch.zeros(batch, length, dtype=torch.long, device=device)
        self.key_mask = torch.ones(batch, 1, 1, length, dtype=torch.bool, device=device)
        self.full_index = torch.arange(length, device=device)
        self.steps = torch.arange(block_length, device=device)
        self.head_index = self.steps.clone()  # the current block's rows of the first pass
        self.block_index = self.steps.clone()  # the canvas positions a dual-cache block pass writes
        self.block_embeds = torch.zeros(batch, block_length, width, dtype=dtype, device=device)
        self.block_positions = torch.zeros(batch, block_length, dtype=torch.long, device=device)
        self.mode, self.block_length = mode, block_length
        self.graphs, self.pool = {}, None


def _layers(transformer, hidden, positions, key_mask, cache):
    """The decoder layers, their final norm: hidden states of the positions given."""
    model = transformer.model
    rope = model.rotary_emb(hidden, position_ids=positions)
    for layer in model.layers[: transformer.config.num_hidden_layers]:
        hidden = layer(hidden, attention_mask=key_mask, position_embeddings=rope, position_ids=positions, cache=cache)
    return model.norm(hidden)


class StaticBlockRunner(BlockRunner):
    """:class:`~speechbrain_diffa.sampling.BlockRunner` over a :class:`StaticBlockCache`, optionally graphed.

    With graphs, ``block_logits`` returns the logits of the whole block, ``(batch, block, vocab)`` (a
    fixed shape: the sampler ignores the rows already committed); without, those of the still-masked
    positions only, ``(n, vocab)``, as :class:`~speechbrain_diffa.sampling.BlockRunner` does (the LM head
    is most of a small model's cost).

    Arguments
    ---------
    llm, embeds, seq_mask, offset, cache
        As for :class:`~speechbrain_diffa.sampling.BlockRunner` (``cache=None``: every pass encodes the
        whole canvas, from fixed buffers all the same).
    block_length : int
        The decoder's block.
    cuda_graphs : bool
        Capture each pass shape once as a CUDA graph and replay it (a CUDA model only). Captures are
        kept on the model for later requests of the same shapes (:data:`MAX_CAPTURED_SHAPES`).

    Example
    -------
    >>> from speechbrain_diffa.llada import LLaDA
    >>> llm = LLaDA({"d_model": 32, "n_layers": 1, "n_heads": 4, "mlp_hidden_size": 64,
    ...              "vocab_size": 50, "mask_token_id": 49, "eos_token_id": 48}).eval()
    >>> x = torch.randint(0, 40, (1, 12))
    >>> runner = StaticBlockRunner(llm, llm.embed(x), torch.ones_like(x), 0, "dual", block_length=4)
    >>> wanted = torch.ones(1, 4, dtype=torch.bool)
    >>> runner.block_logits(x, 4, 8, True, wanted).shape
    torch.Size([4, 50])
    """

    def __init__(self, llm, embeds, seq_mask, offset, cache, block_length, cuda_graphs=False):
        if cache not in (None, "prefix", "dual"):
            raise ValueError(f"cache must be None, 'prefix' or 'dual', got {cache!r}")
        if cuda_graphs:
            self.check_device(embeds.device)
        super().__init__(llm, embeds, seq_mask, offset, cache)
        self.graphed = cuda_graphs
        self.buffers = self._buffers(embeds, block_length)
        self.buffers.embeds.copy_(embeds)
        self.buffers.positions.copy_(self.positions)
        self.buffers.key_mask.copy_(seq_mask.bool()[:, None, None, :])

    def _buffers(self, embeds, block_length):
        if not self.graphed:
            return _Buffers(self.llm, embeds, block_length, self.mode)
        kept = self.llm.__dict__.setdefault("_captured_decoding", OrderedDict())
        key = (tuple(embeds.shape), embeds.dtype, str(embeds.device), block_length, self.mode, id(self.llm.transformer))
        if key not in kept:
            kept[key] = _Buffers(self.llm, embeds, block_length, self.mode)
            while len(kept) > MAX_CAPTURED_SHAPES:
                kept.popitem(last=False)
        kept.move_to_end(key)
        return kept[key]

    def block_logits(self, x, start, end, first_step, wanted):
        """Logits of the block ``[start, end)``: ``(batch, end - start, vocab)`` with graphs, else ``(n, vocab)``
        at the ``wanted`` positions."""
        self.wanted = wanted
        buf, a, b = self.buffers, start + self.offset, end + self.offset
        if first_step:  # the whole answer: the previous block's commits are not in the canvas buffer yet
            first = self.answer_start(start)
            buf.embeds[:, first + self.offset :] = self.llm.embed(x[:, first:])
        elif self.mode != "dual":
            buf.embeds[:, a:b] = self.llm.embed(x[:, start:end])
        if first_step or self.mode is None:
            buf.head_index.copy_(buf.steps + a)
            return self._run(("full",), self._full_pass)
        if self.mode == "dual":
            buf.block_embeds.copy_(self.llm.embed(x[:, start:end]))
            buf.block_positions.copy_(buf.positions[:, a:b])
            buf.block_index.copy_(buf.steps + a)
            return self._run(("dual",), self._dual_pass)
        return self._run(("prefix", a), lambda: self._prefix_pass(a))

    def _full_pass(self):
        """Every canvas position encoded (the cache refreshed, if any); the LM head on the current block."""
        buf = self.buffers
        if buf.cache is not None:
            buf.cache.write_index = buf.full_index
        hidden = _layers(self.llm.transformer, buf.embeds, buf.positions, buf.key_mask, buf.cache)
        return self._head(hidden.index_select(1, buf.head_index))

    def _dual_pass(self):
        """The block against the cached prefix and suffix."""
        buf = self.buffers
        buf.cache.write_index = buf.block_index
        hidden = _layers(self.llm.transformer, buf.block_embeds, buf.block_positions, buf.key_mask, buf.cache)
        return self._head(hidden)

    def _prefix_pass(self, a):
        """The block and all after it against the cached prefix."""
        buf = self.buffers
        buf.cache.write_index = buf.full_index[a:]
        hidden = _layers(self.llm.transformer, buf.embeds[:, a:], buf.positions[:, a:], buf.key_mask, buf.cache)
        return self._head(hidden[:, : buf.block_length])

    def _head(self, block_hidden):
        """The LM head: on the whole block in a graph (a fixed shape), else on the wanted positions only."""
        return self.llm.transformer.lm_head(block_hidden if self.graphed else block_hidden[self.wanted])

    def _run(self, key, run_pass):
        """Run the pass eagerly, or replay its graph (captured on first use)."""
        if not self.graphed:
            return run_pass()
        if key not in self.buffers.graphs:
            self.buffers.graphs[key] = self._capture(run_pass)
        return self.buffers.graphs[key]()

    def _capture(self, run_pass):
        """Capture ``run_pass`` as a CUDA graph; a function that replays it and returns its output tensor."""
        buf = self.buffers
        buf.pool = buf.pool or torch.cuda.graph_pool_handle()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up outside the capture (library handles, kernel choice)
            run_pass()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=buf.pool):
            output = run_pass()

        def replay():
            """The captured kernels again, on whatever the buffers now hold."""
            graph.replay()
            return output

        return replay

    @staticmethod
    def check_device(device):
        """Graphs are CUDA's: an error naming the device otherwise."""
        if torch.device(device).type != "cuda":
            raise ValueError(f"cuda_graphs needs a model on a CUDA device; this one is on {device}")
