"""Models: load causal LMs, read corpora, dump attention, substitute heads, measure perplexity.

- `loading`: `load_model(name, dtype, device)`, `model_shape(model)` (layers, heads, kv groups).
- `corpus`: `load_corpus(source, n, shuffle, seed, text_field)` (text, JSONL or HF dataset).
- `dump`: the attention dump format (docs/formats.md): `write_dump`, `DumpWriter`, `open_dump`.
- `extract`: `extract(model, tokenizer, texts, out, ...)` writes a dump.
- `attention`: headcode's registered attention implementation (eager, with substitution hooks).
- `substitute`: `Substitution(model, {(layer, head): source})` and the control sources.
- `perplexity`: the protocol's perplexity, baseline vs substituted (`compare`).
- `tiny`: tiny random models of each supported family, for tests and benchmarks.
- `gguf`: `.gguf` model files (loaded by `load_model`), and `convert` to a Hugging Face directory.

Submodules are imported explicitly (`from headcode.models.dump import open_dump`): reading a
dump needs only NumPy. Only `gguf` (light) is imported here: it lets `dsl.tokens.load_tokenizer`
read the tokenizer of a `.gguf` file wherever headcode's models are in use.
"""

from . import gguf as gguf
