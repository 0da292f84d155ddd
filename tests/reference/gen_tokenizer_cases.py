#!/usr/bin/python3
"""gen_tokenizer_cases.py — writes tests/fixtures/tokenizer/cases.json: tricky strings with the ids,
pieces and decoded text that sentencepiece (Debian python3-sentencepiece 0.1.97, the same library as
spm_encode) gives for T5's spiece.model, LLaMA-2's tokenizer.model and stories260K's tok512.model.
Texts are stored as hex because some are invalid UTF-8, which JSON strings cannot hold.
Also writes T5 sentinel cases following HF's slow T5Tokenizer (legacy=True): split at <extra_id_N>,
strip whitespace around each sentinel, encode each non-empty segment on its own.

usage: /usr/bin/python3 tests/reference/gen_tokenizer_cases.py [shared dir]   (run from the repo root)
"""
import json
import os
import re
import sys

import sentencepiece as spm

shared = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SAPT_SHARED", "../shared")
models = {
    "t5": "tokenizers/t5/spiece.model",
    "llama2": "tokenizers/llama2/tokenizer.model",
    "tok512": "models/stories260K/tok512.model",
}

texts = [
    # whitespace: empty, leading / trailing / repeated spaces, tabs, newlines, CR
    b"", b" ", b"   ", b"hello", b" hello", b"hello ", b"  hello   world  ", b"a  b   c",
    b"a\tb", b"\t", b" \t \n ", b"line1\nline2", b"\n", b"\n\n", b"a\r\nb", b"\r", b"trailing cr\r",
    # public golden vectors
    b"I believe the meaning of life is", b"Hello world, this is a test.", b"Once upon a time",
    # full-width and compatibility characters (NFKC territory), U+3000 ideographic space
    "ＨＥＬＬＯ　ｗｏｒｌｄ！".encode(), "　leading ideographic space".encode(), "①②③ ⅷ".encode(),
    "ﬁnal ﬂow".encode(), "㍿ ㌔ ㎏".encode(), "a︰b".encode(), "Å Å".encode(), "x²+y³".encode(),
    "ｶﾀｶﾅ".encode(),
    # combining marks: decomposed vs composed
    "e\u0301cole école".encode(), "n\u0303 ñ".encode(), "a\u0308\u0301".encode(), "\u0301start".encode(),
    # emoji, ZWJ sequences, skin tones; CJK and other scripts
    "😀".encode(), "I ❤️ 🍕 👍🏽".encode(), "👨‍👩‍👧".encode(), "你好，世界".encode(), "こんにちは 世界".encode(),
    "안녕하세요".encode(), "مرحبا بالعالم".encode(), "नमस्ते".encode(), "สวัสดี".encode(), "Привет, мир!".encode(),
    "Ελληνικά".encode(), "𠜎𠜱".encode(),
    # a literal ▁ (U+2581), which is also what spaces become
    "▁".encode(), "a▁b".encode(), "▁▁x ▁".encode(),
    # digits and numbers
    b"1234567890123456789012345678901234567890", b"3.14159 2,000,000 1e-9", b"2024-01-01T12:00:00Z",
    # invalid UTF-8: stray bytes, truncated sequences, surrogates, overlong, above U+10FFFF
    b"\xff", b"a\xffb", b"\xc3", b"\xc3(", b"\xe2\x82", b"x\xe2\x82y", b"\xed\xa0\x80", b"\xc0\xaf",
    b"\xf4\x90\x80\x80", b"\xf0\x9f\x98", b"\x80\x80abc", "\ufffd literal replacement".encode(),
    # invisible and control characters
    b"\x01\x02\x7f", "a\u200bb".encode(), "\ufeffbom".encode(), "a\u00a0b".encode(), "soft\u00adhyphen".encode(),
    "\u2028\u2029".encode(), b"\x0b\x0c",
    # long words and repetition
    b"supercalifragilisticexpialidocious" * 3, b"a" * 300, b"ab" * 100, b"!!!???...", b"----------",
    # strings that look like special pieces (they are plain text for spm)
    b"<s>", b"</s>", b"<unk>", b"<pad>", b"<0x41>", b"<extra_id_0>",
    # text like the benchmark's
    "Définition: Given a sentence, output «yes» or “no” — done… (see §3.2)".encode(),
    b"Question: What is 2+2?\nAnswer:", b"https://example.com/a_b?c=d&e=f#g", b"C++ std::vector<int> v{1, 2};",
]

sentinel_texts = [
    "<extra_id_0>. Hello", "The <extra_id_0> walks in <extra_id_1> park", "<extra_id_0><extra_id_1>",
    "  <extra_id_99>  x ", "a<extra_id_0>b", "<extra_id_100>", "<extra_id_05>", "no sentinel here",
    "x <extra_id_7>\t\n", "<extra_id_3>　wide space",
]

processors = {name: spm.SentencePieceProcessor(model_file=os.path.join(shared, path)) for name, path in models.items()}

cases = []
for text in texts:
    expected = {}
    for name, sp in processors.items():
        ids = sp.encode(text)
        pieces = [p.decode("utf-8") if isinstance(p, bytes) else p for p in sp.encode(text, out_type=str)]
        expected[name] = {"ids": ids, "pieces": pieces, "decoded_hex": sp.decode(ids).encode("utf-8").hex()}
    cases.append({"note": ascii(text)[2:-1][:60], "text_hex": text.hex(), "expected": expected})

t5 = processors["t5"]
n_pieces, n_extra = t5.get_piece_size(), 100
sentinel = re.compile(r"<extra_id_(0|[1-9][0-9]?)>")
sentinel_cases = []
for text in sentinel_texts:
    parts = sentinel.split(text)  # text, number, text, number, ..., text
    ids, decoded_segments = [], []
    for k, part in enumerate(parts):
        if k % 2 == 1:
            ids.append(n_pieces + n_extra - 1 - int(part))
            continue
        segment = part
        if k > 0:
            segment = segment.lstrip()
        if k < len(parts) - 1:
            segment = segment.rstrip()
        if segment:
            ids.extend(t5.encode(segment))
    # decode: each run of ordinary ids through spm, sentinels as their text, nothing in between
    run, decoded = [], ""
    for i in ids + [None]:
        if i is None or i >= n_pieces:
            decoded += t5.decode(run)
            run = []
            if i is not None:
                decoded += "<extra_id_%d>" % (n_pieces + n_extra - 1 - i)
        else:
            run.append(i)
    sentinel_cases.append({"text": text, "ids": ids, "decoded": decoded})

out_path = "tests/fixtures/tokenizer/cases.json"
with open(out_path, "w", encoding="utf-8") as f:
    json.dump({"generator": "tests/reference/gen_tokenizer_cases.py", "sentencepiece": spm.__version__,
               "models": models, "cases": cases, "t5_sentinel_cases": sentinel_cases}, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(f"wrote {out_path}: {len(cases)} cases x {len(models)} models, {len(sentinel_cases)} sentinel cases")
