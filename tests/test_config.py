from pathlib import Path

import pytest

from assistant.config import load_settings
from assistant.errors import ConfigError


def test_defaults():
    s = load_settings(env={})
    assert s.index_dir == Path("index")
    assert s.embedding == "local"
    assert not s.uses_server


def test_precedence_file_env_override(tmp_path):
    cfg = tmp_path / "a.toml"
    cfg.write_text('[assistant]\nsearch_k = 7\nchunk_target_tokens = 150\nindex_dir = "from-file"\n')
    env = {"ASSISTANT_SEARCH_K": "9", "ASSISTANT_INDEX": "from-env"}
    s = load_settings(env=env, config_file=cfg)
    assert s.chunk_target_tokens == 150  # file beats default
    assert s.search_k == 9  # env beats file
    assert s.index_dir == Path("from-env")
    s = load_settings(env=env, config_file=cfg, index_dir=tmp_path / "flag", search_k=None)
    assert s.index_dir == tmp_path / "flag"  # flag beats env; None means "not given"
    assert s.search_k == 9


def test_openai_standard_variables_and_secret():
    s = load_settings(env={"OPENAI_API_KEY": "sk-secret", "OPENAI_BASE_URL": "http://127.0.0.1:1/v1"})
    assert s.openai_base_url == "http://127.0.0.1:1/v1"
    assert "sk-secret" not in repr(s)
    assert (
        s.fingerprint()
        == load_settings(
            env={"OPENAI_API_KEY": "other", "OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}
        ).fingerprint()
    )


def test_fingerprint_changes_with_results_affecting_settings():
    assert load_settings(env={}).fingerprint() != load_settings(env={"ASSISTANT_RRF_K": "10"}).fingerprint()


@pytest.mark.parametrize(
    "env, message",
    [
        ({"ASSISTANT_SEARCH_K": "lots"}, "search_k"),
        ({"ASSISTANT_EMBEDDING": "magic"}, "embedding"),
        ({"ASSISTANT_CHUNK_TARGET_TOKENS": "500"}, "chunk_max_tokens"),
        ({"ASSISTANT_CONFIG": "/nonexistent/x.toml"}, "does not exist"),
    ],
)
def test_bad_values_are_one_clear_error(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env=env)


def test_bad_file(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("search_k = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(env={}, config_file=cfg)
    cfg.write_text("serch_k = 3\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(env={}, config_file=cfg)


def test_public_api_names_resolve():
    import assistant

    for name in assistant.__all__:
        assert getattr(assistant, name) is not None, name
    with pytest.raises(AttributeError):
        assistant.not_a_thing  # noqa: B018
