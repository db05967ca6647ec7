"""Importing this registers hggt's pixel-shuffle RRDB with Spandrel (chaiNNer's and ComfyUI's model
loader), ahead of its ESRGAN, which would otherwise read such a file as a 1x model with wrong output:

    import hggt.spandrel
    from spandrel import ModelLoader
    model = ModelLoader().load_from_file("model.safetensors")
"""

from __future__ import annotations

from hggt.core.spandrel_rrdb import register

register()

__all__ = ["register"]
