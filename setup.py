"""Builds the engine's compiled kernels (``exoderm.skinlab._kernels``); the rest of the
package metadata is in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

kernels = Extension(
    "exoderm.skinlab._kernels",
    ["src/exoderm/skinlab/_kernels.pyx"],
    # no errno and no floating-point traps: lets the compiler vectorise sqrt and selects
    extra_compile_args=["-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off"],
)

setup(ext_modules=cythonize([kernels], compiler_directives={"language_level": 3}))
