"""DIFFA-2's two audio adapters: semantic (conv downsampler + MLP) and acoustic (Q-Former).

Parameter names match the DIFFA / DIFFA-2 release (``semantic_connector.*`` and
``acoustic_connector.*`` without their prefix), so released weights load as they are
(:func:`speechbrain_diffa.hub.release_weights.load_released_adapters`).

Authors
 * speechbrain_diffa contributors 2026
"""

import torch
from speechbrain.dataio.dataio import length_to_mask
from transformers import BertConfig
from transformers.models.bert.modeling_bert import BertEncoder


class SemanticAdapter(torch.nn.Module):
    """Conv downsampler + MLP from the encoder's last layer to LLaDA's embedding space.

    Conv1d(k3, s1) -> GELU -> Conv1d(k3, stride ``downsample``, x``downsample`` channels) ->
    Linear -> ReLU -> Linear -> ReLU -> LayerNorm. 50 Hz in, 12.5 Hz out for ``downsample=4``.

    Arguments
    ---------
    input_size : int
        Encoder width (1280 for whisper-large-v3).
    output_size : int
        LLaDA width (4096).
    downsample : int
        Time reduction (4 in DIFFA-2).

    Output ``i`` reads input frames up to ``4 i + 2``, so the ``lengths // 4`` valid outputs never
    see padding; no mask is needed here (padding is masked later, in LLaDA's attention).

    Example
    -------
    >>> adapter = SemanticAdapter(16, 32)
    >>> out, lens = adapter(torch.randn(2, 50, 16), torch.tensor([50, 30]))
    >>> out.shape, lens.tolist()
    (torch.Size([2, 12, 32]), [12, 7])
    """

    def __init__(self, input_size, output_size, downsample=4):
        super().__init__()
        self.downsample = downsample
        self.conv = torch.nn.Sequential(
            torch.nn.Conv1d(input_size, input_size, kernel_size=3, padding=1),
            torch.nn.GELU(),
            torch.nn.Conv1d(input_size, input_size * downsample, kernel_size=3, stride=downsample, padding=1),
        )
        self.linear_connector = torch.nn.Sequential(
            torch.nn.Linear(input_size * downsample, input_size),
            torch.nn.ReLU(),
            torch.nn.Linear(input_size, output_size),
            torch.nn.ReLU(),
        )
        self.layernorm = torch.nn.LayerNorm(output_size)

    def forward(self, x, lengths=None):
        """Downsample and project.

        Arguments
        ---------
        x : torch.Tensor
            ``(batch, frames, input_size)``.
        lengths : torch.LongTensor
            ``(batch,)`` valid frames (default: all frames).

        Returns
        -------
        out : torch.Tensor
            ``(batch, frames // downsample, output_size)``.
        out_lengths : torch.LongTensor
            ``(batch,)`` valid outputs, ``lengths // downsample`` as DIFFA counts them.
        """
        keep = x.shape[1] - x.shape[1] % self.downsample
        x = x[:, :keep]
        if lengths is None:
            lengths = torch.full((x.shape[0],), keep, dtype=torch.long, device=x.device)
        y = self.conv(x.transpose(1, 2)).transpose(1, 2)
        y = self.layernorm(self.linear_connector(y))
        out_lengths = (lengths // self.downsample).clamp(max=y.shape[1])
        return y, out_lengths


class AcousticAdapter(torch.nn.Module):
    """Q-Former over several encoder layers, mixed per query by learned softmax weights.

    Each tapped layer has its own bank of ``num_queries`` learned queries; one 2-layer BERT-style
    encoder (self-attention over the queries, cross-attention to the tapped layer, FFN) is shared
    across taps; each query position mixes its per-tap outputs with a softmax over taps; then
    LayerNorm + Linear to the LLM width.

    Arguments
    ---------
    input_size : int
        Encoder width (1280 for whisper-large-v3).
    num_heads : int
        Q-Former attention heads (the encoder's head count: 20 for large-v3).
    num_taps : int
        How many encoder layers are tapped (8 for large-v3).
    output_size : int
        LLaDA width (4096).
    num_queries : int
        Queries per tap (64 in DIFFA).
    num_layers : int
        Q-Former depth (2).
    ffn_size : int
        Q-Former feed-forward width (BERT's default 3072, whatever the width, as in DIFFA).
    dropout : float
        Q-Former dropout (BERT's default 0.1).
    mask_padding : bool
        Mask encoder frames past each item's length in the cross-attention. Off reproduces the
        release (which attends to the full 30 s, padding included).

    Example
    -------
    >>> adapter = AcousticAdapter(16, num_heads=4, num_taps=3, output_size=32, num_queries=8)
    >>> taps = [torch.randn(2, 100, 16) for _ in range(3)]
    >>> adapter(taps, torch.tensor([100, 40])).shape
    torch.Size([2, 8, 32])
    """

    def __init__(
        self,
        input_size,
        num_heads,
        num_taps,
        output_size,
        num_queries=64,
        num_layers=2,
        ffn_size=3072,
        dropout=0.1,
        mask_padding=False,
    ):
        super().__init__()
        self.mask_padding = mask_padding
        self.layer_prompts = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.randn(1, num_queries, input_size)) for _ in range(num_taps)]
        )
        self.layer_weights = torch.nn.Parameter(torch.zeros(num_queries, num_taps))
        config = BertConfig(
            num_hidden_layers=num_layers,
            hidden_size=input_size,
            num_attention_heads=num_heads,
            intermediate_size=ffn_size,
            hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=dropout,
            add_cross_attention=True,
            is_decoder=True,
        )
        # Eager attention: with is_decoder=True, sdpa would make the query self-attention causal
        # (transformers 5.x); DIFFA's Q-Former is bidirectional over its queries.
        config._attn_implementation = "eager"
        self.qformer = BertEncoder(config)
        self.proj = torch.nn.Sequential(torch.nn.LayerNorm(input_size), torch.nn.Linear(input_size, output_size))

    @property
    def num_queries(self):
        """Output length (queries per tap)."""
        return self.layer_weights.shape[0]

    def forward(self, taps, lengths=None):
        """Summarise the tapped layers into ``num_queries`` embeddings.

        Arguments
        ---------
        taps : sequence of torch.Tensor
            ``num_taps`` tensors ``(batch, frames, input_size)``.
        lengths : torch.LongTensor
            ``(batch,)`` valid frames (used only with ``mask_padding``).

        Returns
        -------
        torch.Tensor
            ``(batch, num_queries, output_size)``.
        """
        if len(taps) != len(self.layer_prompts):
            raise ValueError(f"AcousticAdapter expects {len(self.layer_prompts)} taps, got {len(taps)}")
        batch = taps[0].shape[0]
        # Run all taps through the shared Q-Former at once: taps go into the batch dimension.
        states = torch.cat(list(taps), dim=0)
        queries = torch.cat([p.expand(batch, -1, -1) for p in self.layer_prompts], dim=0)
        cross_mask = None
        if self.mask_padding and lengths is not None:
            valid = length_to_mask(lengths, states.shape[1], dtype=torch.bool).repeat(len(taps), 1)
            cross_mask = torch.zeros(valid.shape, dtype=states.dtype, device=states.device)
            cross_mask = cross_mask.masked_fill(~valid, torch.finfo(states.dtype).min)[:, None, None, :]
        out = self.qformer(
            hidden_states=queries.to(states.dtype),
            encoder_hidden_states=states,
            encoder_attention_mask=cross_mask,
        ).last_hidden_state
        out = out.view(len(taps), batch, *out.shape[1:])  # (taps, batch, queries, d)
        weights = torch.softmax(self.layer_weights, dim=-1).to(out.dtype)  # (queries, taps)
        mixed = torch.einsum("tbqd,qt->bqd", out, weights)
        return self.proj(mixed)
