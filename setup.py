"""The one compiled part of snnjax: the native CPU kernels (snnjax/kernels/csrc/neurons.cc), an
optional extension. Everything else is in pyproject.toml.

The XLA FFI headers come from jaxlib (a build requirement in pyproject.toml). Where there is no
C++17 compiler, or the headers are missing, the build prints why and installs snnjax without
the extension: snnjax.kernels.native.available() is then False and backend="auto" keeps the
pure-JAX backends.
"""

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _ffi_include() -> str | None:
    try:
        import jax.ffi

        return jax.ffi.include_dir()
    except Exception:  # no jax in the build environment: jaxlib alone has the headers too
        pass
    try:
        import os

        import jaxlib

        path = os.path.join(os.path.dirname(jaxlib.__file__), "include")
        return path if os.path.isdir(os.path.join(path, "xla", "ffi", "api")) else None
    except Exception:
        return None


def _report(e: Exception) -> None:
    print(f"snnjax: native CPU kernels not built ({type(e).__name__}: {e}); pure-JAX backends only", file=sys.stderr)


class OptionalBuildExt(build_ext):
    """build_ext that reports a failed compile and goes on (the extension is optional)."""

    def run(self):
        try:
            super().run()
        except Exception as e:  # no compiler at all
            _report(e)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as e:
            _report(e)


include = _ffi_include()
if include is None:
    print("snnjax: no XLA FFI headers (jaxlib) at build time; native CPU kernels not built", file=sys.stderr)
    ext_modules = []
else:
    ext_modules = [
        Extension(
            "snnjax.kernels._native",
            sources=["snnjax/kernels/csrc/neurons.cc"],
            depends=["snnjax/kernels/csrc/kernels.h"],
            include_dirs=[include],
            language="c++",
            # no contraction into FMAs (the kernels round as XLA's CPU code does); no trapping math, so
            # that the selects of the element loops are if-converted and the loops vectorise
            extra_compile_args=["-std=c++17", "-O3", "-ffp-contract=off", "-fno-trapping-math", "-g0"],
            optional=True,
        )
    ]

setup(ext_modules=ext_modules, cmdclass={"build_ext": OptionalBuildExt})
