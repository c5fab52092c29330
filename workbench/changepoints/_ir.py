"""Hand-written LLVM IR linked into numba code: the one step both IR kernels (``_lanes``, ``_order``) share.

The IR text stays in the module that uses it (numba's on-disk cache only notices edits to the file of the
function it compiled); this only turns a text into a library that numba links into the caller.
"""

from __future__ import annotations

from llvmlite import binding as _llb


def ir_library(context, name: str, text: str):
    """A numba code library holding the LLVM IR ``text`` (for ``add_linking_library`` in an intrinsic)."""
    codegen = context.codegen()
    lib = codegen.create_library(name)
    mod = _llb.parse_assembly(text)
    mod.triple = _llb.get_process_triple()
    mod.data_layout = str(codegen.target_data)
    lib.add_llvm_module(mod)
    return lib
