"""The LSTM sentence encoder Mu & Andreas probed (Bowman et al., 2016), with its tokenizer and vocabulary.

Embeddings (300) → LSTM (512; bidirectional as the paper says, ``lstm_bidirectional=False`` for what the
original code ran) → final state. Unlike CLIP and MiniLM it is trained end to end with the head, so its
vocabulary comes from the training pairs.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pandas as pd
import torch
from torch import nn



PAD, UNK = "<pad>", "<unk>"


_TOKEN = re.compile(r"\w+(?=n't)|n't|'\w+|\w+|[^\w\s]")


def simple_tokenize(text: str) -> list[str]:
    """Lowercased word and punctuation tokens, close to SNLI's parse leaves (for pairs a reader writes)."""
    return _TOKEN.findall(text.lower())


def build_vocab(pairs: pd.DataFrame, max_vocab: int | None = None, min_freq: int = 1) -> list[str]:
    """``[<pad>, <unk>]`` + training tokens by decreasing count (ties: alphabetical)."""
    counts = Counter(t for col in ("premise_tokens", "hypothesis_tokens") for toks in pairs[col] for t in toks)
    words = sorted((w for w, c in counts.items() if c >= min_freq and w not in (PAD, UNK)), key=lambda w: (-counts[w], w))
    return [PAD, UNK] + (words[:max_vocab] if max_vocab else words)


class LSTMEncoder(nn.Module):
    """Word embeddings → LSTM → final hidden state of each direction, concatenated (``d = 512`` or ``1024``).

    Equal to ``nn.LSTM(bidirectional=...)`` over packed sequences (see the tests), but run as one LSTM per
    direction over right-padded batches, the right-to-left one on each sentence reversed in place, and the
    state read at each sentence's last real token: on CPU, PyTorch's backward through packed sequences is
    ~9x slower than through padded ones, and padding after the last token never reaches that state.
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 300, hidden_dim: int = 512, bidirectional: bool = True):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.rnn = nn.LSTM(embedding_dim, hidden_dim, batch_first=True)
        self.rnn_reverse = nn.LSTM(embedding_dim, hidden_dim, batch_first=True) if bidirectional else None
        self.dim = hidden_dim * (2 if bidirectional else 1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``ids``: ``(batch, time)`` right-padded with 0; ``lengths``: real tokens per row (>= 1)."""
        rows, last = torch.arange(ids.shape[0], device=ids.device), lengths - 1
        states = [self.rnn(self.embedding(ids))[0][rows, last]]
        if self.rnn_reverse is not None:
            steps = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
            backwards = (last.unsqueeze(1) - steps).clamp(min=0)
            reversed_ids = ids.gather(1, backwards) * (steps < lengths.unsqueeze(1))
            states.append(self.rnn_reverse(self.embedding(reversed_ids))[0][rows, last])
        return torch.cat(states, dim=1)


def lstm_identity() -> dict[str, Any]:
    return {"encoder": "lstm", "versions": {"torch": torch.__version__}}
