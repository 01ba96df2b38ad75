"""Train the bundled demo model: a small GPT-2 with its own byte-level BPE tokenizer.

    python -m headcode.models.train_demo --shared ../shared --out models/demo_model

Data: TinyStories text from `SHARED/data/tinystories` (train-sample.txt and valid-a.txt minus its
last `--held-out` paragraphs, which are kept for the held-out perplexity) plus `--sampled` stories
sampled from stories260K. The text is read at training time and never written out: the output
directory holds only the tokenizer, fp16 safetensors weights and `training.json` (the command,
data sizes, loss curve and held-out perplexity).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import torch

SPECIAL = "<|endoftext|>"


def train_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE tokenizer (special token id 0, added before every text as BOS)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[SPECIAL],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    core.post_processor = processors.TemplateProcessing(
        single=f"{SPECIAL} $A", pair=f"{SPECIAL} $A {SPECIAL} $B", special_tokens=[(SPECIAL, 0)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=SPECIAL, eos_token=SPECIAL, pad_token=SPECIAL
    )


def model_config(vocab_size: int, args):
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=vocab_size,
        n_positions=args.context,
        n_embd=args.width,
        n_layer=args.layers,
        n_head=args.heads,
        resid_pdrop=args.dropout,
        embd_pdrop=args.dropout,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
        tie_word_embeddings=True,
    )


def blocks(stream: list[int], length: int) -> torch.Tensor:
    """The token stream cut into rows of `length` (the ragged tail dropped)."""
    rows = len(stream) // length
    return torch.tensor(stream[: rows * length], dtype=torch.long).view(rows, length)


def learning_rate(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def block_loss(model, data: torch.Tensor, batch: int) -> float:
    model.eval()
    total = 0.0
    for start in range(0, len(data), batch):
        chunk = data[start : start + batch]
        total += float(model(input_ids=chunk, labels=chunk).loss) * len(chunk)
    model.train()
    return total / len(data)


def read_texts(shared: Path, held_out: int) -> tuple[list[str], list[str]]:
    from .corpus import read_text

    folder = shared / "data" / "tinystories"
    valid = read_text(folder / "valid-a.txt")
    return read_text(folder / "train-sample.txt") + valid[:-held_out], valid[-held_out:]


def sampled_stories(shared: Path, n: int, seed: int) -> list[str]:
    from .loading import load_model
    from .sample import sample_texts
    from .tokenizer import load_tokenizer

    if n == 0:
        return []
    folder = shared / "models" / "stories260K"
    model = load_model(folder, device="cpu")
    tokenizer = load_tokenizer(str(folder))
    return sample_texts(model, tokenizer, n, max_new_tokens=256, temperature=0.8, seed=seed,
                        batch_size=64)


def plot_curve(record: dict, path: Path) -> Path:
    """The training and held-out loss against the step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    curve = record["curve"]
    held = [p for p in curve if "held_out_loss" in p]
    figure, axes = plt.subplots(figsize=(5, 3), dpi=100)
    axes.plot([p["step"] for p in curve], [p["train_loss"] for p in curve], label="training batch")
    axes.plot([p["step"] for p in held], [p["held_out_loss"] for p in held], "o-",
              label="held-out blocks")
    axes.set_xlabel("step")
    axes.set_ylabel("loss (nats per token)")
    axes.set_title(f"demo model: held-out perplexity {record['held_out_perplexity']:.2f}")
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "demo_model")
    parser.add_argument("--vocab", type=int, default=2048)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--context", type=int, default=512)
    parser.add_argument("--block", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--held-out", type=int, default=300)
    parser.add_argument("--sampled", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", type=Path, default=None,
                        help="also plot the loss curve to this PNG")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    began = time.time()

    real, held_out = read_texts(args.shared, args.held_out)
    sampled = sampled_stories(args.shared, args.sampled, args.seed)
    print(f"{len(real)} TinyStories paragraphs, {len(sampled)} sampled stories", flush=True)
    texts = real + sampled
    tokenizer = train_tokenizer(texts, args.vocab)

    stream: list[int] = []
    order = list(range(len(texts)))
    random.Random(args.seed).shuffle(order)
    for index in order:
        stream.extend(tokenizer(texts[index])["input_ids"])
    train = blocks(stream, args.block)
    held_stream = [i for text in held_out for i in tokenizer(text)["input_ids"]]
    held = blocks(held_stream, args.block)
    print(f"{len(stream)} training tokens in {len(train)} blocks", flush=True)
    prepared = time.time() - began

    from transformers import GPT2LMHeadModel

    model = GPT2LMHeadModel(model_config(len(tokenizer), args))
    model.config._attn_implementation = "sdpa"
    params = sum(p.numel() for p in model.parameters())
    print(f"{params} parameters", flush=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1,
                                  betas=(0.9, 0.95))
    generator = torch.Generator().manual_seed(args.seed)
    curve = []
    model.train()
    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr, warmup=100)
        rows = train[torch.randint(len(train), (args.batch,), generator=generator)]
        loss = model(input_ids=rows, labels=rows).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % 100 == 0 or step == args.steps - 1:
            point = {"step": step, "train_loss": loss.item(), "seconds": time.time() - began}
            if step % 500 == 0 or step == args.steps - 1:
                point["held_out_loss"] = block_loss(model, held, args.batch)
            curve.append(point)
            print(json.dumps(point), flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    model.config._attn_implementation = None
    model.half().save_pretrained(args.out, safe_serialization=True)
    tokenizer.save_pretrained(args.out)
    trained_seconds = time.time() - began

    from ..eval.perplexity import perplexity, sequences
    from .loading import load_model
    from .tokenizer import load_tokenizer

    reloaded = load_model(args.out, device="cpu")
    rows = sequences(load_tokenizer(str(args.out)), held_out, limit=args.context)
    held_ppl = perplexity(reloaded, rows)
    record = {
        "command": "python -m headcode.models.train_demo " + " ".join(argv or sys.argv[1:]),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "data": {
            "tinystories_paragraphs": len(real),
            "sampled_stories": len(sampled),
            "training_tokens": len(stream),
            "held_out_paragraphs": len(held_out),
        },
        "parameters": params,
        "data_seconds": round(prepared, 1),
        "training_seconds": round(trained_seconds - prepared, 1),
        "held_out_perplexity": round(held_ppl.ppl, 3),
        "held_out_tokens": held_ppl.tokens,
        "curve": curve,
    }
    (args.out / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    if args.figure:
        plot_curve(record, args.figure)
    print(f"held-out perplexity {held_ppl.ppl:.3f} on {held_ppl.tokens} tokens; data "
          f"{prepared:.0f} s, training {trained_seconds - prepared:.0f} s", flush=True)


if __name__ == "__main__":
    main()
