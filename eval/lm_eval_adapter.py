"""lm-evaluation-harness model type `headcode`: a Hugging Face causal LM with heads replaced.

Importing this module registers the model type (it needs `pip install 'headcode[lm-eval]'`).
lm_eval has no plugin mechanism for models, so its command line is run through this module:

    python -m headcode.eval.lm_eval_adapter --model headcode \\
        --model_args pretrained=DIR,programs=heads.hc,replace=0.25,order=iou \\
        --tasks my_task --include_path tasks/

    import headcode.eval.lm_eval_adapter  # registers `headcode`
    lm_eval.simple_evaluate(model="headcode", model_args="pretrained=DIR,programs=heads.hc", ...)

model_args: `pretrained` (directory, .gguf file or hub id), `tokenizer`, `device` (default
auto), `dtype` (default float32), `programs` (a program file; without it the model runs unchanged),
`replace` (fraction of all heads, default 0.25), `order` (iou or file), `control` (uniform,
mean or random), `seed`, and for `control=mean` a `reference` corpus (`reference_sequences`
paragraphs of a text or .jsonl file). The rest goes to lm_eval's HFLM (`batch_size`, ...).

The model is loaded with headcode's attention, and every forward pass goes through a
`Substitution`. lm_eval right-pads loglikelihood batches with id 0 and passes no attention mask,
so each padded row is given to the substitution whole: the padding comes after every scored
position, and both the model and every source are causal, so scored positions are unaffected.
Generation (left-padded) is refused while heads are replaced.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import torch

from ..dsl.errors import ProgramError, ProgramErrors
from ..errors import HeadcodeError
from ..models.errors import ModelError

try:
    from lm_eval.api.registry import register_model
    from lm_eval.models.huggingface import HFLM
except ImportError as e:  # pragma: no cover - exercised by a test that hides lm_eval
    raise HeadcodeError(
        f"the lm-evaluation-harness adapter needs lm_eval ({e}): "
        "pip install 'headcode[lm-eval]'"
    ) from None

from ..dsl.tokens import tokens_from_ids
from ..models import programs as plan
from ..models.loading import load_model
from ..models.substitute import Head, Substitution
from ..models.tokenizer import load_tokenizer


def program_sources(
    model,
    path: str | Path,
    *,
    replace: float = 0.25,
    order: str = "iou",
    control: str | None = None,
    seed: int = 0,
    reference: list | None = None,
) -> tuple[dict[Head, object], list[Head]]:
    """{head: source} for the first round(replace x all heads) heads of a program file in
    `order` (or a control on them), and those heads in order."""
    from ..dsl.program import error_lines, load_file

    try:
        loaded = load_file(Path(path))
    except (ProgramError, ProgramErrors) as e:
        raise ModelError("; ".join(error_lines(e, str(path)))) from None
    items = plan.head_assignments(loaded, order)
    sources, chosen, _ = plan.substitution_plan(model, loaded, items, float(replace), control,
                                                reference=reference or [], seed=seed)
    return sources, chosen


def _device(device: str | None) -> str:
    """`device`, or auto for none and for CUDA on a machine without it (lm_eval's CLI default
    is cuda:0; its own `hf` model falls back the same way)."""
    if device is None or (str(device).startswith("cuda") and not torch.cuda.is_available()):
        if device is not None:
            logging.getLogger(__name__).warning("%s is not available: using auto", device)
        return "auto"
    return str(device)


@register_model("headcode")
class HeadcodeLM(HFLM):
    """HFLM whose forward passes run through a `Substitution` of program heads."""

    def __init__(
        self,
        pretrained: str,
        programs: str | None = None,
        replace: float = 0.25,
        order: str = "iou",
        control: str | None = None,
        seed: int = 0,
        reference: str | None = None,
        reference_sequences: int = 100,
        tokenizer: str | None = None,
        device: str | None = "auto",
        dtype: str = "float32",
        batch_size: int | str = 1,
        **kwargs,
    ) -> None:
        if not isinstance(pretrained, str):
            raise ModelError("the headcode model type takes pretrained=DIRECTORY, a .gguf "
                             "file or a hub id")
        if programs is None and (control is not None or reference is not None):
            raise ModelError("control and reference need programs=FILE")
        model = load_model(pretrained, dtype=dtype, device=_device(device))
        tok = load_tokenizer(str(tokenizer or pretrained))
        super().__init__(pretrained=model, tokenizer=tok, batch_size=batch_size, **kwargs)
        self.replace: dict[Head, object] = {}
        self.replaced: list[Head] = []
        if programs is not None:
            rows = self._reference(reference, int(reference_sequences)) if control == "mean" else []
            self.replace, self.replaced = program_sources(
                model, programs, replace=replace, order=order, control=control,
                seed=int(seed), reference=rows,
            )
        self.substitution = Substitution(model, self.replace)

    def _reference(self, reference: str | None, n: int) -> list:
        from ..models.corpus import load_corpus
        from ..models.loading import position_limit
        from .perplexity import sequences

        if reference is None:
            raise ModelError("control=mean needs reference=FILE (a text or .jsonl corpus)")
        texts = load_corpus(str(reference), n=n)
        return sequences(self.tokenizer, texts, limit=position_limit(self.model))

    def _model_call(self, inps: torch.Tensor, attn_mask=None, labels=None) -> torch.Tensor:
        """Logits of right-padded rows (lm_eval's loglikelihood batches), heads replaced."""
        if attn_mask is not None or labels is not None:
            raise ModelError("the headcode model type supports causal LMs only")
        rows = [tokens_from_ids(self.tokenizer, row) for row in inps.tolist()]
        return self.substitution.logits(rows)

    def _model_generate(self, context, max_length, stop, **generation_kwargs):
        if self.replace:
            raise ModelError(
                "generation tasks (generate_until) are not supported with replaced heads: "
                "use loglikelihood or multiple_choice tasks"
            )
        return super()._model_generate(context, max_length, stop, **generation_kwargs)


def main() -> None:
    """lm_eval's command line with the `headcode` model type registered."""
    from lm_eval.__main__ import cli_evaluate

    try:
        cli_evaluate()
    except HeadcodeError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
