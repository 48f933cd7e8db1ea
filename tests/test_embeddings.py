import numpy as np
import pytest

from assistant import embeddings as emb
from assistant.config import load_settings
from assistant.errors import ConfigError, ResourceError


def test_paraphrases_closer_than_unrelated(embeddings):
    v = embeddings.embed_array(
        [
            "Alibaba denied the allegations",
            "Alibaba rejected the claims",
            "The weather is sunny today",
            "Lawmakers want Chinese firms delisted from US exchanges",
            "Congress members urged the SEC to remove Chinese companies from stock markets",
        ]
    )
    assert v.shape == (5, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sim = v @ v.T
    assert sim[0, 1] > 0.7 and sim[0, 2] < 0.2
    assert sim[3, 4] > sim[3, 0] + 0.2 and sim[3, 4] > sim[3, 2] + 0.2


def test_batching_and_padding_do_not_change_vectors(embeddings):
    texts = ["short", "a much longer sentence " * 20, "medium length text about tariffs"]
    together = embeddings.embed_array(texts)
    alone = np.stack([embeddings.embed_array([t])[0] for t in texts])
    assert np.allclose(together, alone, atol=1e-4)
    small_batches = emb.MiniLMEmbeddings(batch_size=1).embed_array(texts)
    assert np.allclose(together, small_batches, atol=1e-4)
    assert embeddings.embed_query(texts[2]) == pytest.approx(together[2].tolist(), abs=1e-4)


def test_checksum_mismatch_is_reported(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"garbage")
    with pytest.raises(ResourceError, match="sha256"):
        emb._checked(bad, emb._MODEL_SHA256)


def test_openai_backend_needs_a_key_or_server():
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        emb.make_embeddings(load_settings(env={"ASSISTANT_EMBEDDING": "openai"}))
    remote = emb.make_embeddings(
        load_settings(env={"ASSISTANT_EMBEDDING": "openai", "OPENAI_API_KEY": "sk-x"})
    )
    assert remote.model_id == "openai:text-embedding-3-small"
