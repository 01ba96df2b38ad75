"""Models: load causal LMs and tokenizers, read corpora, dump attention, substitute heads.

- `loading`: `load_model(name, dtype, device)`, `model_shape(model)` (layers, heads, kv groups).
- `tokenizer`: `load_tokenizer(name)` (a local directory, a `.gguf` file or a hub id).
- `heads`: the `all` / `L.H,L.H` syntax of --heads (`parse_heads`, `read_heads`).
- `corpus`: `load_corpus(source, n, shuffle, seed, text_field)` (text, JSONL or HF dataset).
- `dump`: the attention dump format (docs/formats.md): `write_dump`, `DumpWriter`, `open_dump`.
- `extract`: `extract(model, tokenizer, texts, out, ...)` writes a dump.
- `attention`: headcode's registered attention implementation (eager, with substitution hooks),
  and what a head can be replaced by (`Source`).
- `substitute`: `Substitution(model, {(layer, head): source})` and the control sources.
- `errors`: `ModelError`.
- `tiny`: tiny random models of each supported family, for tests and benchmarks.
- `gguf`: `.gguf` model files (loaded by `load_model` and `load_tokenizer`), and `convert` to a
  Hugging Face directory.

Submodules are imported explicitly (`from headcode.models.dump import open_dump`): reading a
dump needs only NumPy.
"""
