"""A tqdm bar a library opens during a run stays off the console, even when tqdm was imported before
the run started (TQDM_DISABLE is read only at tqdm's first import)."""

import tqdm
from tqdm.auto import tqdm as auto_tqdm

from custom_llm.third_party_output import to_run_log


def test_a_bar_from_an_already_imported_tqdm_is_off_within_a_run(tmp_path, capsys):
    assert tqdm is not None  # imported before the block, as the retrieval library does with core
    with to_run_log(tmp_path):
        for _ in auto_tqdm(range(50), desc="Converting and de-quantizing GGUF tensors...", disable=False):
            pass
    assert "Converting" not in capsys.readouterr().err
    for _ in auto_tqdm(range(3), desc="after the run", mininterval=0):  # restored afterwards
        pass
    assert "after the run" in capsys.readouterr().err
