"""hggt's Prefect flows, one per stage of the paper's pipeline (see build_dataset.py)."""

from flows._allocator import tune_allocator as _tune_allocator
from flows._heartbeats import install as _install_prompt_heartbeats

_tune_allocator()
_install_prompt_heartbeats()
