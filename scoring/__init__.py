"""The compiled scoring engine: soft IoU of many programs against many heads, in one pass.

Programs compile to a small instruction set (`opcodes`) run by one cached Numba kernel
(`kernel`), so new candidates cost no JIT. Encode a corpus once (`encode_corpus`) and score
many program sets against it (`score_corpus`, `sequence_ious`), or stream a dump (`score`).
`iou` holds the reference definition of soft IoU that the engine is tested against.
"""

from .columns import Interner
from .compiler import CompiledPrograms, compile_programs
from .corpus import ScoringCorpus, encode_corpus, iter_dump_corpora
from .score import block_ious, score, score_corpus, sequence_ious

__all__ = [
    "CompiledPrograms",
    "Interner",
    "ScoringCorpus",
    "block_ious",
    "compile_programs",
    "encode_corpus",
    "iter_dump_corpora",
    "score",
    "score_corpus",
    "sequence_ious",
]
