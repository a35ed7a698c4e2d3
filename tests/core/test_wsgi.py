"""The web process (config/wsgi.py)."""

import gc
import importlib


def test_the_web_process_freezes_what_it_loaded_before_its_first_request():
    import config.wsgi

    gc.unfreeze()
    importlib.reload(config.wsgi)
    try:
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
