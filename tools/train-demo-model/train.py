#!/usr/bin/env python3
"""Step 2 of training the demo model (README.md beside this file): trains a small llama on the
token ids prepare.ts wrote, on a GPU, with PyTorch.

    python3 tools/train-demo-model/train.py --out DIR [--steps 4000] [--layers 6] ...

DIR receives:
    weights.json, weights.N.bin the trained weights in f32, named as in GGUF, shaped as ggml
                                shapes them (innermost dimension first), with the model's settings
    reference.json              the export test's reference: for each prompt of prompts.json, and
                                for the greedy continuation of the first, the top logits at every
                                position; and that greedy continuation. All computed in f32 by
                                this model with its matrices rounded through Q8_0, as the file
                                holds them
    loss.csv, loss.png          the loss curve (train and held-out)
    samples.txt                 a few sampled stories

The model is the llama graph that llama.cpp and wasm-chord run: RMSNorm, rotary position
embedding on adjacent pairs (ggml's "norm" mode, so no permutation is needed on export),
grouped-query attention, a SwiGLU feed-forward block, no biases, and the output matrix tied to
the token embedding.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument('--data', default='tools/train-demo-model/.work')
p.add_argument('--out', required=True)
p.add_argument('--dim', type=int, default=256)
p.add_argument('--layers', type=int, default=6)
p.add_argument('--heads', type=int, default=8)
p.add_argument('--kv-heads', type=int, default=4)
p.add_argument('--ffn', type=int, default=768)
p.add_argument('--ctx', type=int, default=512)
p.add_argument('--rope-base', type=float, default=10000.0)
p.add_argument('--eps', type=float, default=1e-5)
p.add_argument('--batch', type=int, default=128)
p.add_argument('--steps', type=int, default=4000)
p.add_argument('--lr', type=float, default=2e-3)
p.add_argument('--min-lr', type=float, default=1e-4)
p.add_argument('--warmup', type=int, default=200)
p.add_argument('--weight-decay', type=float, default=0.1)
p.add_argument('--eval-every', type=int, default=200)
p.add_argument('--seed', type=int, default=1)
p.add_argument('--compile', type=int, default=1)
args = p.parse_args()
os.makedirs(args.out, exist_ok=True)
torch.manual_seed(args.seed)
device = 'cuda'

vocab = json.load(open(os.path.join(args.data, 'vocab.json')))
V = len(vocab['tokens'])
BOS, EOS = 1, 2
train_ids = torch.from_numpy(np.fromfile(os.path.join(args.data, 'train.bin'), dtype=np.uint16).astype(np.int64)).to(device)
val_ids = torch.from_numpy(np.fromfile(os.path.join(args.data, 'val.bin'), dtype=np.uint16).astype(np.int64)).to(device)
print(f'data: {train_ids.numel()} train tokens, {val_ids.numel()} held-out, vocabulary {V}', flush=True)


class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + args.eps)).type_as(x) * self.weight


def rope_tables(n, head_dim):
    inv = args.rope_base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.arange(n, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(angles).float().to(device), torch.sin(angles).float().to(device)


def rope(x, cos, sin):
    """Rotates adjacent pairs (x[2i], x[2i+1]) by position * base^(-2i/head_dim)."""
    a, b = x[..., 0::2].float(), x[..., 1::2].float()
    return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2).type_as(x)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        D, H, KV = args.dim, args.heads, args.kv_heads
        self.hd = D // H
        self.attn_norm = RMSNorm(D)
        self.attn_q = nn.Linear(D, H * self.hd, bias=False)
        self.attn_k = nn.Linear(D, KV * self.hd, bias=False)
        self.attn_v = nn.Linear(D, KV * self.hd, bias=False)
        self.attn_output = nn.Linear(H * self.hd, D, bias=False)
        self.ffn_norm = RMSNorm(D)
        self.ffn_gate = nn.Linear(D, args.ffn, bias=False)
        self.ffn_up = nn.Linear(D, args.ffn, bias=False)
        self.ffn_down = nn.Linear(args.ffn, D, bias=False)

    def forward(self, x, cos, sin):
        B, T, D = x.shape
        H, KV, hd = args.heads, args.kv_heads, self.hd
        h = self.attn_norm(x)
        q = rope(self.attn_q(h).view(B, T, H, hd).transpose(1, 2), cos, sin)
        k = rope(self.attn_k(h).view(B, T, KV, hd).transpose(1, 2), cos, sin)
        v = self.attn_v(h).view(B, T, KV, hd).transpose(1, 2)
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn_output(a.transpose(1, 2).reshape(B, T, D))
        h = self.ffn_norm(x)
        return x + self.ffn_down(F.silu(self.ffn_gate(h)) * self.ffn_up(h))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.token_embd = nn.Embedding(V, args.dim)
        self.blocks = nn.ModuleList(Block() for _ in range(args.layers))
        self.output_norm = RMSNorm(args.dim)
        self.cos, self.sin = rope_tables(args.ctx, args.dim // args.heads)
        for name, param in self.named_parameters():
            if param.dim() == 2:
                # Residual outputs start smaller, so the stream's scale does not grow with depth.
                std = 0.02 / math.sqrt(2 * args.layers) if name.endswith(('attn_output.weight', 'ffn_down.weight')) else 0.02
                nn.init.normal_(param, std=std)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.token_embd(ids)
        for block in self.blocks:
            x = block(x, self.cos[:T], self.sin[:T])
        return F.linear(self.output_norm(x), self.token_embd.weight)  # tied output


model = Model().to(device)
n_params = sum(p.numel() for p in model.parameters())
print(f'model: {n_params} parameters; settings {vars(args)}', flush=True)

decay = [p for p in model.parameters() if p.dim() == 2]
no_decay = [p for p in model.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{'params': decay, 'weight_decay': args.weight_decay}, {'params': no_decay, 'weight_decay': 0.0}],
                        lr=args.lr, betas=(0.9, 0.95), fused=True)
step_model = torch.compile(model) if args.compile else model


def lr_at(step):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    t = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * t))


def batch(ids, generator=None):
    starts = torch.randint(0, ids.numel() - args.ctx - 1, (args.batch,), device=device, generator=generator)
    rows = starts[:, None] + torch.arange(args.ctx + 1, device=device)[None, :]
    chunk = ids[rows]
    return chunk[:, :-1], chunk[:, 1:]


@torch.no_grad()
def held_out_loss():
    g = torch.Generator(device=device).manual_seed(1234)  # the same batches every time
    losses = []
    for _ in range(8):
        x, y = batch(val_ids, g)
        with torch.autocast('cuda', dtype=torch.bfloat16):
            logits = step_model(x)
        losses.append(F.cross_entropy(logits.float().view(-1, V), y.reshape(-1)).item())
    return sum(losses) / len(losses)


log = open(os.path.join(args.out, 'loss.csv'), 'w')
log.write('step,seconds,train_loss,held_out_loss,lr\n')
started = time.time()
running = None
for step in range(args.steps + 1):
    if step % args.eval_every == 0 or step == args.steps:
        model.eval()
        val = held_out_loss()
        model.train()
        elapsed = time.time() - started
        print(f'step {step}: train {running if running is None else round(running, 4)}, held-out {val:.4f}, {elapsed:.0f} s', flush=True)
        log.write(f'{step},{elapsed:.1f},{"" if running is None else f"{running:.4f}"},{val:.4f},{lr_at(step):.6f}\n')
        log.flush()
    if step == args.steps:
        break
    for group in opt.param_groups:
        group['lr'] = lr_at(step)
    x, y = batch(train_ids)
    with torch.autocast('cuda', dtype=torch.bfloat16):
        logits = step_model(x)
    loss = F.cross_entropy(logits.float().view(-1, V), y.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
train_seconds = time.time() - started
log.close()
print(f'trained {args.steps} steps in {train_seconds:.0f} s ({args.steps * args.batch * args.ctx / train_seconds / 1e6:.2f} M tokens/s)', flush=True)

# The weights, GGUF-named; an nn.Linear weight [out, in] is ggml's [in, out] with the same bytes.
tensors = [('token_embd.weight', model.token_embd.weight)]
for i, block in enumerate(model.blocks):
    for name in ('attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down'):
        tensors.append((f'blk.{i}.{name}.weight', getattr(block, name).weight))
tensors.append(('output_norm.weight', model.output_norm.weight))
manifest = {
    'config': {'dim': args.dim, 'layers': args.layers, 'heads': args.heads, 'kv_heads': args.kv_heads, 'ffn': args.ffn,
               'ctx': args.ctx, 'rope_base': args.rope_base, 'eps': args.eps, 'vocab': V},
    'training': {'steps': args.steps, 'batch': args.batch, 'lr': args.lr, 'min_lr': args.min_lr, 'warmup': args.warmup,
                 'weight_decay': args.weight_decay, 'seed': args.seed, 'seconds': round(train_seconds), 'parameters': n_params,
                 'tokens_seen': args.steps * args.batch * args.ctx, 'device': torch.cuda.get_device_name()},
    'tensors': [],
}
# In files of at most 15 MiB (what the GPU machine hands back is limited to 16 MiB a file).
MAX_FILE = 15 << 20
files = []
for name, t in tensors:
    data = t.detach().float().cpu().contiguous().numpy()
    if not files or files[-1][1] + data.nbytes > MAX_FILE:
        files.append((open(os.path.join(args.out, f'weights.{len(files)}.bin'), 'wb'), 0))
    f, offset = files[-1]
    f.write(data.tobytes())
    manifest['tensors'].append({'name': name, 'shape': list(reversed(data.shape)), 'file': f'weights.{len(files) - 1}.bin', 'offset': offset})
    files[-1] = (f, offset + data.nbytes)
for f, _ in files:
    f.close()
json.dump(manifest, open(os.path.join(args.out, 'weights.json'), 'w'), indent=1)


def q8_0_round_trip(w):
    """What a Q8_0 tensor holds (ggml's rule, as src/quant/legacy.ts writes it): blocks of 32 along
    a row, d = max|x| / 127, q = round-half-away(x / d) with 1/d in f32, d stored as f16."""
    blocks = w.detach().float().reshape(-1, 32)
    d = blocks.abs().amax(dim=1, keepdim=True) / 127
    inv = torch.where(d > 0, 1.0 / d, torch.zeros_like(d))
    scaled = (blocks * inv).double()  # f32 product, then exact rounding in f64
    q = torch.sign(scaled) * torch.floor(scaled.abs() + 0.5)
    return (q.float() * d.half().float()).reshape(w.shape)


# The reference: the same model with what the shipped file holds, evaluated in f32.
reference_model = Model().to(device)
reference_model.load_state_dict(model.state_dict())
with torch.no_grad():
    for param in reference_model.parameters():
        if param.dim() == 2:
            param.copy_(q8_0_round_trip(param))
reference_model.eval()
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


@torch.no_grad()
def reference_logits(ids):
    return reference_model(torch.tensor([ids], device=device))[0].float()


prompts = json.load(open(os.path.join(args.data, 'prompts.json')))
greedy = list(prompts[0]['ids'])
for _ in range(120):
    next_id = int(reference_logits(greedy)[-1].argmax())
    if next_id == EOS:
        break
    greedy.append(next_id)
# The greedy story is also recorded teacher-forced, so its every step is checked on its own.
sequences = prompts + [{'text': f"{prompts[0]['text']} (greedy, teacher-forced)", 'ids': greedy}]
TOP = 32
reference = {'top': TOP, 'prompts': [], 'greedy': {'prompt_ids': prompts[0]['ids'], 'ids': greedy[len(prompts[0]['ids']):]}}
for sequence in sequences:
    values, ids = reference_logits(sequence['ids']).topk(TOP, dim=-1)
    reference['prompts'].append({'text': sequence['text'], 'ids': sequence['ids'],
                                 'top_ids': ids.tolist(), 'top_logits': [[round(x, 5) for x in row] for row in values.tolist()]})
json.dump(reference, open(os.path.join(args.out, 'reference.json'), 'w'))


def decode(ids):
    return ''.join(vocab['tokens'][i] for i in ids if i > 258).replace('\u2581', ' ').strip()


with open(os.path.join(args.out, 'samples.txt'), 'w') as f:
    f.write(f'greedy: {decode(greedy)}\n\n')
    g = torch.Generator(device=device).manual_seed(7)
    for _ in range(4):
        ids = list(prompts[0]['ids'])
        with torch.no_grad():
            while len(ids) < args.ctx:
                probs = torch.softmax(model(torch.tensor([ids], device=device))[0, -1].float() / 0.8, dim=-1)
                next_id = int(torch.multinomial(probs, 1, generator=g))
                if next_id == EOS:
                    break
                ids.append(next_id)
        f.write(decode(ids) + '\n\n')
print(open(os.path.join(args.out, 'samples.txt')).read(), flush=True)

try:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = [line.split(',') for line in open(os.path.join(args.out, 'loss.csv')).read().split('\n')[1:] if line]
    steps = [int(r[0]) for r in rows]
    plt.figure(figsize=(6, 3.5))
    plt.plot([s for s, r in zip(steps, rows) if r[2]], [float(r[2]) for r in rows if r[2]], label='train (smoothed)')
    plt.plot(steps, [float(r[3]) for r in rows], label='held-out')
    plt.xlabel('step'); plt.ylabel('cross-entropy (nats/token)'); plt.yscale('log'); plt.legend(); plt.grid(alpha=0.3)
    plt.title(f'demo model: {n_params / 1e6:.1f}M parameters')
    plt.tight_layout(); plt.savefig(os.path.join(args.out, 'loss.png'), dpi=100)
except Exception as error:  # the plot is a nicety; the CSV is the record
    print(f'no plot: {error}')
