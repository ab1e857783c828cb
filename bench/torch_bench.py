"""PyTorch twin of the reference model, for `idp bench`: same shape, optimizer and batch.

GPT-style decoder (pre-LN, learned positions, GELU MLP, no dropout), 2 layers, width 64, 4 heads,
FF 256, AdamW lr 1e-3, batch 64, on one CPU thread. Prints one JSON line with steps/s and tokens/s.
Run by `cargo run --release -- bench`; standalone: python3 bench/torch_bench.py --steps 200.
"""

import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, width, heads, ff):
        super().__init__()
        self.heads = heads
        self.attn_norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.mlp_norm = nn.LayerNorm(width)
        self.fc = nn.Linear(width, ff)
        self.fc_out = nn.Linear(ff, width)

    def forward(self, x, future):
        b, t, d = x.shape
        h, s = self.heads, d // self.heads
        q, k, v = self.qkv(self.attn_norm(x)).split(d, dim=2)  # (B, T, D) each
        q, k, v = (z.view(b, t, h, s).transpose(1, 2) for z in (q, k, v))  # (B, H, T, S)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(s)  # (B, H, T, T)
        weights = F.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
        y = (weights @ v).transpose(1, 2).reshape(b, t, d)  # (B, T, D)
        x = x + self.proj(y)
        return x + self.fc_out(F.gelu(self.fc(self.mlp_norm(x))))


class Transformer(nn.Module):
    def __init__(self, vocab, width, heads, ff, layers, max_len):
        super().__init__()
        self.tokens = nn.Embedding(vocab, width)
        self.positions = nn.Parameter(torch.randn(max_len, width) * 0.02)
        self.blocks = nn.ModuleList(Block(width, heads, ff) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)

    def forward(self, tokens):
        t = tokens.shape[1]
        x = self.tokens(tokens) + self.positions[:t]  # (B, T, D)
        future = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        for block in self.blocks:
            x = block(x, future)
        return self.head(self.norm(x))  # (B, T, V)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=36)
    parser.add_argument("--vocab", type=int, default=14)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = Transformer(args.vocab, 64, 4, 256, 2, 64)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)

    def step():
        tokens = torch.randint(0, args.vocab, (args.batch, args.seq_len + 1))
        logits = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, args.vocab), tokens[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss

    for _ in range(args.warmup):
        step()
    started = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    loss.item()
    seconds = time.perf_counter() - started
    steps_per_s = args.steps / seconds
    print(
        json.dumps(
            {
                "version": torch.__version__,
                "threads": torch.get_num_threads(),
                "steps_per_s": steps_per_s,
                "tokens_per_s": steps_per_s * args.batch * args.seq_len,
            }
        )
    )


if __name__ == "__main__":
    main()
